"""The studio's HTTP API with a test client: start, progress stream, stop, resume, history,
print, bad input beside its field, traversal attempts, tokens; the same job code as the CLI."""

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

from nst_ort.images import read_settings  # noqa: E402
from nst_ort.studio.app import create_app  # noqa: E402
from nst_ort.studio.studio import Studio  # noqa: E402
from nst_ort.studio.workspace import Workspace  # noqa: E402
from tests.test_images import declared_png  # noqa: E402
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


@pytest.fixture()
def client(studio):
    with TestClient(create_app(studio)) as test_client:
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


def test_stop_keeps_the_best_image_and_resume_finishes_it(client, pictures, studio):
    run_id = submit(client, pictures, {"size": 64, "iterations": 3000, "scales": 1, "threads": 1}).json()["id"]
    deadline = time.time() + 60
    while not client.get(f"/api/runs/{run_id}").json()["progress"].get("iteration") and time.time() < deadline:
        time.sleep(0.05)
    client.post(f"/api/runs/{run_id}/stop")
    run = wait_for(client, run_id, ("stopped",))
    folder = studio.workspace.folder(run_id)
    assert (folder / "result.png").is_file() and (folder / "job.nst-run" / "checkpoint.npz").is_file()
    stopped_at = run["progress"]["iteration"]
    assert client.post(f"/api/runs/{run_id}/resume").json()["status"] == "queued"
    time.sleep(0.3)
    client.post(f"/api/runs/{run_id}/stop")  # and once more, to see it goes on from where it was
    again = wait_for(client, run_id, ("stopped", "done"))
    assert again["progress"]["iteration"] >= stopped_at


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
    ({"style_weight": -1}, None, "style_weight", "--style-weight must be > 0"),
    ({"size": "big"}, None, "size", "--size must be a whole number"),
    ({"colour": "red"}, None, "options", "unknown option 'colour'"),
    ({"max_memory": "64M", "size": 4000, "tile": 0}, None, "max_memory", "--max-memory"),
    (None, {"content": ("notes.png", b"hello"), "style": ("s.png", b"x")}, "content", "not an image file"),
    (None, {"style": ("s.png", b"x")}, "content", "choose a photo"),
])
def test_bad_input_is_one_line_beside_its_field(client, pictures, options, files, field, fragment, studio):
    response = submit(client, pictures, options, **(files or {}))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["field"] == field and fragment in body["error"] and "\n" not in body["error"]
    assert client.get("/api/runs").json() == []  # nothing was queued, nothing kept
    assert list(studio.workspace.runs.iterdir()) == []


def test_a_declared_bomb_is_refused_before_decoding(client, pictures, tmp_path):
    bomb = tmp_path / "bomb.png"
    declared_png(bomb, 30000, 30000)
    response = submit(client, pictures, {"size": 64, "max_memory": "1G"},
                      content=("bomb.png", bomb.read_bytes()), style=("s.png", pictures["style"]))
    assert response.status_code == 400 and response.json()["field"] in ("content", "size", "max_memory")


@pytest.mark.parametrize("path", ["/api/runs/..%2F..%2Fetc%2Fpasswd", "/api/runs/../../etc/passwd/image",
                                  "/api/runs/%2e%2e/image", "/static/..%2F..%2Fcli.py", "/static/app.js%00.png",
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
    with TestClient(create_app(studio, token="secret")) as client:
        assert client.get("/api/runs").status_code == 403
        assert client.get("/api/runs?token=secret").status_code == 200
        assert client.get("/?token=wrong").status_code == 403


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

    from tests.test_cli import ROOT

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
