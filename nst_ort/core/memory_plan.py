"""The memory plan of a run, made before any work: untiled, or tiles and an L-BFGS history that fit.

Peak memory has three parts. A fixed part: the interpreter, onnxruntime, the model. The whole
image's arrays grow with its pixels: the optimiser's vectors (L-BFGS: 2 x history correction
pairs plus about ten working vectors; 12 bytes per pixel each), the content and style images,
the content target and the masks. The gradient session grows with the pixels it evaluates at
once: the whole image untiled, the largest tile's window when tiled. A run that fits untiled
runs untiled; otherwise the plan picks the largest tiles, then the longest history, that fit
the limit. If nothing fits, one line says what would.

A whole run's heap also grows over its iterations (RUN_GROWTH_BYTES): one-iteration runs
measure the rest, whole runs this part too.

The constants are fitted to measured runs (bench/memory_model.py: onnxruntime 1.16.3, the
training build 1.19.2 and the newest plain release, 1 to 16 threads, untiled and tiled;
whole default runs level by level, from the command line and in the studio; earlier runs up
to 2048 px untiled and 6000 px in tiles; the tables are in docs/print.md), rounded up: every
estimate is at or above its measured peak and at most 30% above it (tests/test_memory.py).
The peaks do not grow with the thread count, so threads are not part of the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nst_base.errors import NstError
from nst_graphs.networks import conv_layers
from nst_graphs.winograd import winograd_kernels
from nst_ort.core.engines.tiles import TileLayout, halo_and_grid, layer_stride, tile_layout
from nst_ort.options.schema import OptionError
from nst_ort.platform.memory import available_bytes, format_bytes

RUN_FIXED_BYTES = int(0.20 * 2**30)  # the interpreter, onnxruntime and the models
# what a run's heap gains over its iterations beyond its first: freed image-sized arrays glibc
# keeps, the GIF, checkpoint and image writes; the studio's server (whole runs held 16-67 MiB more
# than the one-iteration fit had it; bench/memory_model.py whole and studio)
RUN_GROWTH_BYTES = int(0.08 * 2**30)
SESSION_FIXED_BYTES = int(0.05 * 2**30)  # a gradient session at any size: kernels' workspace, arena rounding
TILED_ENGINE_BYTES = int(0.12 * 2**30)  # tiled: the tile gradient session and the whole-image gradient buffers
SESSION_BYTES_PER_PIXEL = 3000  # a portable gradient session's activations and their gradients
TRAINING_ENGINE_FACTOR = 2.0  # its session per pixel against the portable engine's
VECTOR_BYTES_PER_PIXEL = 12  # one float32 RGB image
# Winograd convolutions (nst_graphs/winograd.py): each one's transformed kernels, forward and
# backward, hold 2 x 36 floats per in/out channel pair where the direct form held 2 x 9 (less
# onnxruntime's blocked copies of the direct kernels, which go), and the transformed tiles of the
# layer under way grow with the pixels: measured over direct on VGG16, 2 threads, nst bench
# (docs/bench/winograd.json): auto +0.19 / +0.24 / +0.44 GiB at 266x200 / 533x400 / 1066x800
# (a fit: 172 bytes per channel pair and 336 per pixel), winograd (the early, large maps too)
# +0.31 / +0.41 / +1.30 GiB
WINOGRAD_BYTES_PER_WEIGHT_PAIR = 190
WINOGRAD_BYTES_PER_PIXEL = 360  # the deep layers' transformed tiles (auto)
WINOGRAD_EARLY_BYTES_PER_PIXEL = 1800  # with the first blocks' too (winograd)
WORKING_VECTORS = {"lbfgs": 10, "adam": 6, "sgd": 4, "scipy-lbfgsb": 14}  # besides the L-BFGS pairs
TILE_CORES = (2048, 1536, 1024, 768, 512, 384, 256, 192, 128)  # tried largest first: less halo overhead
HISTORIES = (10, 5, 3, 2)  # L-BFGS correction pairs, longest first
# relative evaluations to the same loss with a shorter L-BFGS history (a cautious guess: the
# plan weighs it against the tiles' halo overhead, the pixels read per pixel of the image)
HISTORY_COST = {10: 1.0, 5: 1.1, 3: 1.25, 2: 1.6}  # 2 pairs: nearly a last resort
DEFAULT_HISTORY = HISTORIES[0]


@dataclass(frozen=True)
class RunPlan:
    width: int
    height: int
    estimate: int  # bytes at peak
    allowed: int | None  # the limit checked against (None: unknown)
    history: int = DEFAULT_HISTORY
    layout: TileLayout | None = None  # None: untiled
    conv: str = "direct"  # its 3x3 convolutions: direct, auto (Winograd on the layers measured faster) or winograd

    def describe(self) -> str:
        memory = f"estimated peak {format_bytes(self.estimate)}" + (
            f" of {format_bytes(self.allowed)} allowed" if self.allowed is not None else "")
        convolutions = {"auto": ", Winograd on the deep layers", "winograd": ", Winograd convolutions"}.get(self.conv, "")
        if self.layout is None:
            return f"{self.width}x{self.height} untiled{convolutions}, {memory}"
        layout = self.layout
        return (f"{self.width}x{self.height} in {len(layout.tiles)} tiles of {layout.core} px (+{layout.halo} px halo, "
                f"{layout.overhead:.2f}x the pixels), L-BFGS history {self.history}{convolutions}, {memory}")


def session_bytes_per_pixel(engine: str = "portable") -> float:
    return SESSION_BYTES_PER_PIXEL * (TRAINING_ENGINE_FACTOR if engine == "training" else 1.0)


def session_bytes(pixels: int, engine: str = "portable") -> float:
    """A gradient session evaluating `pixels` at once (the whole image, or a tile's window)."""
    return SESSION_FIXED_BYTES + session_bytes_per_pixel(engine) * pixels


def winograd_bytes(net: str, conv: str, layers: tuple[str, ...], pixels: int) -> float:
    """What Winograd convolutions add to a gradient session evaluating `pixels` at once, for
    a loss reading `layers` (the convolutions past its deepest layer are not in the graph)."""
    chosen = set(winograd_kernels(net, conv))
    deepest = max(int(name[4]) * 10 + int(name[6:]) for name in layers)  # relu4_2 -> 42
    used = [layer for layer in conv_layers(net) if f"{layer.conv}.kernel" in chosen
            and layer.block * 10 + layer.index <= deepest]
    weights = sum(layer.in_channels * layer.out_channels for layer in used) * WINOGRAD_BYTES_PER_WEIGHT_PAIR
    if not used:
        return 0.0
    early = any(layer.block <= 2 for layer in used)
    return weights + (WINOGRAD_EARLY_BYTES_PER_PIXEL if early else WINOGRAD_BYTES_PER_PIXEL) * pixels


def whole_image_bytes_per_pixel(optimizer: str, history: int, content_layers: tuple[str, ...],
                                content_channels: dict[str, int], regions: int, styles: int) -> float:
    """Bytes per pixel of the arrays that span the whole image (see the module's docstring)."""
    vectors = WORKING_VECTORS.get(optimizer, 10) + (2 * history if optimizer == "lbfgs" else 0) + 1 + styles
    targets = sum(4 * content_channels[layer] / layer_stride(layer) ** 2 for layer in content_layers)
    masks = 4 * regions * 1.34  # a mask per region at every resolution (1 + 1/4 + 1/16 + ...)
    return vectors * VECTOR_BYTES_PER_PIXEL + targets + masks


@dataclass(frozen=True)
class PlanRequest:
    """What the plan depends on: the image, the run's settings and the limit."""

    width: int
    height: int
    engine: str  # resolved: portable | training
    optimizer: str
    net: str
    layers: tuple[str, ...]  # every layer the loss reads
    content_layers: tuple[str, ...]
    content_channels: dict[str, int]
    regions: int = 0
    styles: int = 1
    tile: int | None = None  # None: only when untiled does not fit; 0: never; N: cores of N px
    limit: int | None = None  # --max-memory; None: what is free now
    conv: str = "direct"  # the 3x3 convolutions' form (the portable and tiled engines')

    def winograd_bytes(self, pixels: int) -> float:
        return 0.0 if self.engine == "training" else winograd_bytes(self.net, self.conv, self.layers, pixels)

    def whole_bytes_per_pixel(self, history: int) -> float:
        return whole_image_bytes_per_pixel(self.optimizer, history, self.content_layers, self.content_channels,
                                           self.regions, self.styles)

    def untiled_estimate(self) -> int:
        pixels = self.width * self.height
        return int(RUN_FIXED_BYTES + RUN_GROWTH_BYTES + self.whole_bytes_per_pixel(DEFAULT_HISTORY) * pixels
                   + session_bytes(pixels, self.engine) + self.winograd_bytes(pixels))

    def tiled_estimate(self, layout: TileLayout, history: int) -> int:
        return int(RUN_FIXED_BYTES + RUN_GROWTH_BYTES + self.whole_bytes_per_pixel(history) * self.width * self.height
                   + TILED_ENGINE_BYTES + session_bytes(layout.largest_window)
                   + self.winograd_bytes(layout.largest_window))


def plan_run(request: PlanRequest) -> RunPlan:
    """The plan for a level of width x height, or a one-line NstError when nothing fits. With
    conv auto, Winograd where it fits as the direct form would (untiled, or in tiles as large);
    else direct: tiles cost more time than Winograd saves."""
    if request.conv != "auto" or request.engine == "training":
        return replace(_plan(request), conv="direct" if request.engine == "training" else request.conv)
    direct = replace(_plan(replace(request, conv="direct")), conv="direct")
    try:
        winograd = replace(_plan(request), conv="auto")
    except NstError:
        return direct
    same = (winograd.layout is None) == (direct.layout is None) and (
        winograd.layout is None or winograd.layout.core == direct.layout.core)
    return winograd if same and winograd.history == direct.history else direct


def _plan(request: PlanRequest) -> RunPlan:
    allowed = request.limit if request.limit is not None else available_bytes()
    width, height = request.width, request.height
    untiled = request.untiled_estimate()
    if request.tile is None and (allowed is None or untiled <= allowed) or request.tile == 0:
        if allowed is not None and untiled > allowed:
            _refuse(request, untiled, allowed, "untiled (--tile 0)")
        return RunPlan(width, height, untiled, allowed)
    if request.engine == "training":
        raise NstError("the training engine cannot split the image into tiles: use --engine portable (the default)"
                       + (f" or a smaller --size: {width}x{height} needs about {format_bytes(untiled)} untiled"
                          if request.tile is None else ""))
    cores = (request.tile,) if request.tile else TILE_CORES
    histories = HISTORIES if request.optimizer == "lbfgs" else (DEFAULT_HISTORY,)
    candidates = []
    for core in cores:
        layout = tile_layout(height, width, core, request.net, request.layers)
        candidates += [(layout.overhead * HISTORY_COST[history], layout, history) for history in histories]
    candidates.sort(key=lambda candidate: candidate[0])
    estimates = [(request.tiled_estimate(layout, history), layout, history) for _, layout, history in candidates]
    for estimate, layout, history in estimates:
        if allowed is None or estimate <= allowed:
            return RunPlan(width, height, estimate, allowed, history, layout)
    _refuse(request, min(estimate for estimate, _, _ in estimates), allowed, "even in tiles")


def _refuse(request: PlanRequest, needed: int, allowed: int, how: str) -> None:
    """One line: the estimate, the limit, and the largest --size that fits (untiled or in tiles)."""
    where = "allowed by --max-memory" if request.limit is not None else "free now"
    untiled = (allowed - RUN_FIXED_BYTES - RUN_GROWTH_BYTES - SESSION_FIXED_BYTES) / (
        request.whole_bytes_per_pixel(DEFAULT_HISTORY) + session_bytes_per_pixel(request.engine))
    halo, _ = halo_and_grid(request.net, request.layers)
    window = TILED_ENGINE_BYTES + session_bytes((TILE_CORES[-1] + 2 * halo) ** 2)
    tiled = (allowed - RUN_FIXED_BYTES - RUN_GROWTH_BYTES - window) / request.whole_bytes_per_pixel(HISTORIES[-1]) \
        if request.engine != "training" and request.tile != 0 else 0.0
    aspect = min(request.width, request.height) / max(request.width, request.height)
    fits = int((max(untiled, tiled, 0.0) / aspect) ** 0.5)
    hint = f"--size {fits} fits" + (" in tiles" if tiled > untiled else "") if fits >= 64 else "nothing useful fits"
    raise OptionError(f"a {request.width}x{request.height} run needs about {format_bytes(needed)} of memory {how}, "
                      f"more than the {format_bytes(allowed)} {where}: {hint}"
                      + (" (or raise --max-memory)" if request.limit is not None else ""),
                      "max_memory" if request.limit is not None else "size")  # what the page shows it beside
