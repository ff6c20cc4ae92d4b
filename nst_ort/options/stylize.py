"""StylizeOptions: every setting of a stylize run, each declared once (nst_ort/options/schema.py).

The defaults are the product's defaults (recipe "gatys"). Every front end (the CLI's
stylize, video, upscale, sheet and resume, the Python API, the run folder, a result's
settings) takes its options from these declarations; adding an option is one `option(...)`
line here plus its use in the engine or optimiser (docs/development.md shows one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from nst_base.errors import NstError
from nst_graphs.networks import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, NETS, POOLS, relu_names
from nst_ort.options.clock import parse_clock, show_clock
from nst_ort.options.choices import (COLOR_MODES, CONVENTIONS, CONVS, ENGINE_CHOICES, INITS, OPTIMIZERS,
                                     STYLE_LOSSES, check_conv, check_supported)
from nst_ort.options.schedule import Level, auto_levels, scale_schedule, tapered
from nst_ort.options.schema import (RESUME, OptionError, SHEET, STYLIZE, UPSCALE, VIDEO, option, parse_layers, parse_memory,
                                    parse_numbers, parse_seconds, problems, show_layers, show_numbers, show_seconds)
from nst_ort.platform.memory import format_bytes

GATYS_CONTENT_LAYERS = tuple((name, 1.0) for name in DEFAULT_CONTENT_LAYERS)
GATYS_STYLE_LAYERS = tuple((name, 1.0) for name in DEFAULT_STYLE_LAYERS)
REFERENCE_SIDE = 512  # the working size at which --style-weight is the graph's style weight
DEFAULT_ITERATIONS = 100  # per level at REFERENCE_SIDE and above
MAX_WEIGHT = 1e6  # above this a loss term overflows float32 (1e308 gave an infinite loss)
MIN_MEMORY = 64 * 2**20  # the smallest --max-memory: the network's weights alone take about this much
Layers = tuple[tuple[str, float], ...]

EVERYWHERE = (STYLIZE, VIDEO, SHEET)  # what makes a picture
MACHINE = (STYLIZE, VIDEO, UPSCALE, RESUME)  # how a run uses this machine (not the picture)


def _layer_weights(layers: Layers) -> str | None:
    if not all(0 < weight <= MAX_WEIGHT for _, weight in layers):
        return f"layer weights must be > 0 and at most {MAX_WEIGHT:g}"
    return None


def _blend(shares: tuple[float, ...]) -> str | None:
    if not all(0 <= share < math.inf for share in shares):
        return f"--style-blend needs finite numbers >= 0, not {show_numbers(shares)}"
    if max(shares, default=0) > MAX_WEIGHT:  # with masks the shares weigh the regions' losses as they are
        return f"--style-blend shares must be at most {MAX_WEIGHT:g} (only their ratios matter without masks)"
    return None


def _init(value: str) -> str | None:
    if value in INITS or Path(value).is_file():
        return None
    return f"--init must be one of {', '.join(INITS)} or an image file, not {value!r}"


def _tile(value: int | None) -> str | None:
    if value is None or value == 0 or 32 <= value <= 8192:
        return None
    return f"--tile must be 0 (never) or between 32 and 8192 px, not {value}"


def _memory(value: int | None) -> str | None:
    if value is not None and value < MIN_MEMORY:
        return f"--max-memory {format_bytes(value)} is too small: a run needs at least {format_bytes(MIN_MEMORY)}"
    return None


@dataclass(frozen=True)
class StylizeOptions:
    """Every setting of a run; the defaults are the product's defaults (recipe "gatys")."""

    size: int = option(512, help="Long side of the working image in pixels", low=16, high=8192,
                       commands=(STYLIZE, VIDEO), everyday=True)
    iterations: int | None = option(
        None, help="Iterations at the final size and at each coarse level (video: the first frame's)", low=1,
        commands=(*EVERYWHERE, UPSCALE), everyday=True,
        default_text="100 from 512 to 1024 px, up to 200 below, halved per doubling above: 17 at 6000",
        doc="small images are cheap and converge further, so a preview looks like the final; above 1024 px a "
            "print's top levels refine what the levels below built ([Print size](print.md#time-budgets)); an "
            "explicit count is used at every level as given")
    content_weight: float = option(1.0, help="Content weight: more keeps more of the photo", low=0, high=MAX_WEIGHT)
    style_weight: float = option(1.5, help="Style weight at 512 px: 0.5 keeps more photo, 5 more painting",
                                 low=0, above=True, high=MAX_WEIGHT, everyday=True,
        doc="the strength of the painting (pictures in [Quality](quality.md))")
    style_size_exponent: float = option(
        0.5, help="Style weight x (512 / working size) ** this, at each level; 0 = the same weight at every size",
        low=0, high=2)
    tv_weight: float = option(1.0, help="Total-variation (smoothness) weight", low=0, high=MAX_WEIGHT)
    content_layers: Layers = option(GATYS_CONTENT_LAYERS, help="Content layers NAME[:WEIGHT],...",
                                    parse=parse_layers, show=show_layers, check=_layer_weights)
    style_layers: Layers = option(GATYS_STYLE_LAYERS, help="Style layers NAME[:WEIGHT],...",
                                  parse=parse_layers, show=show_layers, check=_layer_weights)
    style_loss: str = option(
        "gram", help="How the painting's style is matched: gram (Gatys) or w2 (means and covariances)",
        choices=STYLE_LOSSES,
        doc="`w2`: the Wasserstein-2 distance between Gaussians fitted to the features: a palette nearer "
            "the painting's, less of its small texture; portable engine only; compared in "
            "[Quality](quality.md#style-losses)")
    convention: str = option("relative", help="What the weights multiply (set by recipes)", choices=CONVENTIONS,
                             commands=())
    style_blend: tuple[float, ...] | None = option(
        None, help="Shares of several style images, e.g. 0.7,0.3", parse=parse_numbers, show=show_numbers,
        check=_blend, default_text="equal", everyday=True)
    style_scale: float = option(
        1.0, help="Style image size relative to the working size", low=0.1, high=4,
        doc="or to the painting's own size when the working size is larger "
            "([Print size](print.md#the-style-image-above-the-paintings-own-resolution))")
    style_upscale: bool = option(
        False, help="Enlarge a style image smaller than the working size to it (blurred strokes) instead of "
                    "keeping its own size")
    preserve_colors: str | None = option(None, help="Keep the content's colours", choices=COLOR_MODES,
                                         everyday=True, default_text="off",
                                         doc="`luminance`: the result's luminance with the content's chroma; "
                                             "`histogram`: the style images take the content's colour statistics "
                                             "first")
    init: str = option("content", help="Start from content, noise, gray or an image file", check=_init,
                       commands=(STYLIZE,), names_file=True, words=INITS)
    init_noise: float = option(0.0, help="Add uniform noise of this amplitude to the start", low=0, high=1)
    seed: int = option(0, help="Random seed", low=0, doc="the same seed repeats a run exactly")
    optimizer: str = option("lbfgs", help="Optimiser (scipy-lbfgsb: the reference, no resume)",
                            choices=OPTIMIZERS)
    learning_rate: float = option(0.01, help="adam/sgd step size, 0..1 pixel units", low=0, above=True,
                                  high=MAX_WEIGHT)
    lr_decay: float = option(1.0, help="adam/sgd: rate multiplied by this every --lr-decay-steps", low=0,
                             above=True, high=1)
    lr_decay_steps: int = option(100, help="adam/sgd: steps per decay", low=1)
    scales: int = option(0, help="Coarse-to-fine levels (0: automatic, 1: off)", low=0, high=6,
                         doc="each twice the last: automatic starts near 128 px at every size (3 levels at 512, "
                             "4 at 1024)")
    coarse_iterations: int | None = option(None, help="Iterations per coarse level", low=1,
                                           default_text="--iterations")
    stall: float = option(
        0.0, help="Stop a level early once its last 10 iterations lowered the loss by less than this fraction "
                  "(0: every iteration runs)", low=0, high=1, commands=(*EVERYWHERE, UPSCALE),
        doc="a level whose picture has stopped changing hands on to the next one sooner "
            "([Engines](engines.md#stopping-a-level-that-has-stalled))")
    net: str = option("vgg16", help="Network", choices=NETS)
    pool: str = option("max", help="Pooling between blocks", choices=POOLS)
    engine: str = option("auto", help="Gradient engine", choices=ENGINE_CHOICES, picture=False,
                         commands=(*MACHINE, SHEET))
    conv: str = option("auto", help="3x3 convolutions: winograd (4x fewer multiplications, ~2e-6 rounding), "
                                    "direct, or auto (winograd on the layers measured faster)", choices=CONVS,
                       picture=False, commands=(*MACHINE, SHEET),
                       doc="the portable engine's; the training engine runs direct (docs/engines.md, Winograd)")
    provider: str = option("CPUExecutionProvider", help="onnxruntime execution provider (portable engine)",
                           picture=False, commands=MACHINE)
    threads: int = option(0, help="CPU threads, 0 = every core", low=0, picture=False, commands=(*MACHINE, SHEET))
    keep_size: bool = option(False, help="Write the result at the content's original size", commands=(STYLIZE,))
    max_memory: int | None = option(
        None, help="Memory the run may use, e.g. 2G or 800M; a run estimated above it stops at once",
        parse=parse_memory, show=format_bytes, check=_memory, picture=False, commands=MACHINE,
        default_text="what is free", everyday=True,
        doc="above it the run is tiled, and if even tiles do not fit it stops before any work and names the "
            "largest --size that fits")
    tile: int | None = option(
        None, help="Evaluate in tiles with cores of N px (exact: same loss and gradient); 0 = never",
        check=_tile, picture=False, commands=MACHINE, default_text="only when untiled does not fit")
    time_budget: float | None = option(
        None, help="Finish within this time, e.g. 20m or 2h: iterations per level are planned from the measured "
                   "speed", parse=parse_seconds, show=show_seconds, low=0, above=True,
        commands=(STYLIZE, UPSCALE), everyday=True)
    gentle: bool = option(
        False, help="Leave the machine usable: the lowest priority, one thread unless --threads says otherwise, "
                    "and a pause (after a checkpoint) while the laptop runs on battery", picture=False,
        commands=(*MACHINE, SHEET), doc="the run yields to everything else; on battery it saves its state and waits "
                                        "for the charger ([Energy](energy.md))")
    until: float | None = option(
        None, help="Stop at this time as Ctrl-C does (best image and checkpoint kept): 07:00, +2h or a date and "
                   "time; `nst resume RUN --until ...` goes on", parse=lambda text: parse_clock(text, "--until"),
        show=show_clock, picture=False, commands=(STYLIZE, UPSCALE, RESUME), default_text="no limit",
        doc="a print can run night after night: each night `nst resume` with the morning's time")
    start_at: float | None = option(
        None, help="Wait until this time before starting (at no cost): 23:00, +30m or a date and time",
        parse=lambda text: parse_clock(text, "--start-at"), show=show_clock, picture=False,
        commands=(STYLIZE, UPSCALE, RESUME), default_text="now")

    def __post_init__(self) -> None:
        if self.gentle and self.threads == 0:  # gentle: one thread unless --threads says otherwise
            object.__setattr__(self, "threads", 1)

    def base_iterations(self) -> int:
        """`iterations`, or by default 100 at 512 px and above, more below (up to 200 at 256 px).

        Small images are cheap and, with fewer coarse-to-fine levels under them, had converged
        less after 100 iterations: measured with bench/quality.py, a 256 px preview then kept
        less of the photo and matched the painting less than the 512 px result it previews.
        """
        if self.iterations is not None:
            return self.iterations
        return round(DEFAULT_ITERATIONS * min(2.0, max(1.0, REFERENCE_SIDE / self.size)))

    def final_iterations(self) -> int:
        """Iterations at the final size: `iterations`, or the default tapered above DETAIL_SIDE
        (schedule.tapered: 100 up to 1024 px, 50 at 2048, 17 at 6000)."""
        return self.base_iterations() if self.iterations is not None else tapered(self.base_iterations(), self.size)

    def schedule(self) -> list[Level]:
        """The coarse-to-fine levels and their iterations (explicit counts are never tapered)."""
        return scale_schedule(self.size, self.base_iterations(), self.levels(), self.coarse_iterations,
                              taper=self.iterations is None)

    def levels(self) -> int:
        return self.scales if self.scales > 0 else auto_levels(self.size)

    def style_weight_at(self, long_side: int) -> float:
        """The style weight for a working image `long_side` px long.

        The same weights strike a different balance at different sizes: measured with
        bench/quality.py, a 256 px result kept less of the photo AND matched the painting less
        well than a 512 px one, because the deep layers see a coarser grid. The weight grows
        as (512 / long_side) ** style_size_exponent, so each size (and each coarse-to-fine
        level) lands at about the same place on its style/content curve.
        """
        return self.style_weight * (REFERENCE_SIDE / long_side) ** self.style_size_exponent

    def validate(self) -> None:
        """Every rule the schema states, then those between options; one line for the first broken."""
        for problem in problems(self):
            raise problem
        if not self.style_layers:
            raise OptionError("at least one style layer is needed", "style_layers")
        try:
            check_supported(self.style_loss, self.engine, self.provider, self.convention)
        except NstError as error:
            raise OptionError(str(error), "style_loss") from None
        try:
            check_conv(self.conv, self.engine)
        except NstError as error:
            raise OptionError(str(error), "conv") from None
        known = relu_names(self.net)
        for field_name, layers in (("content_layers", self.content_layers), ("style_layers", self.style_layers)):
            flag, names = "--" + field_name.replace("_", "-"), [name for name, _ in layers]
            for name in names:
                if name not in known:
                    raise OptionError(f"{flag}: {name!r} is not a layer of {self.net}; choose from "
                                      f"{', '.join(known)}", field_name)
            if len(set(names)) < len(names):
                raise OptionError(f"{flag} names a layer twice: {', '.join(names)}", field_name)
