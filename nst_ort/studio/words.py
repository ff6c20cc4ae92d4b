"""What the page says, in an artist's words: the Advanced options grouped by what they change,
each group explained, and an estimate as a sentence with its warnings (no flags, no paths)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nst_ort.platform.energy import describe_wh

HOURS = 3600.0  # a run longer than this is worth a warning before Start
MOST_OF_MEMORY = 0.8  # a run planned above this share of the free memory is worth one too


@dataclass(frozen=True)
class Group:
    """Advanced options that change one thing, and what that thing is."""

    title: str
    explains: str
    options: tuple[str, ...]


GROUPS = (
    Group("Photo or painting", "How much of the photo survives, and how smooth the brushwork is.",
          ("content_weight", "style_size_exponent", "tv_weight")),
    Group("The painting's brushwork", "Which details of the painting are copied, and how big its strokes are.",
          ("style_scale", "style_upscale", "style_loss", "style_layers", "content_layers")),
    Group("Where the picture starts", "What the work starts from; the same seed makes the same picture again.",
          ("init", "init_noise", "seed")),
    Group("How the work proceeds", "Rough to fine in levels, and the method that improves the picture step "
                                   "by step.",
          ("scales", "coarse_iterations", "stall", "optimizer", "learning_rate", "lr_decay", "lr_decay_steps")),
    Group("The network", "What sees the picture: VGG16 is quicker, VGG19 is the classic of the papers.",
          ("net", "pool")),
    Group("This computer", "How the run uses the machine: cores, pieces for big pictures, a gentle run that "
                           "leaves the laptop usable, a time to stop.",
          ("threads", "gentle", "until", "tile", "engine", "conv", "provider")),
    Group("The result", "What is written at the end.", ("keep_size",)),
)
EVERYDAY = {  # the everyday options as the page names and explains them (the rest keep the schema's help)
    "size": ("Size", "The picture's long side in pixels: 512 is a good start, a bigger one takes much longer."),
    "iterations": ("Steps", "How long the picture is worked on: more steps, more finished."),
    "style_weight": ("Strength of the painting", "1.5 is balanced, 0.5 keeps more of the photo, 5 more of the "
                                                 "painting. Several, as 1,3, with one picture per painting."),
    "style_blend": ("Mix of the paintings", "With several paintings, how much of each, as 0.7,0.3."),
    "preserve_colors": ("Keep the photo's colours", "The painting's brushwork in the photo's colours."),
    "max_memory": ("Memory", "The most it may use, as 2G or 800M; a run that would need more says so at once."),
    "time_budget": ("Time budget", "Finish within this time, as 20m or 2h: the steps are planned to fit."),
}
RECIPE_WORDS = {  # each recipe (options/recipes.py) as the page explains it
    "gatys": "The classic: the photo's shapes in the painting's brushwork, worked rough to fine. "
             "The quickest way to a good picture.",
    "keras-book": "As in the book Deep Learning with Python: VGG19, 4000 small steps at 533 px. Slow.",
    "tf-course": "As in the TensorFlow course: VGG19 at 400 px from a noisy start, 500 steps.",
}
OTHER = Group("More", "Options of the command line that no group above holds.", ())


def group_of(name: str) -> Group:
    """The group an Advanced option is shown in."""
    return next((group for group in GROUPS if name in group.options), OTHER)


def file_title(file_name: str) -> str:
    """A file's name as a title: "tubingen_old-town.jpg" -> "Tubingen old town" (as the artist
    typed it otherwise: capitals kept)."""
    words = " ".join(Path(file_name).stem.replace("_", " ").replace("-", " ").split())
    return (words[:1].upper() + words[1:]) if words else file_name


FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


def without_flags(text: str) -> str:
    """The command line's words as the page says them: "--style-weight" -> "style weight"."""
    return FLAG.sub(lambda match: match.group(1).replace("-", " "), text)


def duration(seconds: float) -> str:
    """A time as people say it: "40 seconds", "4 minutes", "2 hours 10 minutes"."""
    if seconds < 90:
        return f"{max(1, round(seconds))} seconds"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    hours, rest = divmod(minutes, 60)
    return f"{hours} hours" + (f" {rest} minutes" if rest else "")


def in_words(estimate: dict[str, Any], free_bytes: int | None, runs: int = 1) -> dict[str, Any]:
    """An estimate (core.estimate's as_dict) with `words`, one sentence for the page, and
    `warnings`, what the artist should know before Start (hours of work, most of the memory);
    `runs` such runs one after another (a sweep) take `runs` times its time and energy."""
    seconds, peak, wh = runs * float(estimate["seconds"]), int(estimate["peak_bytes"]), runs * float(estimate["wh"])
    what = f"{runs} pictures: about {duration(seconds)} in all" if runs > 1 else f"About {duration(seconds)}"
    words = f"{what} on this computer, {describe_wh(wh)}, using up to {peak / 2**30:.1f} GB of memory."
    warnings = []
    if seconds > HOURS:
        warnings.append(f"This takes {duration(seconds)}: a smaller size or fewer iterations is quicker, "
                        f"or give it a time budget.")
    if free_bytes is not None and peak > MOST_OF_MEMORY * free_bytes:
        warnings.append(f"This needs most of the {free_bytes / 2**30:.1f} GB this computer has free: other "
                        f"programs may slow down; a smaller size or a memory limit is safer.")
    return {**estimate, "words": words, "warnings": warnings}
