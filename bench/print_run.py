"""The print-size run: 6000 px in 8 GB within a 2-hour budget, and what it looks like against the
display-size result.

    .venv/bin/python bench/print_run.py run        # nst stylize --size 6000 --time-budget 2h --max-memory 8G
    .venv/bin/python bench/print_run.py display    # the same pair with the defaults (512 px)
    .venv/bin/python bench/print_run.py figures    # breakdown, crops, comparison -> docs/bench/print_6000*
    .venv/bin/python bench/print_run.py style      # a painting smaller than the print: enlarged or its own size
    .venv/bin/python bench/print_run.py w2         # the print and the display result with --style-loss w2
    .venv/bin/python bench/print_run.py w2-figures # its crop and levels -> docs/bench/print_w2*

Both runs are plain `nst stylize` processes writing their reports; a stopped print run
continues with `nst resume bench/results/print/print.png.nst-run` (its time budget counts the
time already spent). `figures` reads the reports: wall time, peak RSS and per level the
iterations, seconds and seconds per iteration; the default schedule's time at this size
without a budget is estimated from those seconds per iteration times the default
iterations (labelled as an estimate). It writes a 1:1 crop of the print beside the same crop
of the display result enlarged by Lanczos, and the whole print reduced to the display size
beside the display result, with their mean absolute difference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import nst_command  # noqa: E402
from bench.eta import eta_accuracy, read_stamped  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
PHOTO, PAINTING = IMAGES / "content" / "sunset_by_the_pier.jpg", IMAGES / "style" / "great_wave_met_large.jpg"
WORK, DOCS = ROOT / "bench" / "results" / "print", ROOT / "docs" / "bench"
PRINT, DISPLAY = WORK / "print.png", WORK / "display.png"
SIZE, BUDGET, MEMORY = 6000, "2h", "8G"
CROP = 640  # px of the print shown 1:1
SMALL_PAINTING = IMAGES / "style" / "starry_night.jpg"
# the W2 print: 3000 px (10 inches at 300 dpi) in the same 8 GB, tiled like the 6000 px one's last
# levels; 6000 px with W2 needs about 1.5x the Gram print's 1h45m on 2 cores
W2_SIZE, W2_BUDGET = 3000, "50m"
W2_PRINT, W2_DISPLAY = WORK / "print_w2.png", WORK / "display_w2.png"
STYLE_SIDE, STYLE_PAINTING_SIDE, STYLE_ITERATIONS = 1200, 400, 40  # the painting a third of the working size


def nst(*args: str) -> None:
    subprocess.run([*nst_command(), *args], check=True, cwd=ROOT)


def run() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    nst("stylize", str(PHOTO), str(PAINTING), "-o", str(PRINT), "--size", str(SIZE), "--time-budget", BUDGET,
        "--max-memory", MEMORY, "--report", str(WORK / "print.json"))


def display() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    nst("stylize", str(PHOTO), str(PAINTING), "-o", str(DISPLAY), "--report", str(WORK / "display.json"))


def run_w2() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    nst("stylize", str(PHOTO), str(PAINTING), "-o", str(W2_PRINT), "--size", str(W2_SIZE), "--style-loss", "w2",
        "--time-budget", W2_BUDGET, "--max-memory", MEMORY, "--report", str(WORK / "print_w2.json"))
    nst("stylize", str(PHOTO), str(PAINTING), "-o", str(W2_DISPLAY), "--style-loss", "w2",
        "--report", str(WORK / "display_w2.json"))


def breakdown(report: dict, size: int = SIZE) -> list[dict]:
    """Per level: iterations run, seconds, seconds per iteration (from the per-iteration history), and
    the iterations today's default schedule gives it."""
    from nst_ort.options.stylize import StylizeOptions

    defaults = [level.iterations for level in StylizeOptions(size=size).schedule()]
    rows = []
    for number, level in enumerate(report["levels"], start=1):
        steps = [step for step in report["iterations"] if step["level"] == number]
        seconds = steps[-1]["seconds"] if steps else 0.0  # each step's seconds: the level's time so far
        rows.append({"level": number, "size": level["size"], "plan": level["plan"], "iterations": len(steps),
                     "seconds": round(seconds, 1), "seconds_per_iteration": round(seconds / len(steps), 2) if steps else None,
                     "default_iterations": defaults[number - 1]})
    return rows


def memory_trace(levels: list[dict]) -> dict:
    """Peaks from the RSS samples (print_rss.log: `epoch VmHWM: kB VmRSS: kB`, one process after
    another) and, for the levels of the last process, from its timestamped log (print_ts.log)."""
    samples, restarts = [], []  # (epoch, RSS bytes); epochs where a (resumed) process started
    for line in (WORK / "print_rss.log").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[1] == "VmHWM:":
            samples.append((int(fields[0]), int(fields[4]) * 1024))
        elif line.startswith("# resumed") and len(fields) >= 3:
            restarts.append(int(fields[2]))
    result = {"peak_rss_bytes_sampled": max(rss for _, rss in samples), "samples": len(samples)}
    stamped = [line.split(" ", 1) for line in (WORK / "print_ts.log").read_text().splitlines() if " scale " in f" {line}"]
    ends = {}
    for stamp, text in stamped:
        ends[int(text.split()[1].split("/")[0])] = int(stamp)  # the last line of each level seen
    starts = sorted(ends.items())
    for (level, end), previous in zip(starts, [None, *starts[:-1]]):
        started = [stamp for stamp in restarts if stamp <= end]
        begin = previous[1] if previous else (started[-1] if started else None)
        inside = [rss for stamp, rss in samples if begin is not None and begin <= stamp <= end]
        if inside:  # a level whole in the trace (or from its process's start): targets and iterations
            levels[level - 1]["peak_rss_bytes_sampled"] = max(inside)
    return result


def figures() -> None:
    report = json.loads((WORK / "print.json").read_text())
    levels = breakdown(report)
    memory = memory_trace(levels)
    end = (WORK / "print.json").stat().st_mtime
    estimate = sum(row["seconds_per_iteration"] * row["default_iterations"] for row in levels
                   if row["seconds_per_iteration"] is not None)
    printed, shown = Image.open(PRINT).convert("RGB"), Image.open(DISPLAY).convert("RGB")
    reduced = printed.resize(shown.size, Image.Resampling.LANCZOS)
    difference = float(np.abs(np.asarray(reduced, np.float32) - np.asarray(shown, np.float32)).mean() / 255)
    box = save_crop_pair(printed, shown, DOCS / "print_6000_crop.jpg")
    whole = Image.new("RGB", (2 * shown.width + 16, shown.height), "white")
    whole.paste(reduced, (0, 0))
    whole.paste(shown, (shown.width + 16, 0))
    whole.save(DOCS / "print_6000_whole.jpg", quality=90)
    result = {"command": f"nst stylize {PHOTO.name} {PAINTING.name} -o print.png --size {SIZE} --time-budget {BUDGET} "
                         f"--max-memory {MEMORY}",
              "size": list(printed.size), "wall_seconds": report["total_seconds"], "peak_rss_bytes": report["peak_rss_bytes"],
              "interrupted": report["interrupted"], "final_loss": report["final_loss"], "levels": levels,
              "memory": memory, "eta": eta_accuracy(read_stamped(WORK / "print_ts.log"), end),
              "default_schedule_seconds_estimate": round(estimate),
              "crop_box": list(box), "display_size": list(shown.size),
              "mean_abs_difference_print_reduced_vs_display": round(difference, 4)}
    (DOCS / "print_6000.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def save_crop_pair(printed: Image.Image, shown: Image.Image, path: Path, crop: int = CROP) -> tuple[int, ...]:
    """A 1:1 crop of the print at the pier's end (real detail at print size) beside the same crop
    of the display result enlarged by Lanczos; returns the crop box."""
    left, top = printed.width // 3, printed.height * 23 // 50
    box = (left, top, left + crop, top + crop * 2 // 3)
    enlarged = shown.resize(printed.size, Image.Resampling.LANCZOS).crop(box)
    pair = Image.new("RGB", (2 * crop + 16, crop * 2 // 3), "white")
    pair.paste(printed.crop(box), (0, 0))
    pair.paste(enlarged, (crop + 16, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    pair.save(path, quality=90)
    return box


def w2_figures() -> None:
    """The W2 print's crop beside its display result enlarged, and its levels (docs/bench/print_w2*)."""
    report = json.loads((WORK / "print_w2.json").read_text())
    printed, shown = Image.open(W2_PRINT).convert("RGB"), Image.open(W2_DISPLAY).convert("RGB")
    box = save_crop_pair(printed, shown, DOCS / "print_w2_crop.jpg", crop=CROP * 3 // 4)
    result = {"command": f"nst stylize {PHOTO.name} {PAINTING.name} -o print_w2.png --size {W2_SIZE} --style-loss w2 "
                         f"--time-budget {W2_BUDGET} --max-memory {MEMORY}",
              "size": list(printed.size), "wall_seconds": report["total_seconds"],
              "peak_rss_bytes": report["peak_rss_bytes"], "interrupted": report["interrupted"],
              "final_loss": report["final_loss"], "levels": breakdown(report, W2_SIZE), "crop_box": list(box),
              "display_size": list(shown.size)}
    gram = {tuple(level["size"]): level for level in json.loads((DOCS / "print_6000.json").read_text())["levels"]}
    for level in result["levels"]:  # the Gram print's level of the same size, for its seconds per iteration
        same = gram.get(tuple(level["size"]))
        if same and level["seconds_per_iteration"]:
            level["gram_seconds_per_iteration"] = same["seconds_per_iteration"]
            level["w2_over_gram"] = round(level["seconds_per_iteration"] / same["seconds_per_iteration"], 2)
    (DOCS / "print_w2.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def style_resolution() -> None:
    """The same photo at STYLE_SIDE px with a painting a third of that size (a copy of
    SMALL_PAINTING reduced to STYLE_PAINTING_SIDE, like a 2000-px scan under a 6000-px print),
    twice side by side (one thread each, the same iterations): the painting enlarged to the
    working size (--style-upscale) and kept at its own pixels (the default). Writes a 1:1 crop
    of both."""
    WORK.mkdir(parents=True, exist_ok=True)
    painting = WORK / f"painting_{STYLE_PAINTING_SIDE}.png"
    small = Image.open(SMALL_PAINTING).convert("RGB")
    small.resize((STYLE_PAINTING_SIDE, round(small.height * STYLE_PAINTING_SIDE / small.width)),
                 Image.Resampling.LANCZOS).save(painting)
    command = nst_command()
    runs = {"native": [], "upscaled": ["--style-upscale"]}
    processes = [subprocess.Popen([*command, "stylize", str(PHOTO), str(painting), "-o", str(WORK / f"style_{name}.png"),
                                   "--size", str(STYLE_SIDE), "--iterations", str(STYLE_ITERATIONS), "--threads", "1",
                                   "--restart", "--report", str(WORK / f"style_{name}.json"), "-q", *extra], cwd=ROOT)
                 for name, extra in runs.items()]
    if any(process.wait() for process in processes):
        raise SystemExit("a style-resolution run failed")
    images = [Image.open(WORK / f"style_{name}.png").convert("RGB") for name in runs]
    width, height = images[0].size
    crop = CROP * 3 // 4
    left, top = width * 11 // 20, height * 2 // 5
    box = (left, top, left + crop, top + crop * 2 // 3)
    pair = Image.new("RGB", (2 * crop + 16, crop * 2 // 3), "white")
    for index, image in enumerate(images):
        pair.paste(image.crop(box), (index * (crop + 16), 0))
    DOCS.mkdir(parents=True, exist_ok=True)
    pair.save(DOCS / "style_resolution_crop.jpg", quality=90)
    reduced = [image.resize((width // 2, height // 2), Image.Resampling.LANCZOS) for image in images]
    whole = Image.new("RGB", (width + 16, height // 2), "white")
    for index, image in enumerate(reduced):
        whole.paste(image, (index * (width // 2 + 16), 0))
    whole.save(DOCS / "style_resolution_whole.jpg", quality=90)
    reports = {name: json.loads((WORK / f"style_{name}.json").read_text()) for name in runs}
    summary = {name: {"final_loss": report["final_loss"], "seconds": round(report["total_seconds"]),
                      "evaluations": report["evaluations"]} for name, report in reports.items()}
    summary["painting"], summary["painting_size"] = SMALL_PAINTING.name, list(Image.open(painting).size)
    summary["size"], summary["crop_box"] = [width, height], list(box)
    (DOCS / "style_resolution.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = {"run": run, "display": display, "figures": figures, "style": style_resolution, "w2": run_w2,
             "w2-figures": w2_figures}
    parser.add_argument("step", choices=list(steps))
    steps[parser.parse_args().step]()


if __name__ == "__main__":
    main()
