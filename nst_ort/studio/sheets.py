"""A sweep's pictures as one labelled sheet: the runs the page made at once (each painting x
each strength), each labelled with its painting and strength, saved as one PNG."""

from __future__ import annotations

import io

from PIL import Image

from nst_ort.io.sheet import contact_sheet
from nst_ort.studio.fields import FieldError
from nst_ort.studio.workspace import RunRecord, Workspace

MAX_CELLS = 64


def cell_label(record: RunRecord) -> str:
    """What tells a sweep's pictures apart: the paintings, and the strength where one was set."""
    paintings = " + ".join(record.titles.get(name) or name for name in record.styles)
    weight = record.options.get("style_weight")
    return paintings + (f", strength {weight}" if weight not in (None, "") else "")


def sweep_sheet(workspace: Workspace, run_ids: list[str], columns: int) -> bytes:
    """The runs' pictures (finished or as far as they got) on one sheet, as PNG bytes; FieldError
    for a run with no picture yet."""
    if not run_ids or len(run_ids) > MAX_CELLS:
        raise FieldError(f"name 1 to {MAX_CELLS} runs for a sheet", "runs")
    cells = []
    for run_id in run_ids:
        record, picture = workspace.load(run_id), workspace.picture(run_id)
        if picture is None:
            raise FieldError(f"{cell_label(record)} has no picture yet", "runs")
        with Image.open(picture) as image:
            cells.append((cell_label(record), image.convert("RGB")))
    data = io.BytesIO()
    contact_sheet(cells, columns).save(data, format="PNG")
    return data.getvalue()
