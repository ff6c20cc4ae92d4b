"""Same-origin guard: an ASGI middleware that keeps other web sites out of the studio.

A page elsewhere can make the browser send requests to 127.0.0.1, and a host name of its
own can be made to resolve to 127.0.0.1 (DNS rebinding). So every request must carry a
`Host` this server answers to (its loopback names, the address it is bound to, on a LAN bind
the machine's names and addresses, each with the port), else 421; and a request that
changes something (POST, PUT, PATCH, DELETE) whose `Origin`, or `Referer` when there is no
Origin, is another site is refused with 403. Requests without either (curl, scripts) pass.
"""

from __future__ import annotations

import socket
from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
WILDCARD = ("0.0.0.0", "::", "")
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def served_hosts(host: str, port: int) -> frozenset[str]:
    """The `Host` values of a server bound to host:port (lower case; without the port too on port 80)."""
    names = set(LOOPBACK) | (machine_addresses() if host in WILDCARD else {host})
    names = {f"[{name}]" if ":" in name and not name.startswith("[") else name for name in names}
    with_port = {f"{name}:{port}" for name in names} | (names if port == 80 else set())
    return frozenset(value.lower() for value in with_port)


def machine_addresses() -> set[str]:
    """This machine's names and addresses, as other machines on a LAN may reach it."""
    hostname = socket.gethostname()
    names = {hostname, f"{hostname}.local", socket.getfqdn()}
    try:
        names |= {str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(hostname, None)}
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # no packet is sent
            probe.connect(("192.0.2.1", 9))
            names.add(probe.getsockname()[0])
    except OSError:
        pass
    return names


class SameOrigin:
    """The middleware: refuses a foreign Host (421) and a change asked by another site (403)."""

    def __init__(self, app: ASGIApp, hosts: Collection[str]) -> None:
        self.app, self.hosts = app, frozenset(host.lower() for host in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self.refusal(Headers(scope=scope), scope["method"]) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await JSONResponse({"error": refusal[1], "field": ""}, status_code=refusal[0])(scope, receive, send)

    def refusal(self, headers: Headers, method: str) -> tuple[int, str] | None:
        """(status, one line) for a request to refuse, else None."""
        host = headers.get("host", "")
        if host.lower() not in self.hosts:
            return 421, f"this studio does not answer to the host name {host[:100]!r}: open the URL it printed"
        source = headers.get("origin") or headers.get("referer")
        if method in CHANGING and source is not None:
            parts = urlsplit(source)
            if parts.scheme != "http" or parts.netloc.lower() not in self.hosts:
                site = f"{parts.scheme}://{parts.netloc}" if parts.netloc else source[:100]
                return 403, f"a page from {site} cannot change this studio: use the studio's own page"
        return None
