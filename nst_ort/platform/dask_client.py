"""Dask, for the front ends that share work over a cluster (`nst batch --cluster`, `nst video
--cluster`; the extra nst-ort[cluster]): connecting, and a task's share of its worker."""

from __future__ import annotations

import logging
import socket

from nst_base.cores import usable_cores
from nst_base.errors import NstError


def require_distributed():
    try:
        import distributed
    except ImportError:
        raise NstError("--cluster needs Dask: pip install 'nst-ort[cluster]'") from None
    return distributed


def connect(address: str):
    """A client of the scheduler at `address`; one line if it cannot be reached. Dask's own log
    (reconnecting, tracebacks) is silenced: the front ends say what became of the run in one line."""
    distributed = require_distributed()
    _check_reachable(address)
    for name in ["distributed", *logging.root.manager.loggerDict]:  # Dask's config gives some a level of their own
        if name.split(".")[0] == "distributed":
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        return distributed.Client(address, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise NstError(f"cannot reach the Dask scheduler at {address}: {error}") from None


def _check_reachable(address: str) -> None:
    """One line at once when nothing listens at a tcp:// address (Dask would retry until its
    timeout); other addresses are left to Dask."""
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme != "tcp" or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as error:
        raise NstError(f"cannot reach the Dask scheduler at {address}: {error.strerror or error}") from None


def task_slots(client) -> int:
    return max(1, sum(worker.get("nthreads", 1) for worker in client.scheduler_info()["workers"].values()))


def worker_share() -> dict:
    """On a worker: a task's share of its machine, the worker's memory limit divided among its
    task slots, and the cores in the same proportion (`dask worker --nworkers N` splits a
    machine's memory N ways by default)."""
    import psutil
    from distributed import get_worker

    worker = get_worker()
    slots = max(1, worker.state.nthreads)
    total = psutil.virtual_memory().total
    limit = worker.memory_manager.memory_limit or total
    cores = usable_cores()
    return {"max_memory": int(limit // slots), "threads": max(1, round(cores * min(1.0, limit / total) / slots))}
