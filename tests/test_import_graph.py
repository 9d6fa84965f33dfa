"""No import cycles among docgen's, flows' and tasks' modules (see tests/import_graph.py).

Any cycle fails the suite: an import moved into a function or under TYPE_CHECKING to dodge a
circle is still a circle in the design (issue 21 broke the last four).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.import_graph import cycles, graph


def _show(found: list[frozenset[str]]) -> str:
    return "; ".join(" - ".join(sorted(c)) for c in sorted(found, key=sorted))


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    return graph()


def test_no_import_cycles_at_all(edges: dict[str, set[str]]) -> None:
    found = cycles(edges)
    assert not found, f"import cycles: {_show(found)}"


def test_the_checker_sees_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    """The graph counts function-local imports, so a circle dodged by a late import is found."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from pkg import a\n")
    edges = graph(tmp_path, ["pkg"])
    assert edges["pkg.sub.b"] == {"pkg.c"}
    assert cycles(edges) == [frozenset({"pkg.a", "pkg.sub.b", "pkg.c"})]


def test_domain_types_do_not_depend_on_the_database(edges: dict[str, set[str]]) -> None:
    """Sources and renderers of objects read docgen.model, not docgen.db (issue 21)."""
    independent = [
        name
        for name in edges
        if name == "docgen.model"
        or name.startswith("docgen.sources.")
        and not name.startswith("docgen.sources.dbt")  # owned elsewhere, re-exports kept
        or name in {f"docgen.render.{m}" for m in ("markdown", "html", "dbt_yaml", "diff")}
    ]
    leaks = {
        name: sorted(t for t in edges[name] if t == "docgen.db" or t.startswith("docgen.db."))
        for name in independent
    }
    assert independent and not {k: v for k, v in leaks.items() if v}
