"""A batch on a Dask cluster (`nst batch --cluster tcp://HOST:8786`, the extra nst-ort[cluster]).

The client sends each item's inputs with it as bytes, or names them by path with
`--shared-fs`; a worker runs the item as `nst stylize` does (batch/item.py's run_item) in a folder
of its own, with its share of that machine's cores and memory, and sends the picture and
its report back; the client writes them atomically into the output folder. A worker lost
mid-item means Dask runs the item again on another: nothing is lost, and an item never
half-written. A lost scheduler ends the batch in one line (once Dask gave up reconnecting):
the items finished are kept, and a rerun, here or on another cluster, does the rest.
"""

from __future__ import annotations

import contextlib
import queue
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from nst_base.errors import NstError
from nst_ort.batch.plan import BatchItem
from nst_ort.batch.folder import BatchFolder
from nst_ort.batch.item import ItemResult, run_item
from nst_ort.jobs.status import Status
from nst_ort.platform.dask_client import connect, task_slots, worker_share

RETRIES = 3  # times an item is sent when its task is lost with a worker
RECONNECT_SECONDS = 30.0  # at most this long waiting for Dask to reconnect to a lost scheduler
POLL_SECONDS = 2.0  # how often the connection is checked while no item ends

def run_remote(item: BatchItem, name: str, inputs: dict[str, bytes] | None, models_dir: str | None) -> dict:
    """On a worker: the item's inputs written to a folder of its own (unless on a shared file
    system), the item run there, its picture and report returned as bytes."""
    from nst_base.manifest import default_models_dir

    with tempfile.TemporaryDirectory(prefix="nst-batch-") as folder:
        work = Path(folder)
        if inputs is not None:
            local = {}
            for index, (path, data) in enumerate(inputs.items()):
                target = work / "in" / str(index) / Path(path).name  # keeps the file's own name
                target.parent.mkdir(parents=True)
                target.write_bytes(data)
                local[path] = target
            item = replace(item, content=local[str(item.content)], styles=tuple(local[str(s)] for s in item.styles))
        machine = worker_share()
        models = Path(models_dir) if models_dir else default_models_dir()
        result = run_item(item, name, work / "out", models, machine)
        picture, report = work / "out" / f"{name}.png", work / "out" / f"{name}.json"
        return {"result": result, "picture": picture.read_bytes() if picture.is_file() else None,
                "report": report.read_bytes() if report.is_file() else None}


def run_on_cluster(address: str, folder: BatchFolder, models_dir: Path, shared_fs: bool,
                   todo: list[tuple[BatchItem, str]], say: Callable[[str], None],
                   record: Callable[[ItemResult], None]) -> None:
    """The items `todo` on the cluster at `address`; results written into the batch's folder
    and recorded as they come (`shared_fs`: the workers read inputs and models by path).

    Items go out a few at a time (twice the cluster's task slots), each with its inputs'
    bytes: the scheduler holds no more than that, Dask can always run a task again (nothing
    it needs lives only on one worker), and an item whose task was lost with its worker
    is sent again, up to RETRIES times. A lost scheduler is a one-line NstError."""
    client = connect(address)
    waiting: deque[tuple[BatchItem, str, int]] = deque()
    in_flight: dict = {}
    ended: queue.Queue = queue.Queue()  # futures as they end (done, failed or cancelled)
    try:
        for item, name in todo:
            missing = next((path for path in (item.content, *item.styles) if not Path(path).is_file()), None)
            if missing is not None:
                record(ItemResult(name, Status.FAILED, error=f"image not found: {missing}"))
            else:
                waiting.append((item, name, 1))
        window = 2 * task_slots(client)
        say(f"on {address}: {len(client.scheduler_info()['workers'])} workers, {len(waiting)} items")
        models = str(models_dir) if shared_fs else None

        def send() -> None:
            while waiting and len(in_flight) < window:
                _check_connected(client, address, folder.path)
                item, name, attempt = waiting.popleft()
                inputs = None if shared_fs else {str(path): Path(path).read_bytes()
                                                       for path in (item.content, *item.styles)}
                key = f"nst-{name}-{uuid.uuid4().hex[:8]}"  # unique: a rerun's items are new tasks
                future = client.submit(run_remote, item, name, inputs, models, key=key, pure=False)
                in_flight[future] = (item, name, attempt)
                future.add_done_callback(ended.put)

        send()
        while in_flight:
            try:
                future = ended.get(timeout=POLL_SECONDS)
            except queue.Empty:
                _check_connected(client, address, folder.path)
                continue
            item, name, attempt = in_flight.pop(future)
            try:
                answer = future.result()
            except Exception as error:  # noqa: BLE001 - lost with its workers or its scheduler, or a worker-side bug
                _check_connected(client, address, folder.path)
                if attempt < RETRIES and not isinstance(error, NstError):
                    say(f"{name}: its task was lost ({type(error).__name__}); sending it again")
                    waiting.appendleft((item, name, attempt + 1))
                else:
                    record(ItemResult(name, Status.FAILED, error=f"{type(error).__name__}: {error}".splitlines()[0]))
                send()
                continue
            for suffix, key in ((".png", "picture"), (".json", "report")):  # the report last: it says "finished"
                if answer.get(key) is not None:
                    folder.write(f"{name}{suffix}", answer[key])
            record(answer["result"])
            send()
    except KeyboardInterrupt:
        if client.status == "running":
            with contextlib.suppress(Exception):
                client.cancel(list(in_flight))
        raise
    finally:
        with contextlib.suppress(Exception):  # a lost scheduler: nothing to tell it
            client.close(timeout=5)


def _check_connected(client, address: str, out_dir: Path) -> None:
    """Go on while the client is connected to its scheduler (waiting while Dask reconnects to
    one that was lost for a moment); a one-line NstError once it is lost for good."""
    deadline = time.monotonic() + RECONNECT_SECONDS
    while client.status == "connecting" and time.monotonic() < deadline:
        time.sleep(0.2)
    if client.status != "running":
        raise NstError(f"lost the Dask scheduler at {address}: the items finished are kept in "
                       f"{out_dir}; run the same command again (on this machine, or with --cluster on a "
                       f"running scheduler) to do the rest")
