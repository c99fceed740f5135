"""Every relative link in README.md, CONTRIBUTING.md, CHANGELOG.md, docs/ (all its folders), deploy/ and
contrib/ points at a file that exists, and every anchor at a heading of that file (as GitHub makes
anchors from headings)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def markdown_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted(ROOT.glob("CONTRIBUTING.md")), *sorted(ROOT.glob("CHANGELOG.md"))]
    for folder in ("docs", "deploy", "contrib"):
        files.extend(sorted((ROOT / folder).rglob("*.md")))
    return files


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its words
    kept = "".join(
        character for character in text.lower() if character in " -_" or unicodedata.category(character)[0] in "LN"
    )
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    result = set()
    for heading in HEADING.findall(text):
        base = anchor(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    return [target for target in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(path: Path) -> None:
    broken = []
    for target in links(path):
        file_part, _, fragment = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_anchor_rule_is_githubs() -> None:
    assert anchor("Several controllers, one database (Galera included)") == (
        "several-controllers-one-database-galera-included"
    )
    assert anchor("`scrubctl scrub`: erase the data") == "scrubctl-scrub-erase-the-data"
    assert anchor("Exit codes & JSON") == "exit-codes--json"
