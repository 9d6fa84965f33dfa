"""Complexity score cases as data files: tests/fixtures/complexity/*, first line `expect: N`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docgen.complexity import compute_complexity

CASES = sorted((Path(__file__).parent / "fixtures" / "complexity").glob("*.*"))


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_complexity_case(path: Path) -> None:
    text = path.read_text()
    expected = int(re.search(r"expect:\s*(\d)", text.splitlines()[0]).group(1))  # type: ignore[union-attr]
    language = "python" if path.suffix == ".py" else "sql"
    result = compute_complexity(text, language, "postgres")
    assert result.score == expected, (result.points, result.features)


def test_scores_grow_with_structure() -> None:
    scores = [compute_complexity(p.read_text()).score for p in CASES if p.suffix == ".sql"]
    assert min(scores) == 1 and max(scores) == 5
