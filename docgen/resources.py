"""Locate the files docgen ships beside its code: migrations, the example project, prefect.yaml.

In a source checkout (or an editable install) they live at the repository root; a built
wheel carries copies under `docgen/_data/` (see pyproject's force-include).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"docgen is installed without its {name!r} files")


def sql_dir() -> Path:
    """The folder of NNN_name.sql migrations."""
    return _find("sql")


def examples_dir() -> Path:
    """The folder of example projects (examples/jaffle_shop is the demo's dbt project)."""
    return _find("examples")


def project_root() -> Path:
    """The folder holding prefect.yaml, flows/ and deployments/ (the repository or the wheel)."""
    return _find("prefect.yaml").parent
