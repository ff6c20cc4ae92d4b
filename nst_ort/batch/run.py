"""Running a batch: each item is the job `nst stylize` runs (nst_ort/jobs/job.py), in this process or
in worker processes, its outputs named predictably in the output folder:

    OUT/NAME.png        the picture (with its settings, as every result)
    OUT/NAME.json       its report (settings, losses, seconds, peak memory)
    OUT/.runs/NAME.nst-run   its run folder while it runs; a stopped item resumes from it
    OUT/index.json, OUT/index.csv   every item's status, time, loss, peak memory, error
    OUT/sheet_CONTENT.png          a contact sheet per content
    OUT/.nst-ort-batch.jsonl       the batch's marker: what it wrote (batch/folder.py)

An item whose report says it finished is skipped on a rerun; one that fails (a bad image, a
bad value, no memory) is recorded with its one-line reason and the rest go on. The folder is
the batch's alone while it runs, and a file there that the batch did not write is never
replaced: its item fails in one line instead.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from multiprocessing import active_children, get_context
from pathlib import Path

from PIL import Image

from nst_base.cores import usable_cores
from nst_base.errors import NstError
from nst_ort.batch.folder import BatchFolder
from nst_ort.batch.item import RUNS, ItemResult, finished, item_files, run_item
from nst_ort.batch.plan import BatchItem, names
from nst_ort.io.images import load_image
from nst_ort.jobs.status import Status
from nst_ort.platform.memory import available_bytes
from nst_ort.options.clock import format_seconds

@dataclass
class Batch:
    """A batch's items and where its results go."""

    items: list[BatchItem]
    out_dir: Path
    models_dir: Path
    workers: int = 1
    cluster: str | None = None  # a Dask scheduler's address (batch/cluster.py)
    shared_fs: bool = False  # the cluster's workers read the inputs (and models) by path

    def __post_init__(self) -> None:
        self.names = names(self.items)
        self.folder = BatchFolder(self.out_dir)

    def claim(self) -> BatchFolder:
        """The output folder, before any work: locked for this batch, and checked (batch/folder.py)."""
        sheets = {f"sheet_{item.content.stem}.png" for item in self.items}
        return self.folder.claim(["index.json", "index.csv", *sorted(sheets)])

    def triage(self, item: BatchItem, name: str) -> ItemResult | None:
        """What becomes of an item without running it: a bad row fails, a finished item is
        skipped, one whose picture or report in the folder the batch did not write fails (that
        file is never replaced); None: it runs."""
        if item.problem:
            return ItemResult(name, Status.FAILED, error=item.problem)
        if finished(self.out_dir / f"{name}.json") and (self.out_dir / f"{name}.png").is_file():
            return ItemResult(name, Status.SKIPPED)
        taken = self.folder.foreign(item_files(name))
        if taken is not None:
            return ItemResult(name, Status.FAILED, error=f"{taken} is in the way: nst batch did not write it "
                                                    f"(move it away to run this item)")
        return None

    def machine(self) -> dict:
        """Each item's share of the machine: the cores divided among the workers, and the memory
        free now (each worker plans within its share)."""
        cores = usable_cores()
        share = {"threads": max(1, cores // self.workers)}
        free = available_bytes()
        if free is not None and self.workers > 1:
            share["max_memory"] = free // self.workers
        return share

    def estimate(self) -> list[str]:
        """--dry-run: each item's time and energy (or why it would fail), and the total."""
        from nst_ort.core.estimate import estimate_run
        from nst_ort.io.images import header_size
        from nst_ort.options.recipes import recipe_options
        from nst_ort.platform.energy import describe_wh

        lines, seconds, wh = [], 0.0, 0.0
        machine = self.machine()
        for item, name in zip(self.items, self.names):
            try:
                if item.problem:
                    raise NstError(item.problem)
                options = recipe_options(item.recipe, None, **{**machine, **item.options})
                options.validate()
                estimate = estimate_run(header_size(item.content), options, styles=len(item.styles))
            except NstError as error:
                lines.append(f"{name}: would fail: {error}")
                continue
            seconds, wh = seconds + estimate.seconds, wh + estimate.wh
            lines.append(f"{name}: {estimate.summary()}")
        lines.append(f"{len(self.items)} items: about {format_seconds(seconds / self.workers)} with {self.workers} "
                     f"worker{'s' if self.workers > 1 else ''}, {describe_wh(wh)} in all")
        return lines

    def run(self, say: Callable[[str], None] = lambda line: None) -> list[ItemResult]:
        """Every item not finished yet (in a folder `claim` holds); results recorded in the index
        as they come."""
        results: dict[str, ItemResult] = {}
        machine, started = self.machine(), time.perf_counter()
        todo = []
        for item, name in zip(self.items, self.names):
            result = self.triage(item, name)
            if result is None:
                todo.append((item, name))
            else:
                self._record(result, results, started, say, index=False)
        try:
            if self.cluster is not None:
                from nst_ort.batch.cluster import run_on_cluster

                run_on_cluster(self.cluster, self.folder, self.models_dir, self.shared_fs, todo, say,
                               lambda result: self._record(result, results, started, say))
            elif self.workers == 1:
                for item, name in todo:
                    self._ran(run_item(item, name, self.out_dir, self.models_dir, machine), results, started, say)
                    if results[name].status is Status.STOPPED:  # a stop signal: the batch stops with it
                        raise KeyboardInterrupt
            else:
                self._run_in_processes(todo, machine, results, started, say)
        finally:
            self.write_index(results)
            with contextlib.suppress(OSError):
                (self.out_dir / RUNS).rmdir()  # the batch's own, once no stopped item is kept there
        return [results[name] for name in self.names if name in results]

    def _run_in_processes(self, todo: list[tuple[BatchItem, str]], machine: dict, results: dict,
                          started: float, say: Callable[[str], None]) -> None:
        """One onnxruntime session per worker process (sessions cannot be pickled): each item is
        run whole in a worker."""
        with ProcessPoolExecutor(self.workers, mp_context=get_context("spawn")) as pool:
            pending: set[Future] = {pool.submit(run_item, item, name, self.out_dir, self.models_dir, machine)
                                    for item, name in todo}
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._ran(future.result(), results, started, say)
            except KeyboardInterrupt:
                for future in pending:
                    future.cancel()
                for child in active_children():  # as Ctrl-C would: each keeps its best image and checkpoint
                    with contextlib.suppress(OSError):
                        os.kill(child.pid, signal.SIGINT)
                for future in pending:  # the items under way, stopped: their pictures are the batch's
                    with contextlib.suppress(Exception):
                        if not future.cancelled():
                            self._ran(future.result(), results, started, say)
                raise

    def _ran(self, result: ItemResult, results: dict, started: float, say: Callable[[str], None]) -> None:
        """An item run here or in a worker process: the files it wrote recorded as the batch's."""
        self.folder.record(item_files(result.name))
        self._record(result, results, started, say)

    def _record(self, result: ItemResult, results: dict, started: float, say: Callable[[str], None],
                index: bool = True) -> None:
        results[result.name] = result
        if index:
            self.write_index(results)
        count, total = len(results), len(self.items)
        ran = [r.seconds for r in results.values() if r.status in (Status.DONE, Status.FAILED)]
        eta = format_seconds((total - count) * sum(ran) / len(ran) / self.workers) if ran else "?"
        detail = {Status.DONE: f"{result.seconds:.1f} s, loss {result.loss:.4g}" if result.loss is not None else "",
                  Status.FAILED: result.error, Status.SKIPPED: "finished before",
                  Status.STOPPED: "stopped: resumes on a rerun"}
        say(f"[{count}/{total}] {result.name}: {result.status}"
            f"{' (' + detail[result.status] + ')' if detail[result.status] else ''}  "
            f"elapsed {format_seconds(time.perf_counter() - started)}  ETA {eta}")

    def write_index(self, results: dict[str, ItemResult]) -> None:
        """index.json and index.csv: every item, with its inputs, options and what became of it."""
        rows = []
        for item, name in zip(self.items, self.names):
            result = results.get(name, ItemResult(name, Status.PENDING))
            rows.append({"name": name, "content": str(item.content), "styles": ";".join(map(str, item.styles)),
                         "recipe": item.recipe, "options": json.dumps(item.options, default=str),
                         **{key: value for key, value in asdict(result).items() if key != "name"}})
        self.folder.write("index.json", (json.dumps(rows, indent=1) + "\n").encode())
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["name"])
        writer.writeheader()
        writer.writerows(rows)
        self.folder.write("index.csv", text.getvalue().encode())

    def write_sheets(self) -> list[Path]:
        """A contact sheet per content: the photo, then each finished result with its style and options."""
        from nst_ort.io.sheet import contact_sheet

        written = []
        by_content: dict[Path, list[tuple[BatchItem, str]]] = {}
        for item, name in zip(self.items, self.names):
            by_content.setdefault(item.content, []).append((item, name))
        for content, entries in by_content.items():
            cells = []
            for item, name in entries:
                path = self.out_dir / f"{name}.png"
                if path.is_file() and finished(self.out_dir / f"{name}.json"):
                    with Image.open(path) as picture:
                        cells.append((name[len(content.stem) + 2:] or name, picture.convert("RGB")))
            if not cells or not content.is_file():
                continue
            cells.insert(0, (f"content: {content.name}", load_image(content, limit=None)))  # through the decode guard
            sheet, picture = f"sheet_{content.stem}.png", io.BytesIO()
            contact_sheet(cells, min(len(cells), 5), cell_side=192).save(picture, format="PNG")
            self.folder.write(sheet, picture.getvalue())
            written.append(self.out_dir / sheet)
        return written
