"""`nst serve`: the studio on this machine (the extra nst-ort[web]: Starlette and uvicorn).

On 127.0.0.1 and a free port unless told otherwise; the first line printed is the URL. A
LAN address (`--host 0.0.0.0`) is served only with a token in the URL. Requests for another
host name, and changes asked by another site, are refused (guard.py). One server per
workspace: it holds the workspace's lock (nst_base.locks) while it runs, so a second is
refused naming the first. SIGTERM or Ctrl-C stops the server cleanly: the run under way
keeps its best image and checkpoint.
"""

from __future__ import annotations

import importlib.util
import secrets
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from nst_base.errors import NstError
from nst_base.locks import PathLocks
from nst_ort.options.defaults import PREVIEW_SECONDS

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def require_web():
    """uvicorn, once the studio's packages are known to be installed."""
    if any(importlib.util.find_spec(name) is None for name in ("starlette", "uvicorn", "multipart")):
        raise NstError("nst serve needs the studio's packages: pip install 'nst-ort[web]'")
    import uvicorn

    return uvicorn


def _listen(host: str, port: int, fallback: bool) -> socket.socket:
    """A socket bound to `port` (with `fallback`, a free one when that port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for attempt in ([port, 0] if fallback and port else [port]):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, attempt))
            return sock
        except OSError as error:
            sock.close()
            problem = error
    raise NstError(f"cannot serve on {host}:{port}: {problem.strerror}") from None


def serve(workspace: Path, models_dir: Path, host: str = "127.0.0.1", port: int = 0, open_browser: bool = False,
          preview_seconds: float = PREVIEW_SECONDS, say: Callable[[str], None] = print,
          stopped: Callable[[], bool] = lambda: False) -> None:
    """Serve the studio until SIGTERM or Ctrl-C. The URL is printed once the server answers;
    `stopped` tells whether a stop came before the server took over the signals (it then ends)."""
    uvicorn = require_web()
    from nst_ort.studio.app import create_app
    from nst_ort.studio.guard import served_hosts
    from nst_ort.studio.studio import Studio
    from nst_ort.studio.workspace import Workspace

    token = None if host in LOCAL_HOSTS else secrets.token_urlsafe(16)
    runs = Workspace(workspace)
    sock = _listen(host, port or runs.last_port() or 0, fallback=port == 0)
    bound = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    address = f"http://{f'[{shown}]' if ':' in shown else shown}:{bound}/"
    url = address + (f"?token={token}" if token else "")
    try:  # held till the server ends (even by SIGKILL): one server, one queue per workspace
        locks = PathLocks([runs.root], note=f"nst serve at {address}").acquire()
    except NstError:
        sock.close()
        raise
    runs.remember_port(bound)  # the next `nst serve` of this workspace takes it again: open pages reconnect
    studio = Studio(runs, models_dir, preview_seconds)
    app = create_app(studio, token, hosts=served_hosts(host, bound))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))

    def announce() -> None:
        """Once uvicorn answers (and handles the signals): the URL, or the end if a stop came first."""
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if stopped():
            server.should_exit = True
        elif server.started:
            say(url)
            say(f"workspace: {workspace}; Ctrl-C stops the server (a run under way keeps its best image and "
                f"checkpoint)")
            if open_browser:
                import webbrowser

                webbrowser.open(url)

    studio.start()
    try:
        threading.Thread(target=announce, name="announce", daemon=True).start()
        server.run(sockets=[sock])
    finally:
        studio.close()
        locks.release()
