"""A batch on a Dask cluster (`nst batch --cluster tcp://HOST:8786`, the extra nst-ort[cluster]).

The client sends each item's inputs with it as bytes, or names them by path with
`--shared-fs`; a worker runs the item as `nst stylize` does (batch.run.run_item) in a folder
of its own, with its share of that machine's cores and memory, and sends the picture and
its report back; the client writes them atomically into the output folder. A worker lost
mid-item means Dask runs the item again on another: nothing is lost, and an item never
half-written.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from nst_base.errors import NstError
from nst_base.files import atomic_file
from nst_ort.batch.plan import BatchItem
from nst_ort.batch.run import Batch, ItemResult, finished
from nst_ort.cluster import connect, require_distributed, task_slots, worker_share

RETRIES = 3  # times an item is sent when its task is lost with a worker

def run_remote(item: BatchItem, name: str, inputs: dict[str, bytes] | None, models_dir: str | None) -> dict:
    """On a worker: the item's inputs written to a folder of its own (unless on a shared file
    system), the item run there, its picture and report returned as bytes."""
    from nst_base.model_store import default_models_dir
    from nst_ort.batch.run import run_item

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


def run_on_cluster(batch: Batch, address: str, shared_fs: bool, say: Callable[[str], None],
                   record: Callable[[ItemResult, dict, float], None], results: dict) -> None:
    """Every item not finished yet, on the cluster at `address`; results written as they come.

    Items go out a few at a time (twice the cluster's task slots), each with its inputs'
    bytes: the scheduler holds no more than that, Dask can always run a task again (nothing
    it needs lives only on one worker), and an item whose task was lost with its worker
    is sent again, up to RETRIES times."""
    distributed = require_distributed()
    client = connect(address)
    started = time.perf_counter()
    queue: deque[tuple[BatchItem, str, int]] = deque()
    in_flight: dict = {}
    try:
        for item, name in zip(batch.items, batch.names):
            missing = next((path for path in (item.content, *item.styles) if not Path(path).is_file()), None)
            if item.problem:
                record(ItemResult(name, "failed", error=item.problem), results, started)
            elif finished(batch.out_dir / f"{name}.json") and (batch.out_dir / f"{name}.png").is_file():
                record(ItemResult(name, "skipped"), results, started)
            elif missing is not None:
                record(ItemResult(name, "failed", error=f"image not found: {missing}"), results, started)
            else:
                queue.append((item, name, 1))
        window = 2 * task_slots(client)
        say(f"on {address}: {len(client.scheduler_info()['workers'])} workers, {len(queue)} items")
        models = str(batch.models_dir) if shared_fs else None
        completed = distributed.as_completed()

        def send() -> None:
            while queue and len(in_flight) < window:
                item, name, attempt = queue.popleft()
                inputs = None if shared_fs else {str(path): Path(path).read_bytes() for path in (item.content, *item.styles)}
                key = f"nst-{name}-{uuid.uuid4().hex[:8]}"  # unique: a rerun's items are new tasks
                future = client.submit(run_remote, item, name, inputs, models, key=key, pure=False)
                in_flight[future] = (item, name, attempt)
                completed.add(future)

        send()
        for future in completed:
            item, name, attempt = in_flight.pop(future)
            try:
                answer = future.result()
            except Exception as error:  # noqa: BLE001 - lost with its workers, or a worker-side bug
                if attempt < RETRIES and not isinstance(error, NstError):
                    say(f"{name}: its task was lost ({type(error).__name__}); sending it again")
                    queue.appendleft((item, name, attempt + 1))
                else:
                    reason = f"{type(error).__name__}: {error}".splitlines()[0]
                    record(ItemResult(name, "failed", error=reason), results, started)
                send()
                continue
            _write(batch.out_dir, name, answer)
            record(answer["result"], results, started)
            send()
    except KeyboardInterrupt:
        client.cancel(list(in_flight))
        raise
    finally:
        client.close()


def _write(out_dir: Path, name: str, answer: dict) -> None:
    """The picture, then its report (the report says the item is finished), each atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for suffix, key in ((".png", "picture"), (".json", "report")):
        if answer.get(key) is not None:
            with atomic_file(out_dir / f"{name}{suffix}") as tmp:
                tmp.write_bytes(answer[key])
