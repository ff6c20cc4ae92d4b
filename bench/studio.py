"""The studio, measured: what the live preview costs a run (seconds per iteration with and
without a page watching, runs alternated), and the page's first load time in headless Chromium.

    .venv/bin/python bench/studio.py [--size 384] [--iterations 30] [--pairs 2] [--out docs/bench/studio.json]
    .venv/bin/python bench/studio.py page     # the table in docs/studio.md from docs/bench/studio.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import ROOT, nst_command, write_page_block  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
PAGE = ROOT / "docs" / "studio.md"


def seconds_per_iteration(report: dict) -> float:
    """The pace after the first iteration (which evaluates twice and warms up)."""
    seconds = [entry["seconds"] for entry in report["iterations"]]
    return (seconds[-1] - seconds[0]) / (len(seconds) - 1)


def one_run(url: str, options: dict, watch: bool) -> float:
    import httpx

    files = [("content", ("tubingen.jpg", (IMAGES / "content" / "tubingen.jpg").read_bytes())),
             ("style", ("starry_night.jpg", (IMAGES / "style" / "starry_night.jpg").read_bytes()))]
    run_id = httpx.post(url + "api/runs", files=files, data={"options": json.dumps(options)}, timeout=120).json()["id"]
    stream = None
    if watch:  # a page watching: the event stream open, the preview fetched at each event that has one
        def follow() -> None:
            with httpx.stream("GET", f"{url}api/runs/{run_id}/events", timeout=None) as events:
                for line in events.iter_lines():
                    if '"preview": true' in line:
                        httpx.get(f"{url}api/runs/{run_id}/image")
                    if '"status": "done"' in line or '"status": "failed"' in line:
                        return
        stream = threading.Thread(target=follow, daemon=True)
        stream.start()
    while httpx.get(f"{url}api/runs/{run_id}").json()["status"] not in ("done", "failed"):
        time.sleep(0.2)
    if stream is not None:
        stream.join(30)
    report = Path(os.environ["NST_BENCH_WORKSPACE"]) / "runs" / run_id / "report.json"
    return seconds_per_iteration(json.loads(report.read_text()))


def first_load_ms(url: str, repeats: int = 5) -> list[float]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    times = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(repeats):
            page = browser.new_page()
            started = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#option-size")
            times.append((time.perf_counter() - started) * 1000)
            page.close()
        browser.close()
    return times


def preview_ms(size: int, repeats: int = 20) -> float:
    """The preview's own work for a working image of `size` px (what a watching page adds every
    preview interval): pixels to an image, shrunk, written as JPEG; median milliseconds."""
    import numpy as np

    from nst_ort.studio.studio import PreviewReporter

    pixels = np.random.default_rng(0).random((3, size * 3 // 4, size), dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        reporter = PreviewReporter(None, "bench", Path(folder))  # type: ignore[arg-type]
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            reporter._write_preview(pixels)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def markdown_table(report: dict) -> str:
    rows = [f"Tübingen x Starry Night at {report['size']} px, {report['iterations']} iterations, one level, "
            f"{report['threads']} threads, real VGG16; runs alternated:", "",
            "| | seconds per iteration |", "|---|---:|"]
    rows += [f"| no page watching | {statistics.median(report['alone']):.3f} (runs: "
             f"{', '.join(f'{x:.3f}' for x in report['alone'])}) |",
             f"| a page watching (preview every {report['preview_every']} s) | {statistics.median(report['watched']):.3f} "
             f"(runs: {', '.join(f'{x:.3f}' for x in report['watched'])}) |",
             f"| watched / alone (medians) | {statistics.median(report['watched']) / statistics.median(report['alone']):.3f} |",
             "", f"The preview's own work (the picture to a {report['size']}-px JPEG) takes {report['preview_ms']:.1f} ms, once "
                 f"per {report['preview_every']} s while a page watches: "
                 f"{100 * report['preview_ms'] / 1000 / report['preview_every']:.2f}% of a run's time, far below the "
                 f"run-to-run noise of the timings above (the machine is shared).",
             "", f"The page's first load in headless Chromium (to the form built from the option schema): "
                 f"median {statistics.median(report['first_load_ms']):.0f} ms over {len(report['first_load_ms'])} loads."]
    return "\n".join(rows)


def main() -> None:
    if sys.argv[1:] == ["page"]:
        write_page_block("studio", PAGE, markdown_table, ROOT / "docs" / "bench" / "studio.json")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "studio.json")
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="nst-studio-bench-"))
    os.environ["NST_BENCH_WORKSPACE"] = str(workspace)
    server = subprocess.Popen([*nst_command(), "serve", "--workspace", str(workspace)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    url = server.stdout.readline().strip()
    options = {"size": args.size, "iterations": args.iterations, "scales": 1, "threads": args.threads}
    report = {"size": args.size, "iterations": args.iterations, "threads": args.threads, "preview_every": 1.5,
              "alone": [], "watched": [], "first_load_ms": []}
    try:
        one_run(url, {**options, "iterations": 3}, False)  # warm-up: model opened, gradient graph cached
        for _ in range(args.pairs):
            for watch in (False, True):
                report["watched" if watch else "alone"].append(one_run(url, options, watch))
                args.out.write_text(json.dumps(report, indent=2) + "\n")
                print(report, flush=True)
        report["first_load_ms"] = first_load_ms(url)
        report["preview_ms"] = preview_ms(args.size)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(report, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=120)
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    main()
