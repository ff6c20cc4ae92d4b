"""Named recipes: the product's default and the seeds' published settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from nst_base.errors import NstError
from nst_base.manifest import MANIFEST, model_name
from nst_ort.options.stylize import StylizeOptions
from nst_ort.options.schema import coerce

FIRST_CONVS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# per-layer style weights over FIRST_CONVS; "style" is the TF course's published preset,
# "content" its mirror and "balanced" the even split
SIMILARITY: dict[str, tuple[float, ...]] = {
    "style": (0.4, 0.3, 0.2, 0.08, 0.02),
    "balanced": (0.2, 0.2, 0.2, 0.2, 0.2),
    "content": (0.02, 0.08, 0.2, 0.3, 0.4),
}

RECIPES: dict[str, StylizeOptions] = {
    # Gatys et al.: relu4_2 content, relu1_1..relu5_1 style, L-BFGS from the content, coarse to fine
    "gatys": StylizeOptions(),
    # Chollet, Deep Learning with Python 2nd ed. 12.3: VGG19, 400 px high (533x400 for 4:3),
    # SGD lr 100 (0..255 pixels) decayed x0.96 per 100 steps, 4000 steps
    "keras-book": StylizeOptions(
        net="vgg19", size=533, iterations=4000, content_weight=2.5e-8, style_weight=1e-6, tv_weight=1e-6,
        content_layers=(("relu5_2", 1.0),), style_layers=tuple((name, 1 / 5) for name in FIRST_CONVS),
        convention="keras-book", optimizer="sgd", learning_rate=100 / 255**2, lr_decay=0.96, lr_decay_steps=100,
        scales=1, style_size_exponent=0.0),
    # the TF course (seed 001): VGG19 at 400 px, content block5_conv4, alpha 10 / beta 30,
    # Adam lr 0.01, start from the content plus uniform noise of +-0.25
    "tf-course": StylizeOptions(
        net="vgg19", size=400, iterations=500, content_weight=10.0, style_weight=30.0, tv_weight=0.0,
        content_layers=(("relu5_4", 1.0),), style_layers=tuple(zip(FIRST_CONVS, SIMILARITY["balanced"])),
        convention="tf-course", optimizer="adam", learning_rate=0.01, init_noise=0.25, scales=1,
        style_size_exponent=0.0),
}


def recipe_options(name: str = "gatys", similarity: str | None = None, **overrides) -> StylizeOptions:
    """A recipe's options, with a similarity preset and explicit overrides: option names of the
    schema (None = keep the recipe's; text is parsed as the CLI parses it, e.g. max_memory="2G")."""
    if name not in RECIPES:
        raise NstError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    options = RECIPES[name]
    if similarity is not None:
        if similarity not in SIMILARITY:
            raise NstError(f"--similarity must be one of {', '.join(SIMILARITY)}, not {similarity!r}")
        options = replace(options, style_layers=tuple(zip(FIRST_CONVS, SIMILARITY[similarity])))
    return replace(options, **coerce(StylizeOptions, overrides))


def as_vgg16(options: StylizeOptions) -> StylizeOptions:
    """The same recipe on VGG16 (no conv5_4 there: relu5_4 becomes relu5_3)."""
    def swap(layers):
        return tuple(("relu5_3" if name == "relu5_4" else name, weight) for name, weight in layers)

    return replace(options, net="vgg16", content_layers=swap(options.content_layers),
                   style_layers=swap(options.style_layers))


def choose_net(options: StylizeOptions, models_dir: Path,
               notify: Callable[[str], None] = lambda message: None, vgg16_fallback: bool = False) -> StylizeOptions:
    """The options with the network that will run. With `vgg16_fallback` (a recipe's VGG19, not
    one the user chose) VGG16 stands in when no VGG19 was exported, as in seed 000's runs."""
    if vgg16_fallback and options.net == "vgg19" and not (models_dir / model_name("vgg19", options.pool) / MANIFEST).is_file():
        notify("no exported VGG19 (export one with `nst export --net vgg19 --weights FILE`): using VGG16")
        return as_vgg16(options)
    return options
