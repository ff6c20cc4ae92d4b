"""The option reference in docs/options.md, generated from the option schema (nst_ort/options/stylize.py).

    .venv/bin/python tools/options_table.py    # print it and rewrite the block "options" in docs/options.md

One row per option: its flag, the commands that take it, its default, what it allows and
means, and whether it changes the picture (a resumed run keeps those; results carry them).
"""

from __future__ import annotations

from readme import DOCS, replace_block

from nst_ort.options.stylize import StylizeOptions
from nst_ort.options.schema import allowed_text, specs

PAGE = DOCS / "options.md"  # the page the table lives on (tests read it there)


def markdown_table() -> str:
    rows = ["| option | commands | default | meaning | picture |", "|---|---|---|---|---|"]
    for spec in specs(StylizeOptions):
        option = spec.option
        if not option.commands:
            continue  # set by recipes only
        meaning = "; ".join(part for part in (option.help, option.doc, allowed_text(spec)) if part)
        commands = ", ".join(sorted(option.commands))
        default = option.describe_default(spec.default)
        rows.append(f"| `{spec.flag}` | {commands} | {default} | {meaning} | {'yes' if option.picture else 'no'} |")
    return "\n".join(rows)


if __name__ == "__main__":
    table = markdown_table()
    print(table)
    replace_block("options", table, PAGE)
