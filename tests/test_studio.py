"""The studio's HTTP API with a test client: start, progress stream, stop, resume, history,
print, bad input beside its field, traversal attempts, tokens, paths named in requests,
cross-site and rebinding requests, the workspace lock; the same job code as the CLI."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("httpx")
pytest.importorskip("multipart")

from starlette.testclient import TestClient  # noqa: E402

from nst_ort.io.images import read_settings  # noqa: E402
from nst_ort.studio.app import create_app  # noqa: E402
from nst_ort.studio.guard import served_hosts  # noqa: E402
from nst_ort.studio.studio import Studio  # noqa: E402
from nst_ort.studio.workspace import Workspace  # noqa: E402
from tests.helpers import declared_png, wait_until  # noqa: E402
from tests.tiny import random_images  # noqa: E402


@pytest.fixture()
def pictures(tmp_path) -> dict[str, bytes]:
    paths = random_images(tmp_path, {"content": (64, 48), "style": (40, 40)}, seed=9)
    return {name: path.read_bytes() for name, path in paths.items()}


@pytest.fixture()
def studio(tiny_models_dir, tmp_path):
    running = Studio(Workspace(tmp_path / "workspace"), tiny_models_dir, preview_seconds=0.0)
    running.start()
    yield running
    running.close()


PORT = 8765  # the port the test client's studio says it listens on
ORIGIN = f"http://127.0.0.1:{PORT}"


def local_client(studio, token=None) -> TestClient:
    """A client of the studio as a browser on this machine reaches it (Host 127.0.0.1:PORT)."""
    return TestClient(create_app(studio, token, hosts=served_hosts("127.0.0.1", PORT)), base_url=ORIGIN)


@pytest.fixture()
def client(studio):
    with local_client(studio) as test_client:
        yield test_client


def submit(client, pictures, options=None, **files):
    files = files or {"content": ("photo.png", pictures["content"]), "style": ("starry night.png", pictures["style"])}
    return client.post("/api/runs", files=[(name, value) for name, value in files.items()],
                       data={"options": json.dumps(options or {"size": 48, "iterations": 5, "threads": 1})})


def wait_for(client, run_id, statuses, seconds=60.0) -> dict:
    deadline = time.time() + seconds
    while time.time() < deadline:
        run = client.get(f"/api/runs/{run_id}").json()
        if run["status"] in statuses:
            return run
        time.sleep(0.05)
    raise AssertionError(f"{run_id} still {run['status']}")


def test_a_run_goes_from_upload_to_history_with_its_settings(client, pictures, studio):
    created = submit(client, pictures)
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    run = wait_for(client, run_id, ("done", "failed"))
    assert run["status"] == "done", run
    assert run["content"] == "photo.png" and run["styles"] == ["1_starry_night.png"]
    image = client.get(f"/api/runs/{run_id}/image")
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size == (48, 36)
    assert read_settings(studio.workspace.folder(run_id) / "result.png")["options"]["iterations"] == 5
    download = client.get(f"/api/runs/{run_id}/image?download=1")
    assert "attachment" in download.headers["content-disposition"]
    history = client.get("/api/runs").json()
    assert [entry["id"] for entry in history] == [run_id] and history[0]["progress"]["iteration"] == 5


def test_the_event_stream_tells_progress_and_the_end(client, pictures):
    run_id = submit(client, pictures, {"size": 48, "iterations": 40, "threads": 1}).json()["id"]
    seen = []
    with client.stream("GET", f"/api/runs/{run_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if seen[-1].get("event") == "status" and seen[-1]["status"] in ("done", "failed"):
                    break
    progress = [event for event in seen if event["event"] == "progress"]
    assert progress and progress[-1]["iteration"] == progress[-1]["iterations"]
    assert any(event["preview"] for event in progress)  # a page watched: previews were written
    assert seen[-1]["status"] == "done"


def test_stop_keeps_the_best_image_and_resume_goes_on_from_where_it_stopped(client, pictures, studio):
    run_id = submit(client, pictures, {"size": 64, "iterations": 3000, "scales": 1, "threads": 1}).json()["id"]
    progress = lambda: client.get(f"/api/runs/{run_id}").json()["progress"].get("iteration", 0)  # noqa: E731
    wait_until(lambda: progress() >= 3, what="three iterations")
    client.post(f"/api/runs/{run_id}/stop")
    run = wait_for(client, run_id, ("stopped",))
    folder = studio.workspace.folder(run_id)
    assert (folder / "result.png").is_file() and (folder / "job.nst-run" / "checkpoint.npz").is_file()
    stopped_at = run["progress"]["iteration"]
    assert client.post(f"/api/runs/{run_id}/resume").json()["status"] == "queued"
    # the resumed run reports progress again: from where it stopped (a fresh start would count from 1)
    wait_until(lambda: progress() != stopped_at, what="progress after the resume")
    first_after = progress()
    client.post(f"/api/runs/{run_id}/stop")  # and once more: it stops again, kept to resume
    again = wait_for(client, run_id, ("stopped", "done"))
    assert stopped_at < first_after <= again["progress"]["iteration"], (stopped_at, first_after, again["progress"])


def test_a_print_is_the_upscale_job_of_a_finished_run(client, pictures):
    run_id = submit(client, pictures).json()["id"]
    wait_for(client, run_id, ("done",))
    made = client.post(f"/api/runs/{run_id}/print", json={"size": 96, "time_budget": "5m"})
    assert made.status_code == 201, made.text
    print_run = wait_for(client, made.json()["id"], ("done", "failed"))
    assert print_run["status"] == "done" and print_run["kind"] == "print" and print_run["parent"] == run_id
    image = client.get(f"/api/runs/{print_run['id']}/image")
    assert max(Image.open(io.BytesIO(image.content)).size) == 96
    refused = client.post(f"/api/runs/{run_id}/print", json={"size": 32})
    assert refused.status_code == 400 and "not larger" in refused.json()["error"]


@pytest.mark.parametrize("options, files, field, fragment", [
    ({"style_weight": -1}, None, "style_weight", "style weight must be > 0"),
    ({"size": "big"}, None, "size", "size must be a whole number"),
    ({"colour": "red"}, None, "colour", "unknown option 'colour'"),
    ({"max_memory": "64M", "size": 4000, "tile": 0}, None, "max_memory", "max memory"),
    (None, {"content": ("notes.png", b"hello"), "style": ("s.png", b"x")}, "content", "not an image file"),
    (None, {"style": ("s.png", b"x")}, "content", "choose a photo"),
])
def test_bad_input_is_one_line_beside_its_field(client, pictures, options, files, field, fragment, studio):
    response = submit(client, pictures, options, **(files or {}))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["field"] == field and fragment in body["error"] and "\n" not in body["error"]
    assert "--" not in body["error"]  # the page's words, not the command line's
    assert client.get("/api/runs").json() == []  # nothing was queued, nothing kept
    assert list(studio.workspace.runs.iterdir()) == []


def test_a_declared_bomb_is_refused_before_decoding(client, pictures, tmp_path):
    bomb = tmp_path / "bomb.png"
    declared_png(bomb, 30000, 30000)
    response = submit(client, pictures, {"size": 64, "max_memory": "1G"},
                      content=("bomb.png", bomb.read_bytes()), style=("s.png", pictures["style"]))
    assert response.status_code == 400 and response.json()["field"] in ("content", "size", "max_memory")


@pytest.mark.parametrize("path", ["/api/runs/..%2F..%2Fetc%2Fpasswd", "/api/runs/../../etc/passwd/image",
                                  "/api/runs/%2e%2e/image", "/static/..%2F..%2Fcli.py", "/static/main.js%00.png",
                                  "/api/runs/0123456789ab/image"])
def test_nothing_outside_the_workspace_is_served(client, path):
    response = client.get(path)
    assert response.status_code in (404, 400), (path, response.status_code)
    assert b"root:" not in response.content and b"def main" not in response.content


def test_delete_removes_a_finished_run_and_not_a_running_one(client, pictures):
    run_id = submit(client, pictures).json()["id"]
    wait_for(client, run_id, ("done",))
    assert client.delete(f"/api/runs/{run_id}").status_code == 204
    assert client.get(f"/api/runs/{run_id}").status_code == 404


def test_a_lan_studio_needs_its_token(studio):
    with local_client(studio, token="secret") as client:
        assert client.get("/api/runs").status_code == 403
        assert client.get("/api/runs?token=secret").status_code == 200
        assert client.get("/?token=wrong").status_code == 403
        assert client.get("/static/main.js").status_code == 200  # the page's code holds no data: its modules load
        assert client.get("/api/runs/0123456789ab/inputs/a.png").status_code == 403


def test_a_restart_offers_interrupted_runs_for_resume(tiny_models_dir, tmp_path, pictures):
    workspace = Workspace(tmp_path / "workspace")
    first = Studio(workspace, tiny_models_dir)
    record = first.submit(("p.png", pictures["content"]), [("s.png", pictures["style"])], {"size": 48})
    workspace.save(type(record)(**{**record.public(), "status": "running"}))  # as a killed server left it
    second = Studio(workspace, tiny_models_dir)
    second.start()
    try:
        assert workspace.load(record.id).status in ("stopped",)
        assert "restart" in workspace.load(record.id).error
    finally:
        second.close()


def test_sigterm_stops_the_server_and_the_run_keeps_its_image_and_checkpoint(tiny_models_dir, tmp_path, pictures):
    import os
    import signal
    import subprocess
    import sys

    import httpx

    from tests.helpers import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(tiny_models_dir))
    command = [sys.executable, "-m", "cli", "serve", "--workspace", str(tmp_path / "workspace")]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()
    created = httpx.post(url + "api/runs", files=[("content", ("p.png", pictures["content"])),
                                                  ("style", ("s.png", pictures["style"]))],
                         data={"options": json.dumps({"size": 64, "iterations": 5000, "scales": 1, "threads": 1})})
    run_id = created.json()["id"]
    deadline = time.time() + 60
    while not httpx.get(f"{url}api/runs/{run_id}").json()["progress"].get("iteration") and time.time() < deadline:
        time.sleep(0.05)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    assert server.returncode == 143, server.stderr.read()  # 128 + SIGTERM, as the shell expects
    assert "kept its best image" in server.stderr.read()
    folder = tmp_path / "workspace" / "runs" / run_id
    record = json.loads((folder / "studio.json").read_text())
    assert record["status"] == "stopped" and record["resume"] is True
    assert (folder / "result.png").is_file() and (folder / "job.nst-run" / "checkpoint.npz").is_file()


def test_again_runs_with_the_inputs_of_an_earlier_run(client, pictures):
    first = submit(client, pictures).json()["id"]
    wait_for(client, first, ("done",))
    again = client.post("/api/runs", data={"inputs_of": first, "options": json.dumps({"size": 32, "iterations": 2})})
    assert again.status_code == 201, again.text
    run = wait_for(client, again.json()["id"], ("done", "failed"))
    assert run["status"] == "done" and run["content"] == "photo.png" and run["options"]["size"] == 32
    assert client.post("/api/runs", data={"inputs_of": "../../etc", "options": "{}"}).status_code == 404


# ---- files named in requests (issue 31) ------------------------------------------------------------

def file_naming_options() -> list[str]:
    """Every option that names a file: the schema's (`names_file`) and the command line's own
    parameters typed Path (outputs, masks, checkpoint, report, gif, models, weights ...)."""
    import inspect

    from nst_ort.cli import app
    from nst_ort.options.stylize import StylizeOptions
    from nst_ort.options.schema import file_options

    names = {spec.name for spec in file_options(StylizeOptions)}
    for command in app.registered_commands:
        names |= {parameter.name for parameter in inspect.signature(command.callback).parameters.values()
                  if "pathlib.Path" in str(parameter.annotation)}
    return sorted(names)


@pytest.mark.parametrize("name", file_naming_options())
def test_no_path_from_a_request_is_opened(client, pictures, tmp_path, name, studio):
    secret = tmp_path / "secret.png"
    secret.write_bytes(pictures["style"])  # an image the server could read
    answers = []
    for path in (str(secret), "/etc/passwd", str(tmp_path / "missing.png"), [str(secret)]):
        response = submit(client, pictures, {"size": 48, "iterations": 2, name: path})
        assert response.status_code == 400, (name, path, response.text)
        body = response.json()
        assert body["field"] == name and "\n" not in body["error"], body
        answers.append(body["error"].replace(str(path), "PATH"))
    assert len(set(answers[:3])) == 1, answers  # the same answer whether the file exists or not
    assert client.get("/api/runs").json() == [] and list(studio.workspace.runs.iterdir()) == []


def masks(width: int, height: int) -> list[bytes]:
    """Two masks: the left half white, then the right half."""
    left = Image.new("L", (width, height))
    left.paste(255, (0, 0, width // 2, height))
    right = Image.eval(left, lambda value: 255 - value)
    pngs = []
    for mask in (left, right):
        data = io.BytesIO()
        mask.save(data, format="PNG")
        pngs.append(data.getvalue())
    return pngs


def test_masks_go_one_per_painting_in_order_and_init_may_name_an_upload(client, pictures, studio):
    left, right = masks(64, 48)
    files = [("content", ("photo.png", pictures["content"])), ("style", ("a.png", pictures["style"])),
             ("style", ("b.png", pictures["content"])), ("mask", ("left.png", left)), ("mask", ("right.png", right))]
    options = {"size": 48, "iterations": 2, "init": "b.png"}  # start from the second painting
    created = client.post("/api/runs", files=files, data={"options": json.dumps(options)})
    assert created.status_code == 201, created.text
    run = wait_for(client, created.json()["id"], ("done", "failed"))
    assert run["status"] == "done", run
    settings = read_settings(studio.workspace.folder(run["id"]) / "result.png")
    assert settings["masks"] == ["mask1_left.png", "mask2_right.png"] and settings["options"]["init"] == "2_b.png"
    estimate = client.post("/api/estimate", json={"print_of": run["id"], "size": 64})  # its masks are found
    assert estimate.status_code == 200 and estimate.json()["words"].startswith("About "), estimate.text
    again = client.post("/api/runs", data={"inputs_of": run["id"], "options": json.dumps(run["options"])})
    made = client.post(f"/api/runs/{run['id']}/print", json={"size": 64})  # its masks go with it
    for answer in (again, made):
        assert answer.status_code == 201, answer.text
        assert wait_for(client, answer.json()["id"], ("done", "failed"))["status"] == "done"
        later = studio.workspace.folder(answer.json()["id"]) / "result.png"
        assert read_settings(later)["masks"] == ["mask1_left.png", "mask2_right.png"]

    one_mask = client.post("/api/runs", files=files[:4], data={"options": json.dumps({"size": 48})})
    assert one_mask.status_code == 400 and one_mask.json()["field"] == "mask", one_mask.text
    assert "one mask per painting" in one_mask.json()["error"]
    not_an_image = client.post("/api/runs", files=[*files[:4], ("mask", ("m.png", b"x"))], data={"options": "{}"})
    assert not_an_image.status_code == 400 and not_an_image.json()["field"] == "mask", not_an_image.text
    stray = client.post("/api/runs", files=[*files, ("output", ("out.png", left))], data={"options": "{}"})
    assert stray.status_code == 400 and stray.json()["field"] == "output", stray.text
    assert len(client.get("/api/runs").json()) == 3


def test_init_takes_its_words_and_refuses_a_name_no_upload_has(client, pictures):
    assert submit(client, pictures, {"size": 48, "iterations": 2, "init": "noise"}).status_code == 201
    refused = submit(client, pictures, {"size": 48, "iterations": 2, "init": "other.png"})
    assert refused.status_code == 400 and refused.json()["field"] == "init"


def zero_png(path: Path, width: int, height: int) -> None:
    """A real PNG of width x height black 1-bit pixels: its IDAT is zlib of zeros (a few hundred KB)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, rows = zlib.compressobj(), b"\0" * (1 + (width + 7) // 8) * 1000
    data = b"".join(packer.compress(rows) for _ in range(height // 1000)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


@pytest.mark.parametrize("make", [declared_png, zero_png])
def test_a_bomb_is_said_to_be_too_large_with_its_declared_size(client, pictures, tmp_path, make):
    bomb = tmp_path / "bomb.png"
    make(bomb, 30000, 30000)
    response = submit(client, pictures, content=("bomb.png", bomb.read_bytes()), style=("s.png", pictures["style"]))
    body = response.json()
    assert response.status_code == 400 and body["field"] == "content", body
    assert "too large" in body["error"] and "30000x30000" in body["error"] and "\n" not in body["error"]


# ---- cross-site requests and DNS rebinding (issue 31) ----------------------------------------------

def routes(app, methods: set[str], run_id: str) -> list[tuple[str, str]]:
    """(method, path) of every route of the app answering one of `methods`, for run `run_id`."""
    return [(method, route.path.replace("{id}", run_id).replace("{name}", "main.js"))
            for route in app.routes for method in sorted(route.methods & methods)]


def test_another_site_cannot_change_anything(client, pictures, studio):
    run_id = submit(client, pictures).json()["id"]
    done = wait_for(client, run_id, ("done",))
    changing = routes(client.app, {"POST", "PUT", "PATCH", "DELETE"}, run_id)
    assert {path for _, path in changing} >= {"/api/runs", f"/api/runs/{run_id}/stop", f"/api/runs/{run_id}"}
    for foreign in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": f"http://evil.example:{PORT}"},
                    {"Referer": "http://evil.example/page.html"}):
        for method, path in changing:
            files = {"content": ("p.png", pictures["content"]), "style": ("s.png", pictures["style"])}
            response = client.request(method, path, headers=foreign, json={"size": 96} if "print" in path else None,
                                      files=files if path == "/api/runs" else None)
            assert response.status_code == 403, (foreign, method, path, response.status_code)
            assert "\n" not in response.json()["error"]
    assert [run["id"] for run in client.get("/api/runs").json()] == [run_id]
    assert client.get(f"/api/runs/{run_id}").json() == done


def test_this_studio_s_own_pages_and_scripts_still_change_things(client, pictures):
    first = submit(client, pictures)  # no Origin: curl, scripts
    assert first.status_code == 201
    for origin in (ORIGIN, f"http://localhost:{PORT}"):
        stopped = client.post(f"/api/runs/{first.json()['id']}/stop", headers={"Origin": origin})
        assert stopped.status_code == 200, stopped.text
    referred = client.post(f"/api/runs/{first.json()['id']}/stop", headers={"Referer": ORIGIN + "/"})
    assert referred.status_code == 200


def test_a_foreign_host_is_served_nothing(client, pictures):
    run_id = submit(client, pictures).json()["id"]
    wait_for(client, run_id, ("done",))
    reading = routes(client.app, {"GET"}, run_id)
    assert len(reading) >= 6
    for host in ("evil.example", f"evil.example:{PORT}", "127.0.0.1:1", "127.0.0.1.evil.example"):
        for method, path in reading:
            response = client.request(method, path, headers={"Host": host})
            assert response.status_code == 421, (host, path, response.status_code)
            assert run_id not in response.text and "\n" not in response.json()["error"]
    assert client.get("/api/runs", headers={"Host": f"localhost:{PORT}"}).status_code == 200


def test_the_addresses_a_server_answers_to():
    import socket

    local = served_hosts("127.0.0.1", 8000)
    assert {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"} <= local and "127.0.0.1:8001" not in local
    lan = served_hosts("0.0.0.0", 8000)
    assert "127.0.0.1:8000" in lan and f"{socket.gethostname().lower()}:8000" in lan
    assert "192.168.7.7:8000" in served_hosts("192.168.7.7", 8000) and "192.168.7.7:8000" not in local
    assert "localhost" in served_hosts("127.0.0.1", 80)  # port 80 goes without saying


# ---- one server per workspace (issue 31) -----------------------------------------------------------

def test_a_second_server_on_a_workspace_is_refused_naming_the_first(tiny_models_dir, tmp_path):
    import os
    import subprocess
    import sys

    from nst_ort.studio.workspace import RunRecord

    from tests.helpers import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(tiny_models_dir),
               NST_LOCK_DIR=str(tmp_path / "locks"))
    command = [sys.executable, "-m", "cli", "serve", "--workspace", str(tmp_path / "workspace")]

    def start():
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = start()
    try:
        url = first.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), first.stderr.read()
        workspace = Workspace(tmp_path / "workspace")
        run_id, _ = workspace.new_folder()
        workspace.save(RunRecord(run_id, "p.png", ["s.png"], {}, status="running"))  # as the first runs it
        second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        said = (second.stdout + second.stderr).strip()
        assert second.returncode == 1 and "Traceback" not in said and len(said.splitlines()) == 1, said
        assert f"process {first.pid}" in said and url in said, said
        assert workspace.load(run_id).status == "running"  # the first's run left alone
    finally:
        first.kill()  # SIGKILL: the lock goes with the process
        first.wait(timeout=60)
    third = start()
    try:
        assert third.stdout.readline().startswith("http://127.0.0.1:"), third.stderr.read()
    finally:
        third.terminate()
        third.wait(timeout=60)


@pytest.mark.parametrize("delay", [0.2, 0.8, 2.0])
def test_a_stop_at_any_moment_of_the_start_ends_the_server(tiny_models_dir, tmp_path, delay):
    """SIGTERM while the server starts (before uvicorn handles signals, or after) ends it: the
    URL is printed only once uvicorn answers, and a stop before that is not lost."""
    import os
    import signal
    import subprocess
    import sys

    from tests.helpers import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(tiny_models_dir),
               NST_LOCK_DIR=str(tmp_path / "locks"))
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--workspace", str(tmp_path / "workspace")],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    server.send_signal(signal.SIGTERM)
    try:
        out, err = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == 143, (out, err)
    assert "Traceback" not in err


def test_the_gallery_lists_credited_paintings_a_run_can_name(client, pictures, studio):
    listed = client.get("/api/paintings").json()
    assert len(listed) >= 8 and {"starry_night", "great_wave"} <= {item["name"] for item in listed}
    for item in listed:
        assert item["title"] and item["artist"] and item["year"] and "public domain" in item["licence"]
        assert item["source"] and item["thumbnail"] == f"/api/paintings/{item['name']}/image"
        picture = client.get(item["thumbnail"])
        assert picture.status_code == 200 and Image.open(io.BytesIO(picture.content)).size == tuple(item["size"])
    assert client.get("/api/paintings/../../etc/passwd/image").status_code == 404
    run = client.post("/api/runs", files=[("content", ("photo.png", pictures["content"]))],
                      data={"options": json.dumps({"size": 48, "iterations": 3, "threads": 1,
                                                   "paintings": ["great_wave", "starry_night"]})})
    assert run.status_code == 201, run.text
    done = wait_for(client, run.json()["id"], ("done", "failed"))
    assert done["status"] == "done", done
    assert done["styles"] == ["1_great_wave.jpg", "2_starry_night.jpg"]
    for bad in (["mona_lisa"], "starry_night", [3]):
        refused = client.post("/api/runs", files=[("content", ("photo.png", pictures["content"]))],
                              data={"options": json.dumps({"paintings": bad})})
        assert refused.status_code == 400 and refused.json()["field"] == "paintings", refused.text
    estimate = client.post("/api/estimate", json={"width": 64, "height": 48, "options": {"paintings": ["wanderer"]}})
    assert estimate.status_code == 200 and "Wh" in estimate.json()["summary"]

    assert estimate.json()["words"].startswith("About ") and "--" not in estimate.json()["words"]
    sweep = client.post("/api/estimate", json={"width": 64, "height": 48, "runs": 4})
    assert sweep.json()["words"].startswith("4 pictures: about ")


def test_a_runs_inputs_and_a_sheet_of_runs_are_served(client, pictures):
    first, second = (submit(client, pictures, {"size": 48, "iterations": 3, "threads": 1, "style_weight": weight})
                     .json()["id"] for weight in (1, 4))
    record = wait_for(client, second, ("done",))
    wait_for(client, first, ("done",))
    photo = client.get(f"/api/runs/{second}/inputs/{record['content']}")
    assert photo.status_code == 200 and photo.content == pictures["content"]
    assert photo.headers["content-type"] == "image/png"
    assert client.get(f"/api/runs/{second}/inputs/record.json").status_code == 404
    assert client.get(f"/api/runs/{second}/inputs/..%2Frecord.json").status_code == 404
    sheet = client.get(f"/api/sheet?runs={first},{second}&columns=2")
    assert sheet.status_code == 200 and sheet.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(sheet.content)).width > 2 * 256
    for bad, field in ((f"/api/sheet?runs={first}&columns=x", "runs"), ("/api/sheet?runs=", "runs")):
        refused = client.get(bad)
        assert refused.status_code == 400 and refused.json()["field"] == field, refused.text
    assert client.get("/api/sheet?runs=0123456789ab").status_code == 404


def test_a_studio_keeps_its_port_and_serves_whole_previews_to_many_readers_without_a_page(tiny_models_dir, tmp_path,
                                                                                         pictures):
    import os
    import signal
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from tests.helpers import ROOT, wait_until

    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(tiny_models_dir))
    command = [sys.executable, "-m", "cli", "serve", "--workspace", str(tmp_path / "workspace"), "--preview-every",
               "0.05"]

    def serve() -> tuple[subprocess.Popen, str]:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        return server, server.stdout.readline().strip()

    server, url = serve()
    try:
        run_id = httpx.post(url + "api/runs", files=[("content", ("Tübingen photo.png", pictures["content"])),
                                                     ("style", ("Starry Night.png", pictures["style"]))],
                            data={"options": json.dumps({"size": 64, "iterations": 5000, "scales": 1,
                                                         "threads": 1})}).json()["id"]
        image = f"{url}api/runs/{run_id}/image"
        wait_until(lambda: httpx.get(image).status_code == 200, what="a preview that no page asked for")

        def read(_: int) -> tuple[int, tuple[int, int]]:
            answer = httpx.get(image)
            return answer.status_code, Image.open(io.BytesIO(answer.content)).size  # decodes: never half-written

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(read, range(150))) == {(200, (64, 48))}
        download = httpx.get(image + "?download=1").headers["content-disposition"]
        assert 'filename="tubingen_photo_x_starry_night.jpg"' in download, download
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        again, again_url = serve()
        try:
            assert again_url == url, "a restarted studio listens where open pages look for it"
            record = httpx.get(f"{again_url}api/runs/{run_id}").json()
            assert record["status"] == "stopped" and record["error"] == "" and record["summary"].startswith("in ")
        finally:
            again.terminate()
            again.wait(timeout=60)
    finally:
        server.kill()
        server.wait(timeout=60)


def test_a_run_keeps_the_names_its_files_were_sent_with(client, pictures):
    run = client.post("/api/runs", files=[("content", ("Tübingen am Neckar.png", pictures["content"]))],
                      data={"options": json.dumps({"size": 32, "iterations": 2, "threads": 1,
                                                   "paintings": ["starry_night"]})}).json()
    record = client.get(f"/api/runs/{run['id']}").json()
    assert record["content"] == "Tubingen_am_Neckar.png"  # stored under a plain name
    assert record["titles"] == {"Tubingen_am_Neckar.png": "Tübingen am Neckar", "1_starry_night.jpg": "The Starry Night"}
