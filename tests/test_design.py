"""The design document lives in the repository and every citation of it resolves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "DESIGN.md"
CITATION = re.compile(r"DESIGN (?:§\d(?:, §\d)*|rows? [A-Z]\d+(?:[,–-] ?[A-Z]\d+)*|[A-Z]\d+[–-][A-Z]\d+)")


def _citing_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "dodo.py", *sorted((ROOT / "src" / "landscape").rglob("*.py"))]


def test_every_design_citation_names_a_section_or_question_of_the_document():
    text = DESIGN.read_text()
    sections = set(re.findall(r"^## (\d)\. ", text, flags=re.M))
    questions = set(re.findall(r"^\| ([A-Z]\d+) \|", text, flags=re.M))
    cited = [(path.name, match) for path in _citing_files() for match in CITATION.findall(path.read_text())]
    assert cited, "no citation found: the pattern no longer matches how the code cites the design"
    for name, citation in cited:
        for number in re.findall(r"§(\d)", citation):
            assert number in sections, f"{name} cites DESIGN §{number}, which docs/DESIGN.md does not have"
        for question in re.findall(r"[A-Z]\d+", citation):
            assert question in questions, f"{name} cites DESIGN {question}, not a row of docs/DESIGN.md's table"


def test_no_file_points_at_a_design_document_outside_the_repository():
    for path in _citing_files():
        assert "shared/DESIGN" not in path.read_text(), f"{path.name} cites a design document a clone does not have"
