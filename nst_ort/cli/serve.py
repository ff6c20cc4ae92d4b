"""`nst serve`: the web studio (nst_ort/studio/)."""

import signal
from pathlib import Path
from typing import Annotated, Optional

import typer

from nst_ort.cli.common import ModelsDir, Opt, app, check_range, models_folder, resolved, say, stop_signals
from nst_ort.options.defaults import PREVIEW_SECONDS


@app.command()
def serve(
    port: Annotated[int, Opt(help="Port [default: a free one]")] = 0,
    host: Annotated[str, Opt(help="Address to serve on; another than 127.0.0.1 (a LAN) needs the token in "
                                  "the printed URL")] = "127.0.0.1",
    workspace: Annotated[Optional[Path], Opt(help="Folder for the studio's runs [default: nst-ort/studio in "
                                                  "the user's data folder]")] = None,
    open_browser: Annotated[bool, Opt("--open", help="Open the page in the browser")] = False,
    preview_every: Annotated[float, Opt(help="Seconds between preview images while a page watches")] = PREVIEW_SECONDS,
    models_dir: ModelsDir = None,
) -> None:
    """A local web studio: pick a photo and paintings, watch the picture form, stop, resume, make prints.
    The first line printed is its URL. Needs nst-ort[web]."""
    from nst_ort.studio.server import serve as serve_studio
    from nst_ort.studio.workspace import default_workspace

    check_range("--port", port, 0, 65535)
    check_range("--preview-every", preview_every, 0, 3600, " seconds")
    with stop_signals(interruptible=False) as stop:  # uvicorn handles the signal, then passes it on: recorded here
        serve_studio(resolved(workspace) if workspace else default_workspace(), models_folder(models_dir), host,
                     port, open_browser, preview_every, say=lambda line: typer.echo(line),
                     stopped=lambda: stop.received is not None)
    if stop.received is not None:
        say(f"studio stopped ({signal.Signals(stop.received).name}); a run under way kept its best image and "
            f"checkpoint: resume it from the history")
        raise typer.Exit(stop.exit_code)
