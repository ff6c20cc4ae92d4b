"""Generated blocks in the documentation: the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.

The blocks live on the pages under docs/ that README.md links to; each script that writes one
names its page (docs/development.md, "Generated tables", lists them all).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def read_block(name: str, page: Path) -> str:
    """The text between the block's markers on `page` (without the marker lines' newlines)."""
    begin, end = _markers(name)
    text = page.read_text()
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise SystemExit(f"{page} needs exactly one {begin} ... {end}")
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def replace_block(name: str, text: str, page: Path) -> None:
    """Put `text` between the block's markers on `page`, keeping everything else."""
    read_block(name, page)  # the markers are there, once each, in order
    begin, end = _markers(name)
    head, rest = page.read_text().split(begin, 1)
    page.write_text(head + begin + "\n" + text + "\n" + end + rest.split(end, 1)[1])
