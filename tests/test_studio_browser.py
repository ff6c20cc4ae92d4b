"""The studio in a real headless Chromium (Debian's `chromium`, driven by Playwright with the
system browser): open the page, upload a photo and a painting, start a run, see the preview
change, stop, resume, see it finish in the history, make a small print. The screenshots in the
docs come from this test (NST_STUDIO_SCREENSHOTS=docs/studio)."""

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
    pictures = random_images(tmp_path, {"photo": (160, 120), "painting": (96, 96)}, seed=11)
    shots = Path(os.environ.get("NST_STUDIO_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(server)
        page.wait_for_selector("#option-size")
        page.screenshot(path=str(shots / "studio_empty.png"))
        page.set_input_files("#content", str(pictures["photo"]))
        page.set_input_files("#style", str(pictures["painting"]))
        page.fill("#option-size", "96")
        page.fill("#option-iterations", "400")
        page.click("summary")  # the advanced options
        page.fill("#option-scales", "1")
        page.fill("#option-threads", "1")
        page.click("#start")
        page.wait_for_function("Number(document.querySelector('#preview').dataset.loads || 0) >= 3", timeout=60_000)
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('running')")
        page.screenshot(path=str(shots / "studio_running.png"))
        page.click("#stop")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('stopped')", timeout=60_000)
        assert not page.is_disabled("#resume")
        page.click("#resume")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('done')", timeout=240_000)
        page.wait_for_selector("#history li[data-status=done]")
        page.fill("#print-size", "192")
        page.click("#print")
        page.wait_for_function("document.querySelector('#current-id').textContent.includes('print')")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('done')", timeout=240_000)
        page.wait_for_function("document.querySelectorAll('#history li[data-status=done]').length >= 2")
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(shots / "studio_history.png"))
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
        problems: list[str] = []
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("requestfailed", lambda request: None if closed_on_purpose(request) else problems.append(
                f"failed: {request.url} {request.failure}"))
            page.on("response", lambda response: problems.append(f"{response.status}: {response.url}")
                    if response.status >= 400 else None)
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
            assert label.startswith("Open photo \u00d7 painting, "), label  # the names the files were sent with
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
