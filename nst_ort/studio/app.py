"""The studio's HTTP API and page (Starlette): a thin mapping of requests onto the Studio.

    GET    /                          the page
    GET    /api/options               the option schema, for the form
    POST   /api/runs                  multipart: content, style (one or more), mask (none or one per style),
                                      options (JSON), recipe; or inputs_of=ID: the files of an earlier run
    GET    /api/runs                  the history, newest first
    GET    /api/runs/{id}             one run: status, settings, progress
    GET    /api/runs/{id}/events      server-sent events: progress and status
    GET    /api/runs/{id}/image       the current (preview) or final image; ?download=1 as a file
    GET    /api/runs/{id}/inputs/{name}   one of its inputs (photo, painting, mask), as its record names it
    GET    /api/sheet?runs=ID,ID&columns=N   finished runs' pictures on one labelled sheet (PNG)
    POST   /api/runs/{id}/stop        keeps the best image and the checkpoint
    POST   /api/runs/{id}/resume
    POST   /api/runs/{id}/print       JSON: size, time_budget, max_memory: the upscale job of a finished run
    DELETE /api/runs/{id}
    GET    /api/paintings             the gallery: name, title, artist, year, licence, source, thumbnail URL
    GET    /api/paintings/{name}/image   a gallery painting (a run names it: options "paintings": [name, ...])
    POST   /api/estimate              JSON: width, height (the photo's), styles, masks, recipe, options, runs
                                      (a sweep's count); or
                                      print_of=ID and size: time, energy and memory before Start

Errors are JSON `{"error": one line, "field": the form field}` with the right status code.
Requests from other sites and for other host names are refused first (guard.py).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from nst_base.errors import NstError
from nst_ort.jobs.status import Status
from nst_ort.options.stylize import StylizeOptions
from nst_ort.options.schema import Spec, allowed_text, specs
from nst_ort.studio.gallery import painting, paintings
from nst_ort.studio.guard import SameOrigin
from nst_ort.studio.sheets import sweep_sheet
from nst_ort.studio.words import EVERYDAY, GROUPS, OTHER, RECIPE_WORDS, group_of, without_flags
from nst_ort.studio.fields import FieldError
from nst_ort.studio.studio import QUEUE_ONLY, Studio, Upload

STATIC = Path(__file__).resolve().parent / "static"
MAX_UPLOAD = 64 * 2**20  # bytes per file
MAX_REQUEST = 4 * MAX_UPLOAD
FILE_FIELDS = ("content", "style", "mask")  # a new run's form: its files ...
TEXT_FIELDS = ("options", "recipe", "inputs_of")  # ... and the rest
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css",
         ".png": "image/png", ".jpg": "image/jpeg",
         ".jpeg": "image/jpeg", ".webp": "image/webp", ".gif": "image/gif", ".bmp": "image/bmp"}


def error(message: str, status: int = 400, field: str = "") -> JSONResponse:
    return JSONResponse({"error": message.splitlines()[0] if message else "error", "field": field}, status_code=status)


def option_schema() -> list[dict[str, Any]]:
    """What the form needs of each option: name, kind, default, limits, help (and the words of
    an option that names a file, for a list to pick from)."""
    rows = []
    for spec in specs(StylizeOptions):
        option = spec.option
        if "stylize" not in option.commands or spec.name in QUEUE_ONLY:
            continue
        label, help_text = EVERYDAY.get(spec.name, (spec.name.replace("_", " ").capitalize(), without_flags(option.help)))
        rows.append({"name": spec.name, "flag": spec.flag, "kind": spec.base_kind, "optional": spec.optional,
                     "label": label, "default": option.describe_default(spec.default), "help": help_text,
                     "choices": list(option.choices), "words": list(option.words), "low": option.low,
                     "high": option.high, "allowed": allowed(spec), "everyday": option.everyday, "picture": option.picture,
                     "group": None if option.everyday else group_of(spec.name).title})
    return rows


def print_changes(body: dict) -> dict[str, Any]:
    """What a print request may change of its picture's settings: its time and memory."""
    return {key: body[key] for key in ("time_budget", "max_memory") if body.get(key)}


def check_fields(form: FormData) -> None:
    """Every field of a new run's form is one the studio takes, as a file or as text (FieldError)."""
    for name, value in form.multi_items():
        wanted = "file" if name in FILE_FIELDS else "text" if name in TEXT_FIELDS else None
        if wanted is None:
            raise FieldError(f"the studio takes no form field {name!r} (options go in the options JSON)", name)
        if (wanted == "file") != isinstance(value, UploadFile):
            raise FieldError(f"{name} must be {'an uploaded file' if wanted == 'file' else 'text'}", name)


async def uploads(form: FormData, name: str) -> list[Upload]:
    """The files of one form field, in order, each at most MAX_UPLOAD bytes."""
    files = []
    for item in form.getlist(name):
        data = await item.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise FieldError(f"{item.filename} is larger than {MAX_UPLOAD // 2**20} MB", name, 413)
        files.append((item.filename or "", data))
    return files


def allowed(spec: Spec) -> str:
    """The allowed values in words; for an option naming a file, as the studio takes it."""
    if spec.option.names_file:
        return f"one of {', '.join(spec.option.words)} or the name of a photo, painting or mask uploaded with the run"
    return allowed_text(spec).replace("`", "")


def create_app(studio: Studio, token: str | None = None, *, hosts: Collection[str]) -> Starlette:
    """The studio's routes over `studio`, answering only to `hosts` (guard.served_hosts) and
    to changes asked by its own page; with `token`, every request must carry it (?token=)."""

    def in_page_words(message: str) -> str:
        return without_flags(studio.workspace.without_paths(message))

    def run_or_404(handler, public: bool = False):
        """`handler` with errors as JSON; unless `public` (the page's own code and style, which
        hold no data), only for requests with the token."""
        async def wrapped(request: Request) -> Response:
            if not public and token is not None and not hmac.compare_digest(request.query_params.get("token", ""), token):
                return error("this studio needs its token: open the URL it printed", 403)
            try:
                return await handler(request)
            except KeyError:
                return error("no such run", 404)
            except FieldError as problem:
                return error(in_page_words(str(problem)), problem.status, problem.field)
            except NstError as problem:
                return error(in_page_words(str(problem)), 400)
        return wrapped

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        path = STATIC / name
        if name not in {p.name for p in STATIC.iterdir()}:  # only the studio's own files
            return error("not found", 404)
        return FileResponse(path, media_type=TYPES.get(path.suffix, "application/octet-stream"),
                            headers={"Cache-Control": "no-cache"})

    async def options(request: Request) -> Response:
        from nst_ort.options.recipes import RECIPES

        return JSONResponse({"options": option_schema(), "recipes": [
                                {"name": name, "explains": RECIPE_WORDS.get(name, "")} for name in RECIPES],
                             "groups": [{"title": group.title, "explains": group.explains}
                                        for group in (*GROUPS, OTHER)]})

    async def runs(request: Request) -> Response:
        return JSONResponse([record.public() for record in studio.workspace.all()])

    async def create(request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_REQUEST:
            return error(f"the upload is larger than {MAX_REQUEST // 2**20} MB", 413)
        form = await request.form(max_files=16, max_fields=32)
        check_fields(form)
        try:
            options = json.loads(form.get("options") or "{}")
        except ValueError:
            return error("options must be JSON", 400, "options")
        if not isinstance(options, dict):
            return error("options must be a JSON object", 400, "options")
        contents, styles, masks = [await uploads(form, name) for name in FILE_FIELDS]
        if len(contents) > 1:
            return error("give one photo", 400, "content")
        first = contents[0] if contents else ("", b"")
        options = {key: value for key, value in options.items() if value not in (None, "")}
        if form.get("inputs_of"):  # run again: what is not sent anew comes from the earlier run
            earlier_content, earlier_styles, earlier_masks = studio.inputs_of(str(form.get("inputs_of")))
            first = first if contents else earlier_content
            if not styles and not options.get("paintings"):  # the same paintings, and their masks unless new ones
                styles, masks = earlier_styles, masks or earlier_masks
        record = await asyncio.to_thread(studio.submit, first, styles, options, str(form.get("recipe") or "gatys"),
                                         masks)
        return JSONResponse({"id": record.id}, status_code=201)

    async def one(request: Request) -> Response:
        return JSONResponse(studio.workspace.load(request.path_params["id"]).public())

    async def image(request: Request) -> Response:
        run_id = request.path_params["id"]
        path = studio.workspace.picture(run_id)
        if path is None:
            return error("no image yet", 404)
        data = path.read_bytes()  # read whole at once: a preview replaced meanwhile is never served half-written
        headers = {"Cache-Control": "no-store"}
        if request.query_params.get("download"):
            headers["Content-Disposition"] = (f'attachment; filename="{studio.workspace.load(run_id).file_stem()}'
                                              f'{path.suffix}"')
        return Response(data, media_type=TYPES.get(path.suffix.lower(), "application/octet-stream"), headers=headers)

    async def input_file(request: Request) -> Response:
        path = studio.workspace.input_file(request.path_params["id"], request.path_params["name"])
        return Response(path.read_bytes(), media_type=TYPES.get(path.suffix.lower(), "application/octet-stream"),
                        headers={"Cache-Control": "max-age=3600"})

    async def sheet(request: Request) -> Response:
        ids = [run_id for run_id in request.query_params.get("runs", "").split(",") if run_id]
        try:
            columns = int(request.query_params.get("columns") or 4)
        except ValueError:
            return error("columns must be a whole number", 400, "runs")
        data = await asyncio.to_thread(sweep_sheet, studio.workspace, ids, columns)
        return Response(data, media_type="image/png", headers={
            "Cache-Control": "no-store", "Content-Disposition": 'attachment; filename="sweep_sheet.png"'})

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
        record = await asyncio.to_thread(studio.make_print, request.path_params["id"], size, print_changes(body))
        return JSONResponse({"id": record.id}, status_code=201)

    async def estimate(request: Request) -> Response:
        try:
            body = await request.json()
            if body.get("print_of"):
                answer = await asyncio.to_thread(studio.estimate_print, str(body["print_of"]), int(body["size"]),
                                                 print_changes(body))
                return JSONResponse(answer)
            size = (int(body["width"]), int(body["height"]))
            options = {key: value for key, value in dict(body.get("options") or {}).items() if value not in (None, "")}
            counts = int(body.get("styles") or 1), int(body.get("masks") or 0)
            runs = min(max(1, int(body.get("runs") or 1)), 1000)
        except (ValueError, TypeError, KeyError, AttributeError):
            return error("give the photo's width and height, or the run to print and the print's size", 400, "size")
        answer = await asyncio.to_thread(studio.estimate, size, *counts, str(body.get("recipe") or "gatys"), options,
                                         runs)
        return JSONResponse(answer)

    async def gallery(request: Request) -> Response:
        return JSONResponse([{**item.public(), "thumbnail": f"/api/paintings/{item.name}/image"}
                             for item in paintings().values()])

    async def gallery_image(request: Request) -> Response:
        item = painting(request.path_params["name"])
        if item is None:
            return error("no such painting", 404)
        return FileResponse(item.path, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})

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
                    if event.get("event") == "status" and event.get("status") in (Status.DONE, Status.FAILED, Status.STOPPED):
                        return
            finally:
                unwatch()

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", run_or_404(page)),
        Route("/static/{name}", run_or_404(page, public=True)),
        Route("/api/options", run_or_404(options)),
        Route("/api/runs", run_or_404(runs), methods=["GET"]),
        Route("/api/runs", run_or_404(create), methods=["POST"]),
        Route("/api/runs/{id}", run_or_404(one), methods=["GET"]),
        Route("/api/runs/{id}", run_or_404(delete), methods=["DELETE"]),
        Route("/api/runs/{id}/events", run_or_404(events)),
        Route("/api/runs/{id}/image", run_or_404(image)),
        Route("/api/runs/{id}/inputs/{name}", run_or_404(input_file)),
        Route("/api/sheet", run_or_404(sheet)),
        Route("/api/runs/{id}/stop", run_or_404(stop), methods=["POST"]),
        Route("/api/runs/{id}/resume", run_or_404(resume), methods=["POST"]),
        Route("/api/runs/{id}/print", run_or_404(make_print), methods=["POST"]),
        Route("/api/estimate", run_or_404(estimate), methods=["POST"]),
        Route("/api/paintings", run_or_404(gallery)),
        Route("/api/paintings/{name}/image", run_or_404(gallery_image)),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SameOrigin, hosts=hosts)])


def _sse(event: dict) -> str:
    return f"event: {event.get('event', 'message')}\ndata: {json.dumps(event)}\n\n"
