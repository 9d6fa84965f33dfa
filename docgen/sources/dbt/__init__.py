"""dbt projects: from the manifest.json dbt wrote, or from the project folder without dbt.

The manifest is the truth when there is one: give it directly, or give the folder after
`dbt compile` / `dbt docs generate` and its `target/manifest.json` is read (a warning says
when that manifest and the folder disagree on the set of models). The folder route
(`folder.py`) is for users without dbt: it renders the Jinja itself, in bounded child
processes with a sandboxed context (`sandbox.py`, `render_worker.py`).

Modules: `manifest.py` (manifest.json), `project.py` (dbt_project.yml, packages, profiles,
files inside the root), `folder.py` (models, YAML, objects), `folder_render.py` (what the
folder's models are rendered with), `schema.py` (schema .yml files), `evidence.py`
(exposures, owners, groups, source loader and freshness, from YAML or the manifest, stored in
`properties`), `sandbox.py` + `sandbox_env.py` + `context.py` (the Jinja environment and
context), `render_worker.py` (child processes), `dbt_macros.sql` (dbt's own cross-database
macros).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the render worker imports this package: keep its start-up light
    from docgen.sources.base import SourceResult
    from docgen.sources.dbt.render_worker import RenderLimits

__all__ = ["read_dbt"]


def read_dbt(
    source: str | Path, *, dialect: str | None = None, limits: RenderLimits | None = None
) -> SourceResult:
    """Objects of a dbt project: SOURCE is a manifest.json or a project folder."""
    from docgen.sources.dbt.reader import read

    return read(source, dialect=dialect, limits=limits)
