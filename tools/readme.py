"""The README's generated blocks: the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->`."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def replace_block(name: str, text: str, readme: Path = README) -> None:
    """Put `text` between the block's markers, keeping everything else."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    head, rest = readme.read_text().split(begin, 1)
    readme.write_text(head + begin + "\n" + text + "\n" + end + rest.split(end, 1)[1])
