"""Quality of a result as a solution of the Gatys problem: how much photo, how much painting.

    .venv/bin/python bench/quality.py measure RESULT CONTENT STYLE
    .venv/bin/python bench/quality.py sweep --size 256 --style-weights 0.5,1.5,3,6    # trade-off curves
    .venv/bin/python bench/quality.py sizes --sizes 256,512,1024                    # defaults across sizes
    .venv/bin/python bench/quality.py losses --size 256 --iterations 100             # style losses compared
    .venv/bin/python bench/quality.py page                                           # the quality block in docs/quality.md

The metric, on the ImageNet VGG16 (caffe preprocessing) at the result's size, computed
here with a forward pass and numpy only (none of the loss graph's weights or normalisations):
  content_rel = sum((F - P)^2) / sum(P^2) at relu4_2            (F: result, P: content photo)
  style_rel   = mean over relu1_1 .. relu5_1 of sum((G - A)^2) / sum(A^2),  G = F F^T / N,
                A from the style image resized to the result's long side.
Lower content_rel keeps more of the photo, lower style_rel is closer to the painting.

content_rel and style_rel are the Gram loss's own terms, so they favour it. Measures that
favour no style loss (`losses` compares the losses on them):
  swd         sliced Wasserstein distance between the result's and the painting's features at
              relu1_1 .. relu5_1: SLICES fixed random unit directions per layer, the two
              projected distributions compared quantile by quantile (QUANTILES levels), RMS over
              directions, relative to the painting's projections' RMS, mean over layers (lower:
              the painting's feature distribution matched, not only its second moments);
  colour      Hellinger distance between the result's and the painting's RGB histograms
              (16 bins per channel, 0..1, lower: the painting's palette);
  edge_ssim   SSIM of the gradient magnitudes of the result's and the photo's luma (7x7
              windows; higher: the photo's edges and structure kept).

`sweep` and `sizes` run `nst stylize` as a user would; results and their reports go to
bench/results/quality/ (a run is skipped when its report exists, so both commands share runs),
a JSON summary beside them; the curves and the side-by-side sheets go to docs/quality/, and a
markdown table is printed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import nst_command, write_page_block  # noqa: E402
from nst_ort.io.images import fit_long_side, load_image, to_array  # noqa: E402
from nst_ort.core.levels import StylizeOptions  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
RESULTS = ROOT / "bench" / "results" / "quality"
DOCS = ROOT / "docs" / "quality"
PAGE = ROOT / "docs" / "quality.md"  # the page the quality block lives on; its pictures are in DOCS
QUALITY_BEGIN, QUALITY_END = "<!-- quality:begin -->", "<!-- quality:end -->"
CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# photo x painting pairs from ../shared/images (content file, style file): the classic
# implementations' own examples (Tübingen x Starry Night and x the Shipwreck) and the gallery's
PAIRS = (
    ("tubingen.jpg", "starry_night.jpg"),
    ("tubingen.jpg", "shipwreck_of_the_minotaur.jpg"),
    ("golden_gate.jpg", "great_wave_off_kanagawa.jpg"),
)


SLICES, QUANTILES = 128, 256
COLOUR_BINS = 16
SSIM_WINDOW = 7


@dataclass(frozen=True)
class Quality:
    content_rel: float
    style_rel: float
    style_rel_layers: tuple[float, ...]
    swd: float
    colour: float
    edge_ssim: float


def sliced_wasserstein(result: np.ndarray, painting: np.ndarray, seed: int) -> float:
    """Features (C, N) and (C, M): RMS over fixed random directions of the quantile-wise
    difference of the projections, relative to the painting's projections' RMS."""
    directions = np.random.default_rng(seed).standard_normal((result.shape[0], SLICES))
    directions /= np.linalg.norm(directions, axis=0)
    levels = (np.arange(QUANTILES) + 0.5) / QUANTILES
    ours = np.quantile(directions.T @ result, levels, axis=1)
    theirs = np.quantile(directions.T @ painting, levels, axis=1)
    return float(np.sqrt(np.mean((ours - theirs) ** 2)) / max(np.sqrt(np.mean(theirs ** 2)), 1e-12))


def colour_distance(result: np.ndarray, painting: np.ndarray) -> float:
    """Hellinger distance of the RGB histograms of two images (3, H, W) in [0, 1]."""
    def histogram(pixels: np.ndarray) -> np.ndarray:
        counts, _ = np.histogramdd(pixels.reshape(3, -1).T, bins=COLOUR_BINS, range=[(0, 1)] * 3)
        return counts.ravel() / counts.sum()

    return float(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(histogram(result) * histogram(painting))))))


def edge_ssim(result: np.ndarray, photo: np.ndarray) -> float:
    """Mean SSIM (SSIM_WINDOW-px windows) of the gradient magnitudes of two images' luma."""
    from scipy import ndimage

    def edges(pixels: np.ndarray) -> np.ndarray:
        luma = np.tensordot([0.299, 0.587, 0.114], pixels.astype(np.float64), axes=1)
        return np.hypot(ndimage.sobel(luma, axis=0), ndimage.sobel(luma, axis=1))

    a, b = edges(result), edges(photo)
    mean = lambda x: ndimage.uniform_filter(x, SSIM_WINDOW)  # noqa: E731
    mu_a, mu_b = mean(a), mean(b)
    var_a, var_b, cov = mean(a * a) - mu_a ** 2, mean(b * b) - mu_b ** 2, mean(a * b) - mu_a * mu_b
    span = max(float(b.max()), 1e-12)
    c1, c2 = (0.01 * span) ** 2, (0.03 * span) ** 2
    ssim = (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(np.mean(ssim))


class QualityMeter:
    """Forward passes of the exported VGG16 features model; the metric in float64 numpy."""

    def __init__(self, features_path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        from nst_ort.platform.sessions import session_options

        self._session = ort.InferenceSession(str(features_path), session_options(threads),
                                             providers=["CPUExecutionProvider"])

    def features(self, pixels: np.ndarray, layers: tuple[str, ...]) -> dict[str, np.ndarray]:
        outputs = self._session.run(list(layers), {"image": pixels[None].astype(np.float32)})
        return {name: value[0].reshape(value.shape[1], -1).astype(np.float64) for name, value in zip(layers, outputs)}

    @staticmethod
    def gram(flat: np.ndarray) -> np.ndarray:
        return flat @ flat.T / flat.shape[1]

    def measure(self, result: Image.Image, content: Image.Image, style: Image.Image) -> Quality:
        size = result.size
        result_pixels, photo_pixels = to_array(result), to_array(content, size)
        painting_pixels = to_array(style, fit_long_side(style.size, max(size)))
        result_features = self.features(result_pixels, (CONTENT_LAYER, *STYLE_LAYERS))
        photo = self.features(photo_pixels, (CONTENT_LAYER,))[CONTENT_LAYER]
        painting = self.features(painting_pixels, STYLE_LAYERS)
        content_rel = float(np.sum((result_features[CONTENT_LAYER] - photo) ** 2) / np.sum(photo ** 2))
        per_layer = []
        for layer in STYLE_LAYERS:
            g, a = self.gram(result_features[layer]), self.gram(painting[layer])
            per_layer.append(float(np.sum((g - a) ** 2) / np.sum(a ** 2)))
        swd = float(np.mean([sliced_wasserstein(result_features[layer], painting[layer], seed)
                             for seed, layer in enumerate(STYLE_LAYERS)]))
        return Quality(content_rel, float(np.mean(per_layer)), tuple(per_layer), swd,
                       colour_distance(result_pixels, painting_pixels), edge_ssim(result_pixels, photo_pixels))


def open_meter() -> QualityMeter:
    from export.pipeline import ensure_exported
    from nst_base.model_store import default_models_dir

    return QualityMeter(ensure_exported(default_models_dir(), "vgg16", "max").features_path)


def run_stylize(content: str, style: str, out: Path, args: list[str]) -> dict:
    """One `nst stylize` run (skipped when its report exists); returns the run report."""
    report = out.with_suffix(".json")
    if not report.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([*nst_command(), "stylize", str(IMAGES / "content" / content), str(IMAGES / "style" / style),
                        "-o", str(out), "--report", str(report), "--quiet", *args], check=True, cwd=ROOT)
    return json.loads(report.read_text())


def pair_name(content: str, style: str) -> str:
    return f"{Path(content).stem}_x_{Path(style).stem}"


def measure_run(meter: QualityMeter, content: str, style: str, out: Path, args: list[str]) -> dict:
    report = run_stylize(content, style, out, args)
    quality = meter.measure(Image.open(out).convert("RGB"), load_image(IMAGES / "content" / content),
                            load_image(IMAGES / "style" / style))
    row = {"pair": pair_name(content, style), "args": args, "seconds": report["total_seconds"],
           "evaluations": report["evaluations"], **asdict(quality)}
    print(json.dumps(row), flush=True)
    return row


def scatter_plot(series: dict[str, list[tuple[float, float, str]]], marked: dict[str, tuple[float, float]],
                 path: Path, title: str, size: tuple[int, int] = (760, 520), y_name: str = "style_rel") -> None:
    """content_rel (x) against style_rel (y, log) per named series, points labelled; `marked` ringed."""
    width, height = size
    left, right, top, bottom = 70, 190, 36, 46
    points = [(x, y) for values in series.values() for x, y, _ in values] + list(marked.values())
    x_low, x_high = 0.0, max(x for x, _ in points) * 1.08
    y_low, y_high = np.log10(min(y for _, y in points)) - 0.1, np.log10(max(y for _, y in points)) + 0.1
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()

    def at(x: float, y: float) -> tuple[float, float]:
        return (left + (width - left - right) * (x - x_low) / (x_high - x_low),
                top + (height - top - bottom) * (y_high - np.log10(y)) / (y_high - y_low))

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for decade in range(int(np.floor(y_low)), int(np.ceil(y_high)) + 1):
        for mantissa in (1, 2, 5):
            value = mantissa * 10.0 ** decade
            if y_low <= np.log10(value) <= y_high:
                _, py = at(0, value)
                draw.line([left, py, width - right, py], fill=(230, 230, 230))
                draw.text((8, py - 6), f"{value:g}", fill="black", font=font)
    for tick in range(6):
        x = x_high * tick / 5
        px, _ = at(x, 10 ** y_low)
        draw.text((px - 12, height - bottom + 6), f"{x:.2f}", fill="black", font=font)
    draw.text((width // 2 - 90, height - 20), "content_rel (photo kept: lower)", fill="black", font=font)
    draw.text((8, 10), f"{title}   [{y_name}, log]", fill="black", font=font)
    colors = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]
    for index, (name, values) in enumerate(series.items()):
        color = colors[index % len(colors)]
        line = [at(x, y) for x, y, _ in sorted(values)]
        if len(line) > 1:
            draw.line(line, fill=color, width=2)
        for (px, py), (_, _, label) in zip(line, sorted(values)):
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=color)
            draw.text((px + 5, py - 12), label, fill=color, font=font)
        if name in marked:
            px, py = at(*marked[name])
            draw.ellipse([px - 7, py - 7, px + 7, py + 7], outline=color, width=2)
        draw.text((width - right + 10, top + 14 * index), name, fill=color, font=font)
    draw.text((width - right + 10, top + 14 * len(series) + 8), "ringed: default", fill="black", font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def sweep(args: argparse.Namespace) -> None:
    """Each pair at one size for several style weights: its trade-off curve and a strip of the results."""
    meter = open_meter()
    weights = [float(w) for w in args.style_weights.split(",")]
    rows = []
    for content, style in selected_pairs(args.pairs):
        name = pair_name(content, style)
        outs = {weight: run_path(name, args.size, weight) for weight in weights}
        found = {weight: measure_run(meter, content, style, out, run_args(args.size, weight, args.extra))
                 for weight, out in outs.items()}
        rows += [{**row, "size": args.size, "style_weight": weight} for weight, row in found.items()]
        cells = [(f"{weight:g}: c {found[weight]['content_rel']:.2f}, s {found[weight]['style_rel']:.3f}",
                  Image.open(out)) for weight, out in outs.items()]
        save_sheet(cells, DOCS / f"strength_{name}.jpg", cell_side=240)
    summary = RESULTS / f"sweep_{args.size}.json"
    summary.write_text(json.dumps(rows, indent=1) + "\n")
    series: dict[str, list[tuple[float, float, str]]] = {}
    marked = {}
    for row in rows:
        series.setdefault(row["pair"], []).append((row["content_rel"], row["style_rel"], f"{row['style_weight']:g}"))
        if is_default(row["style_weight"]):
            marked[row["pair"]] = (row["content_rel"], row["style_rel"])
    scatter_plot(series, marked, DOCS / f"tradeoff_{args.size}.png",
                 f"style weight sweep at {args.size} px (labels: --style-weight)")
    print(markdown_rows(rows, ("style_weight", "content_rel", "style_rel", "seconds")))


LOSS_MEASURES = ("content_rel", "edge_ssim", "swd", "colour", "style_rel")


def losses(args: argparse.Namespace) -> None:
    """Every pair with each style loss over several strengths: the measures that favour no loss,
    compared at matched content error (the Gram default's content_rel, interpolated along each
    loss's curve), the curves, and the strength factor that would make each loss's default
    weight reach it. Each other loss then runs once more per pair at the weight its curve
    says reaches that content error: those results are shown beside the Gram default's."""
    meter = open_meter()
    weights = [float(w) for w in args.style_weights.split(",")]
    pairs, names = selected_pairs(args.pairs), args.losses.split(",")
    rows = [loss_run(meter, content, style, loss, weight, args)
            for content, style in pairs for loss in names for weight in weights]
    for (content, style), (loss, found) in itertools.product(pairs, strength_calibration(rows).items()):
        weight = found["weights"].get(pair_name(content, style))
        if loss != "gram" and weight is not None:
            rows.append({**loss_run(meter, content, style, loss, round(weight, 2), args), "matching": True})
    levels = reference_levels(rows)
    for content, style in pairs:
        name = pair_name(content, style)
        if name not in levels:
            continue
        cells = []
        for loss in names:
            row = min((row for row in rows if row["pair"] == name and row["loss"] == loss),
                      key=lambda row: abs(row["content_rel"] - levels[name]))
            cells.append((f"{loss} {row['style_weight']:g}: c {row['content_rel']:.2f}, swd {row['swd']:.3f}, "
                          f"col {row['colour']:.2f}, edge {row['edge_ssim']:.3f}", Image.open(ROOT / row["result"])))
        photo = load_image(IMAGES / "content" / content).resize(cells[0][1].size)
        save_sheet([("photo", photo), *cells], DOCS / f"losses_{name}.jpg", cell_side=320)
    summary = {"size": args.size, "iterations": args.iterations, "weights": weights, "rows": rows,
               "matched": matched(rows), "strength": strength_calibration(rows)}
    (RESULTS / f"losses_{args.size}.json").write_text(json.dumps(summary, indent=1) + "\n")
    (ROOT / "docs" / "bench" / f"style_losses_{args.size}.json").write_text(json.dumps(summary, indent=1) + "\n")
    for measure in ("swd", "edge_ssim", "colour"):
        series: dict[str, list[tuple[float, float, str]]] = {}
        for row in rows:  # one series per painting (two pairs share the photo) and loss
            series.setdefault(f"{row['pair'].split('_x_')[1]}/{row['loss']}", []).append(
                (row["content_rel"], max(row[measure], 1e-6), f"{row['style_weight']:g}"))
        marked = {f"{row['pair'].split('_x_')[1]}/gram": (row["content_rel"], max(row[measure], 1e-6))
                  for row in rows if row["loss"] == "gram" and is_default(row["style_weight"])}
        scatter_plot(series, marked, DOCS / f"losses_{measure}_{args.size}.png",
                     f"style losses at {args.size} px: {measure} (labels: --style-weight)", y_name=measure)
    print(markdown_rows(summary["matched"], ("loss", "content_rel", *LOSS_MEASURES[1:])))
    print(json.dumps(summary["strength"], indent=1))


def loss_run(meter: QualityMeter, content: str, style: str, loss: str, weight: float,
             args: argparse.Namespace) -> dict:
    """One `losses` run, measured (its result's path under "result")."""
    out = RESULTS / f"{pair_name(content, style)}_{args.size}_{loss}{strength_tag(loss)}_{args.iterations}_sw{weight:g}.png"
    row = measure_run(meter, content, style, out, ["--size", str(args.size), "--style-loss", loss,
                                                  "--style-weight", f"{weight:g}", "--iterations",
                                                  str(args.iterations), *args.extra])
    return {**row, "loss": loss, "style_weight": weight, "size": args.size, "result": str(out.relative_to(ROOT))}


def strength_tag(loss: str) -> str:
    """A loss's strength factor in its results' names, so that a changed factor runs again."""
    from nst_ort.core.targets import STYLE_LOSS_STRENGTH

    strength = STYLE_LOSS_STRENGTH[loss]
    return "" if strength == 1.0 else f"_k{strength:g}"


def reference_levels(rows: list[dict]) -> dict[str, float]:
    """Per pair, the content_rel of the Gram loss at the default strength: the level compared at."""
    return {row["pair"]: row["content_rel"] for row in rows if row["loss"] == "gram" and is_default(row["style_weight"])}


def curve_of(rows: list[dict], pair: str, loss: str) -> list[dict]:
    return sorted((row for row in rows if row["pair"] == pair and row["loss"] == loss), key=lambda row: row["content_rel"])


def reaches(xs: list[float], level: float) -> bool:
    """Whether a curve's sorted content_rel values span `level` (interpolation, never extrapolation)."""
    return bool(xs) and xs[0] <= level <= xs[-1]


def matched(rows: list[dict]) -> list[dict]:
    """Each loss's measures interpolated (linearly in content_rel) to the content_rel of the Gram
    loss at the default strength, per pair; only the level where a loss's curve does not reach it."""
    table = []
    for pair, level in reference_levels(rows).items():
        for loss in dict.fromkeys(row["loss"] for row in rows):
            curve = curve_of(rows, pair, loss)
            xs = [row["content_rel"] for row in curve]
            found = {measure: float(np.interp(level, xs, [row[measure] for row in curve]))
                     for measure in LOSS_MEASURES[1:]} if reaches(xs, level) else {}
            table.append({"pair": pair, "loss": loss, "content_rel": level, **found})
    return table


def strength_calibration(rows: list[dict]) -> dict[str, dict]:
    """Per loss: the --style-weight that reaches each pair's Gram-default content_rel
    (interpolated in log weight along its curve), and the STYLE_LOSS_STRENGTH that would put
    that weight at the default (the current factor times their geometric mean over the default)."""
    from nst_ort.core.targets import STYLE_LOSS_STRENGTH

    default = StylizeOptions().style_weight
    result = {}
    for loss in dict.fromkeys(row["loss"] for row in rows):
        reached = {}
        for pair, level in reference_levels(rows).items():
            curve = curve_of(rows, pair, loss)
            xs = [row["content_rel"] for row in curve]
            if reaches(xs, level):
                reached[pair] = float(np.exp(np.interp(level, xs, [np.log(row["style_weight"]) for row in curve])))
        if reached:
            mean = float(np.exp(np.mean(np.log(list(reached.values())))))
            result[loss] = {"weights": reached, "strength": STYLE_LOSS_STRENGTH[loss],
                            "suggested_strength": STYLE_LOSS_STRENGTH[loss] * mean / default}
    return result


def is_default(style_weight: float | None) -> bool:
    return style_weight is None or style_weight == StylizeOptions().style_weight


def run_path(name: str, size: int, style_weight: float | None) -> Path:
    """Where a run's result lives: one file per (pair, size, weight); the default weight's runs
    are shared by `sweep` and `sizes`."""
    weight = "default" if is_default(style_weight) else f"sw{style_weight:g}"
    return RESULTS / f"{name}_{size}_{weight}.png"


def run_args(size: int, style_weight: float | None, extra: list[str]) -> list[str]:
    weight = [] if is_default(style_weight) else ["--style-weight", f"{style_weight:g}"]
    return ["--size", str(size), *weight, *extra]


def save_sheet(cells: list[tuple[str, Image.Image]], path: Path, cell_side: int = 256) -> None:
    from nst_ort.io.sheet import contact_sheet

    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(cells, len(cells), cell_side).save(path, quality=88)


def mean_abs_difference(a: Image.Image, b: Image.Image, side: int = 128) -> float:
    """Mean absolute pixel difference (0..1) of two results downscaled to `side` px long."""
    size = fit_long_side(a.size, side)
    return float(np.mean(np.abs(to_array(a, size) - to_array(b, size))))


def sizes(args: argparse.Namespace) -> None:
    """The defaults at several sizes: metric per size, differences at 128 px, the results side by side."""
    meter = open_meter()
    sides = [int(s) for s in args.sizes.split(",")]
    reference = 512 if 512 in sides else sides[len(sides) // 2]
    rows = []
    for content, style in selected_pairs(args.pairs):
        name = pair_name(content, style)
        outs = {side: run_path(name, side, None) for side in sides}
        found = {side: measure_run(meter, content, style, out, run_args(side, None, args.extra))
                 for side, out in outs.items()}
        images = {side: Image.open(out).convert("RGB") for side, out in outs.items()}
        for side in sides:
            others = {f"mad_vs_{other}": mean_abs_difference(images[side], images[other]) for other in sides
                      if other != side}
            rows.append({**found[side], "size": side,
                         "content_rel_vs_ref": found[side]["content_rel"] / found[reference]["content_rel"], **others})
        cells = [(f"{side} px: c {found[side]['content_rel']:.2f}, s {found[side]['style_rel']:.3f}", images[side])
                 for side in sides]
        save_sheet(cells, DOCS / f"sizes_{name}.jpg")
    summary = RESULTS / f"sizes_{'-'.join(map(str, sides))}.json"
    summary.write_text(json.dumps(rows, indent=1) + "\n")
    print(markdown_rows(rows, ("size", "content_rel", "content_rel_vs_ref", "style_rel",
                               *sorted({key for row in rows for key in row if key.startswith("mad_vs_")}), "seconds")))


def markdown_rows(rows: list[dict], columns: tuple[str, ...]) -> str:
    """A markdown table of `rows` (pair first), numbers rounded for reading."""
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
        return str(value)

    lines = ["| pair | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    lines += [f"| {row['pair']} | " + " | ".join(cell(row.get(column, "")) for column in columns) + " |"
              for row in rows]
    return "\n".join(lines)


# the fair measures and which way is better
FAIR_MEASURES = {"edge_ssim": "higher", "swd": "lower", "colour": "lower"}


def losses_table(summary: dict) -> str:
    """The losses block: the measures at matched content error per pair, how often each loss
    wins on each fair measure, the strength each loss would need, the curves and the pictures."""
    losses = list(dict.fromkeys(row["loss"] for row in summary["rows"]))
    weights = ", ".join(f"{weight:g}" for weight in summary.get("weights") or dict.fromkeys(
        row["style_weight"] for row in summary["rows"] if not row.get("matching")))
    parts = [f"Every pair at {summary['size']} px and {summary['iterations']} iterations, each loss at "
             f"`--style-weight` {weights}, compared at the content error of the Gram loss at the default weight "
             "(interpolated along each loss's curve; `bench/quality.py losses`, "
             f"`docs/bench/style_losses_{summary['size']}.json`). edge_ssim: higher keeps more of the photo's "
             "edges; swd, colour, style_rel: lower is nearer the painting.", "",
             markdown_rows(summary["matched"], ("loss", "content_rel", *FAIR_MEASURES, "style_rel")), ""]
    for loss in losses[1:]:
        wins = []
        for measure, better in FAIR_MEASURES.items():
            pairs = [(ours, theirs) for ours, theirs in zip(
                [row for row in summary["matched"] if row["loss"] == loss],
                [row for row in summary["matched"] if row["loss"] == losses[0]]) if measure in ours and measure in theirs]
            won = sum(ours[measure] > theirs[measure] if better == "higher" else ours[measure] < theirs[measure]
                      for ours, theirs in pairs)
            wins.append(f"{measure} on {won} of {len(pairs)} pairs")
        parts += [f"{loss} better than {losses[0]}: " + ", ".join(wins) + ".", ""]
    for loss, found in summary.get("strength", {}).items():
        if loss == losses[0]:
            continue
        reached = ", ".join(f"{weight:.2g}" for weight in found["weights"].values())
        parts += [f"{loss} reaches the Gram default's content error at `--style-weight` {reached} (strength "
                  f"factor {found['strength']:g} during these runs; {found['suggested_strength']:.2g} would put "
                  "their geometric mean at the default weight).", ""]
    for measure in FAIR_MEASURES:
        parts += [f"![{measure} against content_rel](quality/losses_{measure}_{summary['size']}.png)", ""]
    parts += ["Each loss's result nearest that content error (the other losses ran once more at the weight "
              "their curve gave for it; label: loss and weight, c: content_rel, then the fair measures):", ""]
    for pair in dict.fromkeys(row["pair"] for row in summary["rows"]):
        parts += [f"![{pair}](quality/losses_{pair}.jpg)", ""]
    return "\n".join(parts).strip()


def page(args: argparse.Namespace) -> None:
    """Rewrite the quality block in docs/quality.md from the summaries `sweep` and `sizes` left, and
    the losses block from `losses`' summary in docs/bench."""
    def load(name: str) -> list[dict]:
        path = RESULTS / name
        return json.loads(path.read_text()) if path.exists() else []

    compared = sorted((ROOT / "docs" / "bench").glob("style_losses_[0-9]*.json"))
    if compared:
        write_page_block("losses", PAGE, losses_table, compared[-1])
    at_512 = load("sizes_512.json")
    across = load("sizes_256-512-1024.json")
    if not (at_512 or across):  # a fresh clone has no runs: the block keeps what they once wrote
        print(f"no sizes summaries in {RESULTS}: the quality block is left as it is")
        return
    curves = sorted(DOCS.glob("tradeoff_*.png"))
    parts = ["Defaults at 512 px, every pair (`bench/quality.py sizes --sizes 512`; seconds: wall time "
             "with 1 thread while two to four runs shared the 2-core machine):", "",
             markdown_rows(at_512, ("content_rel", "style_rel", "seconds")), ""]
    for curve in curves:
        parts += [f"Trade-off over `--style-weight` ({curve.stem.split('_')[1]} px, `bench/quality.py sweep`; "
                  "ringed: the default):", "", f"![](quality/{curve.name})", ""]
    for strip in sorted(DOCS.glob("strength_*.jpg")):
        parts += [f"`--style-weight` from less to more painting ({strip.stem[len('strength_'):]}; "
                  "c: content_rel, s: style_rel):", "", f"![](quality/{strip.name})", ""]
    if across:
        mad = sorted({key for row in across for key in row if key.startswith("mad_vs_")})
        parts += ["The defaults across sizes (`bench/quality.py sizes`): content_rel against the 512 px "
                  "result's, style_rel, and the mean absolute difference of the results downscaled to "
                  "128 px (0..1):", "",
                  markdown_rows(across, ("size", "content_rel", "content_rel_vs_ref", "style_rel", *mad)), ""]
        for sheet in sorted(DOCS.glob("sizes_*.jpg")):
            parts += [f"![](quality/{sheet.name})", ""]
    text = PAGE.read_text()
    if text.count(QUALITY_BEGIN) != 1 or text.count(QUALITY_END) != 1:
        raise SystemExit(f"{PAGE} needs exactly one {QUALITY_BEGIN} ... {QUALITY_END}")
    head, rest = text.split(QUALITY_BEGIN, 1)
    PAGE.write_text(head + QUALITY_BEGIN + "\n" + "\n".join(parts).strip() + "\n" + QUALITY_END
                      + rest.split(QUALITY_END, 1)[1])


def selected_pairs(names: list[str] | None) -> list[tuple[str, str]]:
    if not names:
        return list(PAIRS)
    return [pair for pair in PAIRS if pair_name(*pair) in names]


def measure(args: argparse.Namespace) -> None:
    quality = open_meter().measure(load_image(Path(args.result)), load_image(Path(args.content)),
                                   load_image(Path(args.style)))
    print(json.dumps(asdict(quality)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("measure", help="the metric of one result")
    one.add_argument("result")
    one.add_argument("content")
    one.add_argument("style")
    one.set_defaults(run=measure)
    curve = commands.add_parser("sweep", help="trade-off curves over --style-weight")
    curve.add_argument("--size", type=int, default=512)
    curve.add_argument("--style-weights", default="0.5,1.5,3,6", help="the default weight is ringed")
    curve.set_defaults(run=sweep)
    scale = commands.add_parser("sizes", help="the defaults at several sizes")
    scale.add_argument("--sizes", default="256,512,1024")
    scale.set_defaults(run=sizes)
    compare = commands.add_parser("losses", help="the style losses compared on measures that favour neither")
    compare.add_argument("--size", type=int, default=256)
    compare.add_argument("--iterations", type=int, default=100)
    compare.add_argument("--losses", default="gram,w2")
    compare.add_argument("--style-weights", default="0.5,1.5,4.5", help="the default weight's results are shown")
    compare.set_defaults(run=losses)
    table = commands.add_parser("page", aliases=["readme"],
                                help="rewrite the quality block in docs/quality.md from the summaries")
    table.set_defaults(run=page)
    for command in (curve, scale, compare):
        command.add_argument("--pairs", nargs="*", default=None, help="pair names (content_x_style) to run")
        command.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `nst stylize` options")
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
