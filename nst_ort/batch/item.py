"""One item of a batch: the job `nst stylize` runs (jobs/lifecycle.py), its outputs named
predictably in the batch's folder, and what became of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nst_ort.batch.plan import BatchItem
from nst_ort.core.levels import StylizeResult
from nst_ort.jobs.job import Job, Outputs
from nst_ort.jobs.lifecycle import complete, settle, start
from nst_ort.jobs.status import Status
from nst_ort.jobs.run_folder import RunFolder
from nst_ort.jobs.runner import resume_runner
from nst_ort.options.recipes import recipe_options

RUNS = ".runs"  # the items' run folders in the batch's folder


@dataclass
class ItemResult:
    """What became of one item."""

    name: str
    status: Status  # done, skipped, failed or stopped
    seconds: float = 0.0
    loss: float | None = None
    peak_bytes: int | None = None
    error: str = ""
    wh: float | None = None  # the energy it drew (its report's energy block)


def finished(report: Path) -> bool:
    """Whether an item's report says its run went to the end."""
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("interrupted") is False


def run_item(item: BatchItem, name: str, out_dir: Path, models_dir: Path, machine: dict) -> ItemResult:
    """One item that Batch.triage lets run, in this process, as `nst stylize` runs it (the job
    life cycle, jobs/lifecycle.py), resumed where a stopped batch left it. `machine`: threads
    and memory for it when the item does not set them."""
    image, report = out_dir / f"{name}.png", out_dir / f"{name}.json"
    folder = RunFolder(out_dir / RUNS / f"{name}.nst-run")

    def work() -> StylizeResult:
        if folder.checkpoint_file.is_file():
            return complete(resume_runner(folder.path, models_dir, outputs={"image": image, "report": report}))
        options = recipe_options(item.recipe, None, **{**machine, **item.options})
        options.validate()
        job = Job(item.content, item.styles, options, outputs=Outputs(image, report),
                  explicit_size="size" in item.options)
        return complete(start(job, models_dir, folder, restart=True))

    ending = settle(work)
    result = ending.result
    if result is None:
        return ItemResult(name, ending.status, ending.seconds, error=ending.error)
    return ItemResult(name, ending.status, ending.seconds, result.outcome.loss, result.report.get("peak_rss_bytes"),
                      ending.error, result.report["energy"]["wh"])


def item_files(name: str) -> list[str]:
    """The files an item writes in the output folder."""
    return [f"{name}.png", f"{name}.json"]
