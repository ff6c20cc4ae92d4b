"""The studio in a real headless Chromium (Debian's `chromium`, driven by Playwright with the
system browser): open the page, upload a photo and a painting, start a run, see the preview
change, stop, resume, see it finish in the history, make a small print; paint masks, sweep,
compare. (The docs' screenshots come from real runs: tools/studio_screenshots.py.)"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api")
pytest.importorskip("starlette")
if CHROMIUM is None:
    pytest.skip("no system Chromium (make test installs Debian's chromium)", allow_module_level=True)

from tests.helpers import ROOT  # noqa: E402
from tests.tiny import random_images  # noqa: E402

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture()
def server(tiny_models_dir, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(tiny_models_dir))
    process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--workspace", str(tmp_path / "workspace"),
                                "--preview-every", "0.3"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), process.stderr.read()
    yield url
    process.terminate()
    process.wait(timeout=60)
    assert process.returncode is not None


def test_the_studio_in_a_real_browser(server, tmp_path):
    """A whole session (open, choose, run, stop, resume, download, print, compare) with no
    failed request and no console error."""
    pictures = random_images(tmp_path, {"photo": (160, 120), "painting": (96, 96)}, seed=11)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        problems = watch_problems(page)
        page.goto(server)
        page.wait_for_selector("#option-size")
        page.set_input_files("#content", str(pictures["photo"]))
        page.set_input_files("#style", str(pictures["painting"]))
        page.fill("#option-size", "96")
        page.fill("#option-iterations", "400")
        page.click("#advanced-box summary")  # the advanced options
        page.fill("#option-scales", "1")
        page.fill("#option-threads", "1")
        page.click("#start")
        page.wait_for_function("Number(document.querySelector('#preview').dataset.loads || 0) >= 3", timeout=60_000)
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('running')")
        page.click("#stop")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('stopped')", timeout=60_000)
        assert not page.is_disabled("#resume")
        page.click("#resume")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('done')", timeout=240_000)
        page.wait_for_selector("#history li[data-status=done]")
        with page.expect_download() as download:
            page.click("#download")
        assert download.value.suggested_filename == "photo_x_painting.png"
        page.fill("#print-size", "192")
        page.click("#print")
        page.wait_for_function("document.querySelector('#current-id').textContent.includes('print')")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('done')", timeout=240_000)
        page.wait_for_function("document.querySelectorAll('#history li[data-status=done]').length >= 2")
        for button in page.locator("#history button[aria-label^='Compare']").all()[:2]:
            button.click()
        page.wait_for_selector("#compare:not([hidden])")
        page.wait_for_function("document.querySelector('#compare-b').complete && document.querySelector('#compare-a').complete")
        assert problems == [], problems
        browser.close()


def _serve(workspace: Path, models: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(models))
    process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--workspace", str(workspace), "--preview-every",
                                "0.3"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def closed_on_purpose(request) -> bool:
    """A request the browser itself cancelled (an event stream the page closed, a picture
    superseded by a newer one, a reload): aborted, not failed."""
    return "ERR_ABORTED" in (request.failure or "")


def test_the_page_follows_the_run_under_way_on_any_screen_and_by_keyboard(tiny_models_dir, tmp_path):
    """A run started by a script shows live on a page opened afterwards, without a click; a
    reload and a second tab keep it; at 390 px nothing scrolls sideways; a past run opens by
    keyboard; a stopped server is said within 5 s and the page comes back with it."""
    import json

    import httpx

    pictures = random_images(tmp_path, {"photo": (160, 120), "painting": (96, 96)}, seed=12)
    files = [("content", ("photo.png", pictures["photo"].read_bytes())),
             ("style", ("painting.png", pictures["painting"].read_bytes()))]
    server, url = _serve(tmp_path / "workspace", tiny_models_dir)
    try:
        quick = httpx.post(url + "api/runs", files=files, data={"options": json.dumps(
            {"size": 64, "iterations": 3, "scales": 1, "threads": 1})}).json()["id"]
        long = httpx.post(url + "api/runs", files=files, data={"options": json.dumps(
            {"size": 96, "iterations": 100000, "scales": 1, "threads": 1})}).json()["id"]
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 390, "height": 844})
            problems = watch_problems(page)
            page.goto(url)
            page.wait_for_selector(f"#preview[data-run='{long}']", timeout=60_000)
            page.wait_for_function("document.querySelector('#status').textContent.startsWith('running')",
                                   timeout=60_000)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.reload()
            page.wait_for_selector(f"#preview[data-run='{long}']", timeout=30_000)
            second = browser.new_page(viewport={"width": 1280, "height": 800})
            second.goto(url)
            second.wait_for_selector(f"#preview[data-run='{long}']", timeout=30_000)
            page.wait_for_selector(f"#history li[data-run='{quick}'] .open")
            page.focus(f"#history li[data-run='{quick}'] .open")
            page.keyboard.press("Enter")
            page.wait_for_selector(f"#preview[data-run='{quick}']", timeout=30_000)
            label = page.get_attribute(f"#history li[data-run='{quick}'] .open", "aria-label")
            assert label.startswith("Open Photo \u00d7 Painting, "), label  # the names the files were sent with
            assert problems == [], problems
            server.terminate()
            server.wait(timeout=60)
            page.wait_for_selector("#lost", state="visible", timeout=5_000)
            server, again = _serve(tmp_path / "workspace", tiny_models_dir)
            assert again == url
            page.wait_for_selector("#lost", state="hidden", timeout=15_000)
            browser.close()
    finally:
        server.kill()
        server.wait(timeout=60)


@contextlib.contextmanager
def studio_page(workspace: Path, models: Path):
    """A studio served on `workspace` and a 1280 px page opened on it, its gallery loaded:
    (page, url); the server stops afterwards."""
    server, url = _serve(workspace, models)
    try:
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            page.wait_for_selector("#gallery .painting img")
            yield page, url
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_a_gallery_painting_chosen_on_the_page_makes_the_picture(tiny_models_dir, tmp_path):
    import httpx

    pictures = random_images(tmp_path, {"photo": (160, 120)}, seed=13)
    with studio_page(tmp_path / "workspace", tiny_models_dir) as (page, url):
        page.set_input_files("#content", str(pictures["photo"]))
        page.focus("#gallery .painting[data-painting=great_wave]")
        page.keyboard.press("Enter")  # chosen by keyboard
        assert page.get_attribute("#gallery .painting[data-painting=great_wave]", "aria-pressed") == "true"
        page.wait_for_function("document.querySelector('#estimate').textContent.includes('Wh')")
        page.fill("#option-size", "64")
        page.fill("#option-iterations", "3")
        page.click("#start")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('done')", timeout=120_000)
        run_id = page.get_attribute("#preview", "data-run")
        record = httpx.get(f"{url}api/runs/{run_id}").json()
    assert record["styles"] == ["1_great_wave.jpg"] and record["status"] == "done"


def test_files_show_as_thumbnails_drop_in_and_again_keeps_what_is_not_changed(tiny_models_dir, tmp_path):
    import httpx

    pictures = random_images(tmp_path, {"photo": (160, 120), "a": (64, 64), "b": (64, 64)}, seed=14)
    with studio_page(tmp_path / "workspace", tiny_models_dir) as (page, url):
        page.set_input_files("#style", [str(pictures["a"]), str(pictures["b"])])
        assert page.locator("#style-picked .picked").count() == 2
        page.click("#style-picked button[aria-label='Remove a.png']")
        page.wait_for_function("document.querySelector('#style').files.length === 1")
        assert page.locator("#style-picked .picked").count() == 1
        dropped = page.evaluate_handle("""async () => {
            const blob = await (await fetch('/api/paintings/wanderer/image')).blob();
            const transfer = new DataTransfer();
            transfer.items.add(new File([blob], 'dropped photo.jpg', { type: 'image/jpeg' }));
            return transfer; }""")
        page.dispatch_event("label:has(#content)", "drop", {"dataTransfer": dropped})
        page.wait_for_function("document.querySelector('#content').files.length === 1")
        assert page.locator("#content-picked .picked").count() == 1
        page.fill("#option-size", "64")
        page.fill("#option-iterations", "3")
        page.click("#start")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('done')", timeout=120_000)
        first = page.get_attribute("#preview", "data-run")
        page.wait_for_selector(f"#history li[data-run='{first}']")
        page.click(f"#history li[data-run='{first}'] button[aria-label^='Make']")  # again
        page.wait_for_selector("#again-note:not([hidden])")
        page.evaluate("for (const id of ['content', 'style']) document.getElementById(id).value = ''")  # new painting
        page.click("#gallery .painting[data-painting=water_lilies]")
        page.click("#start")
        page.wait_for_function(f"document.querySelector('#preview').dataset.run !== '{first}'")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('done')", timeout=120_000)
        second = page.get_attribute("#preview", "data-run")
        earlier, again = (httpx.get(f"{url}api/runs/{run}").json() for run in (first, second))
    assert earlier["content"] == again["content"] == "dropped_photo.jpg"  # the photo kept
    assert earlier["styles"] == ["1_b.png"] and again["styles"] == ["1_water_lilies.jpg"]


def two_colour_paintings(folder: Path) -> dict[str, Path]:
    """A gray photo and two paintings, one red and one blue, so where each went shows in the result."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    files = {"photo": folder / "photo.png", "red": folder / "red.png", "blue": folder / "blue.png"}
    Image.fromarray((128 + 20 * rng.standard_normal((48, 64, 3))).clip(0, 255).astype(np.uint8)).save(files["photo"])
    for name, channel in (("red", 0), ("blue", 2)):
        texture = np.full((64, 64, 3), 30.0)
        texture[..., channel] = 200
        Image.fromarray((texture + 40 * rng.standard_normal(texture.shape)).clip(0, 255).astype(np.uint8)).save(files[name])
    return files


def red_minus_blue(png: bytes) -> tuple[float, float]:
    """The mean of red minus blue in the left and the right half of a picture."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    difference = pixels[..., 0] - pixels[..., 2]
    half = difference.shape[1] // 2
    return float(difference[:, :half].mean()), float(difference[:, half:].mean())


MASKED_RUN = {"size": "64", "iterations": "30", "scales": "1", "threads": "1", "style_weight": "20"}


def test_masks_painted_in_the_page_and_sent_through_the_api_put_each_painting_where_it_goes(tiny_models_dir, tmp_path):
    """The left half brushed with the red painting and the rest filled with the blue one: the
    picture is redder on the left; masks uploaded through the API the other way round: bluer."""
    import json

    import httpx

    files = two_colour_paintings(tmp_path)
    with studio_page(tmp_path / "workspace", tiny_models_dir) as (page, url):
        page.set_input_files("#content", str(files["photo"]))
        page.set_input_files("#style", [str(files["red"]), str(files["blue"])])
        page.click("#mask-painter summary")
        page.wait_for_selector("#mask-canvas:not([hidden])")
        page.wait_for_selector("#mask-tools [data-tool='file:blue.png']")
        page.click("#mask-tools [data-tool='file:red.png']")
        page.evaluate("(() => { const size = document.getElementById('mask-size'); size.value = 30; "
                      "size.dispatchEvent(new Event('input')); })()")
        page.eval_on_selector("#mask-canvas", "canvas => canvas.scrollIntoView({ block: 'start' })")  # clear of the Start bar
        box = page.locator("#mask-canvas").bounding_box()
        for row in range(0, int(box["height"]) + 15, 15):  # brush the left half, stroke by stroke
            page.mouse.move(box["x"] + 2, box["y"] + row)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] / 2 - 16, box["y"] + row, steps=4)
            page.mouse.up()
        page.click("#mask-tools [data-tool='file:blue.png']")
        page.click("#mask-fill")  # the rest: the blue painting
        page.click("#advanced-box summary")
        for name, value in MASKED_RUN.items():
            page.fill(f"#option-{name}", value)
        page.click("#start")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('done')", timeout=120_000)
        run_id = page.get_attribute("#preview", "data-run")
        assert page.locator("#inputs figure").count() == 5  # the photo, two paintings, two masks
        painted = httpx.get(f"{url}api/runs/{run_id}/image").content
        record = httpx.get(f"{url}api/runs/{run_id}").json()
        uploads = [("content", ("photo.png", files["photo"].read_bytes())),
                   *[("style", (f"{name}.png", files[name].read_bytes())) for name in ("red", "blue")],
                   *[("mask", (f"{side}.png", mask)) for side, mask in zip(("right", "left"), halves(64, 48))]]
        sent = httpx.post(url + "api/runs", files=uploads, data={"options": json.dumps(MASKED_RUN)}).json()["id"]
        page.wait_for_selector(f"#history li[data-run='{sent}'][data-status=done]", timeout=120_000)
        uploaded = httpx.get(f"{url}api/runs/{sent}/image").content
    assert len(record["masks"]) == 2
    left, right = red_minus_blue(painted)
    assert left > right + 10, (left, right)
    left, right = red_minus_blue(uploaded)  # the red painting on the right this time
    assert right > left + 10, (left, right)


def halves(width: int, height: int) -> list[bytes]:
    """Two masks as PNG bytes: the right half white, then the left half."""
    import io

    from PIL import Image

    masks = []
    for box in ((width // 2, 0, width, height), (0, 0, width // 2, height)):
        mask = Image.new("L", (width, height), 0)
        mask.paste(255, box)
        data = io.BytesIO()
        mask.save(data, format="PNG")
        masks.append(data.getvalue())
    return masks


def watch_problems(page) -> list[str]:
    """Every console error, failed request and HTTP error response of `page`, as they come."""
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("requestfailed", lambda request: None if closed_on_purpose(request) else problems.append(
        f"failed: {request.url} {request.failure}"))
    page.on("response", lambda response: problems.append(f"{response.status}: {response.url}")
            if response.status >= 400 else None)
    return problems


def test_a_sweep_shows_as_a_labelled_grid_saved_as_one_sheet_and_runs_compare_at_full_width(tiny_models_dir, tmp_path):
    """Two gallery paintings x two strengths make four runs, shown labelled in a grid and saved
    as one sheet; two of them compared, labelled, with a wipe; a run's picture wiped against its photo."""
    import io

    import httpx
    from PIL import Image

    from nst_ort.io.sheet import GAP, LABEL_HEIGHT

    pictures = random_images(tmp_path, {"photo": (160, 120)}, seed=15)
    with studio_page(tmp_path / "workspace", tiny_models_dir) as (page, url):
        problems = watch_problems(page)
        page.set_input_files("#content", str(pictures["photo"]))
        for name in ("starry_night", "great_wave"):
            page.click(f"#gallery .painting[data-painting={name}]")
        page.check("#separately")
        page.fill("#option-size", "48")
        page.fill("#option-iterations", "3")
        page.fill("#option-style_weight", "1,3")
        page.click("#start")
        page.wait_for_selector("#sweep-sheet:not([hidden])", timeout=180_000)
        captions = page.locator("#sweep-grid figcaption").all_text_contents()
        assert captions == ["The Starry Night, strength 1", "The Starry Night, strength 3",
                            "The Great Wave off Kanagawa, strength 1", "The Great Wave off Kanagawa, strength 3"], captions
        sheet = Image.open(io.BytesIO(httpx.get(url.rstrip("/") + page.get_attribute("#sweep-sheet", "href")).content))
        cell = 256 + GAP
        assert sheet.size == (2 * cell + GAP, 2 * (cell + LABEL_HEIGHT) + GAP)  # a column per strength, a row per painting
        runs = page.eval_on_selector_all("#sweep-grid figure", "cells => cells.map((cell) => cell.dataset.run)")
        page.wait_for_selector(f"#history li[data-run='{runs[3]}']")
        for run in runs[:2]:
            page.click(f"#history li[data-run='{run}'] button[aria-label^='Compare']")
        page.wait_for_selector("#compare:not([hidden])")
        assert page.text_content("#compare-label-a").startswith("Photo \u00d7 The Starry Night")
        assert page.locator("#compare-a").evaluate("image => image.complete && image.naturalWidth > 0")
        page.click(f"#sweep-grid figure[data-run='{runs[0]}'] button")
        page.wait_for_selector(f"#preview[data-run='{runs[0]}']")
        page.wait_for_function("document.querySelector('#before').complete && document.querySelector('#before').naturalWidth > 0")
        page.fill("#before-after", "50")
        assert page.eval_on_selector("#before", "image => image.style.clipPath") == "inset(0px 50% 0px 0px)"
        assert problems == [], problems
