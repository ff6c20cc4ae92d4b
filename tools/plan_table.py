"""The table of memory plans for a 6000x4500 print under several --max-memory limits (docs/print.md).

    .venv/bin/python tools/plan_table.py    # print it and rewrite the block "plan" in docs/print.md

Each row is what `nst stylize --size 6000` on a 6000x4500 photo would plan with the default
settings (VGG16, Gatys layers, one style, L-BFGS): nst_ort.core.memory_plan, no run.
"""

from __future__ import annotations

from readme import DOCS, replace_block

from nst_base.errors import NstError
from nst_graphs.loss_graph import DEFAULT_LOSS_LAYERS
from nst_ort.core.memory_plan import PlanRequest, plan_run

PAGE = DOCS / "print.md"  # the page the table lives on (tests read it there)
WIDTH, HEIGHT = 6000, 4500
LIMITS_GIB = (4, 8, 12, 16, 24)


def plan_line(limit_gib: int) -> str:
    layers = DEFAULT_LOSS_LAYERS
    request = PlanRequest(WIDTH, HEIGHT, "portable", "lbfgs", "vgg16", layers.content + layers.style, layers.content,
                          {"relu4_2": 512}, limit=limit_gib * 2**30)
    try:
        return plan_run(request).describe()
    except NstError as error:
        return f"refused: {error}"


def markdown_table() -> str:
    rows = [f"| limit | plan for {WIDTH}x{HEIGHT} (Gatys layers, one style, L-BFGS) |", "|---|---|"]
    rows += [f"| `--max-memory {limit}G` | {plan_line(limit)} |" for limit in LIMITS_GIB]
    return "\n".join(rows)


if __name__ == "__main__":
    table = markdown_table()
    print(table)
    replace_block("plan", table, PAGE)
