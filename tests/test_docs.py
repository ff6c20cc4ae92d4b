"""The documentation: README.md and the pages under docs/ link to each other without a broken link.

Every relative link or image in README.md and docs/*.md must name an existing file, and every
`#anchor` a heading of the page it points to (GitHub's heading slugs); README.md stays a short
newcomer's page that links every page directly; the generated tables keep their markers on the
pages their scripts write.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_LIMIT = 12 * 1024  # bytes

# blocks written between `<!-- NAME:begin -->` and `<!-- NAME:end -->` (docs/development.md, "Generated tables")
BLOCKS = ("platforms", "plan", "options", "option-examples", "quality", "tiled", "checkpoint", "optimizers", "video",
          "batch", "studio", "losses", "memory-model", "memory-larger", "energy")

FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")
INLINE_LINK = re.compile(r"\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_ID = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
MARKER = re.compile(r"<!--\s*([\w-]+):(begin|end)\s*-->")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto: ...


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lowercased, punctuation but '-' and '_' removed,
    spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LMN")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor a page has: its headings' slugs (repeats get -1, -2 ...) and explicit ids."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(page.read_text(encoding="utf-8")):
        found.update(HTML_ID.findall(line))
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            found.add(base if base not in seen else f"{base}-{seen[base]}")
            seen[base] = seen.get(base, 0) + 1
    return found


def links(page: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link, image and reference definition outside code."""
    found = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        line = CODE_SPAN.sub("", line)
        targets = INLINE_LINK.findall(line) + REFERENCE_DEFINITION.findall(line)
        found += [(number, target.strip("<>")) for target in targets]
    return found


def resolve(page: Path, target: str) -> tuple[Path | None, str]:
    """The file a relative link names (None for an external one) and its anchor ('' for none)."""
    if EXTERNAL.match(target):
        return None, ""
    path, _, anchor = target.partition("#")
    return ((page.parent / unquote(path)).resolve() if path else page), unquote(anchor)


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for number, target in links(page):
        where = f"{page.relative_to(root)}:{number}: ({target})"
        if not target:
            problems.append(f"{where} an empty link")
            continue
        path, anchor = resolve(page, target)
        if path is None:
            continue
        if not path.exists():
            problems.append(f"{where} no such file: {path}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            problems.append(f"{where} no heading #{anchor} in {path.relative_to(root)}")
    return problems


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_a_broken_link_or_anchor_is_caught(tmp_path):
    (tmp_path / "real.md").write_text("# A page: with `code`\n\n## Its section\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[fine](real.md#a-page-with-code) [fine](real.md#its-section) [fine](#page)\n"
                    "[gone](missing.md) ![gone](pics/none.png) [bad anchor](real.md#nowhere) [self](#nowhere)\n"
                    "`[in code](missing.md)`\n\n```\n[in a fence](missing.md)\n```\n[web](https://example.org/x)\n")
    problems = broken_links(page, root=tmp_path)
    assert len(problems) == 4, problems
    assert sum("no such file" in p for p in problems) == 2 and sum("no heading #nowhere" in p for p in problems) == 2


def test_slugs_follow_githubs_rules():
    assert slug("Video: `nst video`") == "video-nst-video"
    assert slug("The print run: 6000 px in 8 GB within 2 hours, on 2 cores") == \
        "the-print-run-6000-px-in-8-gb-within-2-hours-on-2-cores"
    assert slug("The style image above the painting's own resolution") == \
        "the-style-image-above-the-paintings-own-resolution"
    assert slug("Fewer evaluations: L-BFGS against SGD") == "fewer-evaluations-l-bfgs-against-sgd"
    assert slug("snake_case and Tübingen") == "snake_case-and-tübingen"


def test_readme_is_short():
    size = README.stat().st_size
    assert size < README_LIMIT, f"README.md is {size} bytes; a newcomer's page stays under {README_LIMIT}"


def test_readme_links_every_docs_page():
    linked = {path for path, _ in (resolve(README, target) for _, target in links(README)) if path is not None}
    missing = [page.name for page in sorted(DOCS.glob("*.md")) if page.resolve() not in linked]
    assert missing == [], f"docs pages README.md does not link: {missing}"


def test_generated_blocks_keep_their_markers_once_each():
    where: dict[str, list[str]] = {}
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for name, kind in MARKER.findall(text):
            where.setdefault(name, []).append(f"{page.relative_to(ROOT)}:{kind}")
            if kind == "begin":
                assert text.count(f"<!-- {name}:begin -->") == text.count(f"<!-- {name}:end -->") == 1, (page, name)
                assert text.index(f"<!-- {name}:begin -->") < text.index(f"<!-- {name}:end -->"), (page, name)
    for name, places in where.items():
        assert len(places) == 2 and places[0].split(":")[0] == places[1].split(":")[0], (name, places)
    assert set(BLOCKS) <= set(where), f"missing blocks: {set(BLOCKS) - set(where)}"


def _tools():
    for folder in (ROOT / "tools", DOCS, ROOT):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def test_generators_write_to_the_pages_that_hold_their_blocks():
    _tools()
    import make_gallery
    import plan_table
    from readme import read_block

    import bench.batch as batch
    import bench.quality as quality
    import bench.studio as studio

    targets = [(batch.PAGE, "batch"), (studio.PAGE, "studio"), (plan_table.PAGE, "plan"), (make_gallery.PAGE, make_gallery.BEGIN.split()[1].split(":")[0]),
               (quality.PAGE, quality.QUALITY_BEGIN.split()[1].split(":")[0]), (quality.PAGE, "losses")]
    if sys.version_info >= (3, 11):  # tools/platforms.py reads pyproject.toml with tomllib
        import platforms

        targets.append((platforms.PAGE, "platforms"))
    for page, name in targets:
        assert page.parent == DOCS and name in BLOCKS, (page, name)
        read_block(name, page)  # exits unless the page has the block's markers once each


def test_option_examples_table_is_generated_from_the_reports():
    _tools()
    import make_gallery
    from readme import read_block

    assert read_block("option-examples", make_gallery.PAGE) == make_gallery.options_table()


def test_quality_block_links_resolve_from_its_page(tmp_path, monkeypatch):
    _tools()
    import bench.quality as quality

    copy = tmp_path / "quality.md"
    copy.write_text(quality.PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(quality, "PAGE", copy)
    monkeypatch.setattr(quality, "RESULTS", tmp_path / "no-results")  # the pictures alone
    quality.page(None)  # without runs the quality block stays; the losses block comes from docs/bench

    def block(text: str, name: str) -> str:
        return text.split(f"<!-- {name}:begin -->")[1].split(f"<!-- {name}:end -->")[0]

    text = copy.read_text(encoding="utf-8")
    assert block(text, "quality") == block((DOCS / "quality.md").read_text(encoding="utf-8"), "quality")
    for name in ("quality", "losses"):
        pictures = INLINE_LINK.findall(block(text, name))
        assert pictures and all((DOCS / target).is_file() for target in pictures), (name, pictures)
