"""The studio's HTTP API and page (Starlette): a thin mapping of requests onto the Studio.

    GET    /                          the page
    GET    /api/options               the option schema, for the form
    POST   /api/runs                  multipart: content, style (one or more), options (JSON), recipe;
                                      or inputs_of=ID: the photo and paintings of an earlier run
    GET    /api/runs                  the history, newest first
    GET    /api/runs/{id}             one run: status, settings, progress
    GET    /api/runs/{id}/events      server-sent events: progress and status
    GET    /api/runs/{id}/image       the current (preview) or final image; ?download=1 as a file
    POST   /api/runs/{id}/stop        keeps the best image and the checkpoint
    POST   /api/runs/{id}/resume
    POST   /api/runs/{id}/print       JSON: size, time_budget, max_memory: the upscale job of a finished run
    DELETE /api/runs/{id}

Errors are JSON `{"error": one line, "field": the form field}` with the right status code.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from nst_base.errors import NstError
from nst_ort.options import StylizeOptions
from nst_ort.schema import allowed_text, specs
from nst_ort.studio.studio import FieldError, Studio

STATIC = Path(__file__).resolve().parent / "static"
MAX_UPLOAD = 64 * 2**20  # bytes per file
MAX_REQUEST = 4 * MAX_UPLOAD
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}


def error(message: str, status: int = 400, field: str = "") -> JSONResponse:
    return JSONResponse({"error": message.splitlines()[0] if message else "error", "field": field}, status_code=status)


def option_schema() -> list[dict[str, Any]]:
    """What the form needs of each option: name, kind, default, limits, help."""
    rows = []
    for spec in specs(StylizeOptions):
        option = spec.option
        if "stylize" not in option.commands:
            continue
        rows.append({"name": spec.name, "flag": spec.flag, "kind": spec.base_kind, "optional": spec.optional,
                     "default": option.describe_default(spec.default), "help": option.help,
                     "choices": list(option.choices), "low": option.low, "high": option.high,
                     "allowed": allowed_text(spec).replace("`", ""), "everyday": option.everyday, "picture": option.picture})
    return rows


def create_app(studio: Studio, token: str | None = None) -> Starlette:
    """The studio's routes over `studio`; with `token`, every request must carry it (?token=)."""

    def run_or_404(handler):
        async def wrapped(request: Request) -> Response:
            if token is not None and not hmac.compare_digest(request.query_params.get("token", ""), token):
                return error("this studio needs its token: open the URL it printed", 403)
            try:
                return await handler(request)
            except KeyError:
                return error("no such run", 404)
            except FieldError as problem:
                return error(str(problem), 400, problem.field)
            except NstError as problem:
                return error(str(problem), 400)
        return wrapped

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        path = STATIC / name
        if name not in {p.name for p in STATIC.iterdir()}:  # only the studio's own files
            return error("not found", 404)
        return FileResponse(path, media_type=TYPES.get(path.suffix, "application/octet-stream"),
                            headers={"Cache-Control": "no-cache"})

    async def options(request: Request) -> Response:
        from nst_ort.recipes import RECIPES

        return JSONResponse({"options": option_schema(), "recipes": list(RECIPES)})

    async def runs(request: Request) -> Response:
        return JSONResponse([record.public() for record in studio.workspace.all()])

    async def create(request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_REQUEST:
            return error(f"the upload is larger than {MAX_REQUEST // 2**20} MB", 413)
        form = await request.form(max_files=16, max_fields=32)
        content = form.get("content")
        styles = [item for item in form.getlist("style") if hasattr(item, "read")]
        try:
            options = json.loads(form.get("options") or "{}")
        except ValueError:
            return error("options must be JSON", 400, "options")
        if not isinstance(options, dict):
            return error("options must be a JSON object", 400, "options")
        uploads = []
        for item in ([content] if hasattr(content, "read") else []) + styles:
            data = await item.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                return error(f"{item.filename} is larger than {MAX_UPLOAD // 2**20} MB", 413,
                             "content" if item is content else "style")
            uploads.append((item.filename or "", data))
        first = uploads[0] if hasattr(content, "read") else ("", b"")
        style_uploads = uploads[1:] if hasattr(content, "read") else uploads
        if form.get("inputs_of"):  # run again: the photo and paintings of an earlier run
            first, style_uploads = studio.inputs_of(str(form.get("inputs_of")))
        options = {key: value for key, value in options.items() if value not in (None, "")}
        record = await asyncio.to_thread(studio.submit, first, style_uploads, options,
                                         str(form.get("recipe") or "gatys"))
        return JSONResponse({"id": record.id}, status_code=201)

    async def one(request: Request) -> Response:
        return JSONResponse(studio.workspace.load(request.path_params["id"]).public())

    async def image(request: Request) -> Response:
        run_id = request.path_params["id"]
        path = studio.workspace.picture(run_id)
        if path is None:
            return error("no image yet", 404)
        download = request.query_params.get("download")
        return FileResponse(path, headers={"Cache-Control": "no-store"},
                            filename=f"nst-{run_id}{path.suffix}" if download else None)

    async def stop(request: Request) -> Response:
        return JSONResponse(studio.stop(request.path_params["id"]).public())

    async def resume(request: Request) -> Response:
        return JSONResponse(studio.resume(request.path_params["id"]).public())

    async def make_print(request: Request) -> Response:
        try:
            body = await request.json()
            size = int(body.get("size"))
        except (ValueError, TypeError, AttributeError):
            return error("give the print's size in pixels", 400, "size")
        changes = {key: body[key] for key in ("time_budget", "max_memory") if body.get(key)}
        record = await asyncio.to_thread(studio.make_print, request.path_params["id"], size, changes)
        return JSONResponse({"id": record.id}, status_code=201)

    async def delete(request: Request) -> Response:
        studio.delete(request.path_params["id"])
        return Response(status_code=204)

    async def events(request: Request) -> Response:
        run_id = request.path_params["id"]
        record = studio.workspace.load(run_id)
        queue: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        unwatch = studio.watch(run_id, lambda event: loop.call_soon_threadsafe(queue.put_nowait, event))

        async def stream():
            try:
                yield _sse({"event": "status", "status": record.status, "error": record.error})
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=15)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield _sse(event)
                    if event.get("event") == "status" and event.get("status") in ("done", "failed", "stopped"):
                        return
            finally:
                unwatch()

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", run_or_404(page)),
        Route("/static/{name}", run_or_404(page)),
        Route("/api/options", run_or_404(options)),
        Route("/api/runs", run_or_404(runs), methods=["GET"]),
        Route("/api/runs", run_or_404(create), methods=["POST"]),
        Route("/api/runs/{id}", run_or_404(one), methods=["GET"]),
        Route("/api/runs/{id}", run_or_404(delete), methods=["DELETE"]),
        Route("/api/runs/{id}/events", run_or_404(events)),
        Route("/api/runs/{id}/image", run_or_404(image)),
        Route("/api/runs/{id}/stop", run_or_404(stop), methods=["POST"]),
        Route("/api/runs/{id}/resume", run_or_404(resume), methods=["POST"]),
        Route("/api/runs/{id}/print", run_or_404(make_print), methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _sse(event: dict) -> str:
    return f"event: {event.get('event', 'message')}\ndata: {json.dumps(event)}\n\n"
