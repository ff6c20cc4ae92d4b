"""The studio's screenshots in docs/studio/, from real runs: the real VGG16 (models/, `make
setup`), a real photo (Tübingen, ../shared/images) and gallery paintings, used in headless
Chromium as an artist would, at 1280 px and at 390 px (a phone).

    make studio-screenshots
    .venv/bin/python tools/studio_screenshots.py [--photo PATH] [--out docs/studio]

It takes about ten minutes on 2 cores (six real runs, small sizes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT.parent / "shared" / "images" / "content" / "tubingen.jpg"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]
WAIT = 900_000  # ms: a real run on a slow machine
DONE = "document.querySelector('#status').textContent.startsWith('done')"


def serve(workspace: Path) -> tuple[subprocess.Popen, str]:
    """`nst serve` on the real models, as a user starts it: (process, URL)."""
    process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--workspace", str(workspace)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        process.kill()
        raise SystemExit("nst serve did not start: run `make setup` (the real VGG16) and `pip install 'nst-ort[web]'`")
    return process, url


def run_and_wait(page) -> None:
    """Start, and wait for the new run (not the one shown before) to finish."""
    before = page.get_attribute("#preview", "data-run")
    page.click("#start")
    page.wait_for_function(f"document.querySelector('#preview').dataset.run !== {before!r}", timeout=60_000)
    page.wait_for_function(DONE, timeout=WAIT)


def top(page) -> None:
    page.evaluate("window.scrollTo(0, 0)")


def brush(page, rows: tuple[float, float]) -> None:
    """Brush across the mask canvas between two heights (shares of it)."""
    page.eval_on_selector("#mask-canvas", "canvas => canvas.scrollIntoView({ block: 'start' })")  # clear of the Start bar
    box = page.locator("#mask-canvas").bounding_box()
    top, bottom = (box["y"] + share * box["height"] for share in rows)
    y = top
    while y <= bottom:
        page.mouse.move(box["x"] + 2, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] - 2, y, steps=6)
        page.mouse.up()
        y += 12


def shoot(photo: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no Chromium: `make browser` installs Debian's")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        server, url = serve(Path(scratch) / "workspace")
        try:
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=chromium, args=FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url)
                page.wait_for_selector("#gallery .painting img")
                page.set_input_files("#content", str(photo))
                page.click("#gallery .painting[data-painting=starry_night]")
                page.fill("#option-size", "320")
                page.fill("#option-iterations", "80")
                page.wait_for_function("document.querySelector('#estimate').textContent.includes('About')")
                page.screenshot(path=str(out / "studio_choosing.png"))
                page.click("#start")
                page.wait_for_function("Number(document.querySelector('#preview').dataset.loads || 0) >= 4",
                                       timeout=WAIT)
                top(page)
                page.screenshot(path=str(out / "studio_running.png"))
                page.wait_for_function(DONE, timeout=WAIT)
                page.fill("#before-after", "50")
                top(page)
                page.screenshot(path=str(out / "studio_before_after.png"))

                page.click("#gallery .painting[data-painting=great_wave]")  # both paintings, masked
                page.click("#mask-painter summary")
                page.wait_for_selector("#mask-tools [data-tool='gallery:great_wave']")
                page.click("#mask-tools [data-tool='gallery:starry_night']")
                page.fill("#mask-size", "40")
                brush(page, (0.0, 0.45))  # the sky: the Starry Night
                page.click("#mask-tools [data-tool='gallery:great_wave']")
                page.click("#mask-fill")  # the rest: the Great Wave
                page.fill("#option-size", "256")
                page.fill("#option-iterations", "60")
                page.locator("#mask-painter").screenshot(path=str(out / "studio_masks.png"))
                run_and_wait(page)
                page.locator("#current").screenshot(path=str(out / "studio_masked.png"))

                page.click("#mask-clear")
                page.check("#separately")  # a sweep: two paintings x two strengths
                for name, value in {"size": "192", "iterations": "40", "style_weight": "1,5"}.items():
                    page.fill(f"#option-{name}", value)
                page.click("#start")
                page.wait_for_selector("#sweep-sheet:not([hidden])", timeout=4 * WAIT)
                page.locator("#sweep").screenshot(path=str(out / "studio_sweep.png"))
                runs = page.eval_on_selector_all("#sweep-grid figure", "cells => cells.map(cell => cell.dataset.run)")
                for run in (runs[0], runs[3]):
                    page.click(f"#history li[data-run='{run}'] button[aria-label^='Compare']")
                page.wait_for_selector("#compare:not([hidden])")
                page.fill("#compare-slider", "50")
                page.wait_for_function("document.querySelector('#compare-b').complete")
                top(page)
                page.screenshot(path=str(out / "studio_compare.png"))

                phone = browser.new_page(viewport={"width": 390, "height": 844})
                phone.goto(url + f"#run={runs[0]}")
                phone.wait_for_function(DONE, timeout=60_000)
                phone.wait_for_function("document.querySelector('#preview').complete")
                phone.screenshot(path=str(out / "studio_phone.png"))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=120)
    print(f"screenshots in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=PHOTO)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "studio")
    args = parser.parse_args()
    if not args.photo.is_file():
        raise SystemExit(f"no photo at {args.photo}: give one with --photo")
    os.environ.pop("NST_MODELS_DIR", None)  # the real models
    shoot(args.photo, args.out)


if __name__ == "__main__":
    main()
