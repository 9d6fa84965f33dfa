"""Rendering a dbt project folder's models (the mixin `DbtFolder` uses): the request each
child process gets (vars, dispatch order, package macros, docs, the columns the YAML declares
so `adapter.get_columns_in_relation` needs no warehouse), and a second round for models that
asked for the columns of models rendered meanwhile.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

from docgen.sources.base import SourceObject, relative
from docgen.sources.dbt.calls import JINJA_COMMENT, SOURCE_CALL
from docgen.sources.dbt.evidence import plain as plain_values
from docgen.sources.dbt.project import Package, Problems, project_files, text_of
from docgen.sources.dbt.render_worker import RenderLimits, RenderPool
from docgen.sources.dbt.schema import Yml

_PASSTHROUGH = re.compile(
    r"^\s*select\s+(?:\*|\{\{\s*dbt_utils\.star\([^}]*\)\s*\}\})\s+from\s+\{\{(.*?)\}\}\s*;?\s*$",
    re.S | re.I,
)
_CONFIG_CALL = re.compile(r"\{\{\s*config\(.*?\)\s*\}\}", re.S)
_VAR_CALL = re.compile(r"\s*var\(\s*(['\"])(\w+)\1\s*\)\s*")
_BUILTIN_MACROS = Path(__file__).with_name("dbt_macros.sql")


class Rendering:
    """What `DbtFolder` renders with; it sets these attributes."""

    root: Path
    name: str
    config: dict[str, Any]
    dialect: str | None
    target: dict[str, Any]
    packages: list[Package]
    project: Package
    problems: Problems
    docs: dict[str, str]
    limits: RenderLimits

    def _text(self, path: Path) -> str | None:
        return text_of(self.root, path, self.problems)

    def _declared_columns(
        self, sources: dict[str, SourceObject], ymls: dict[str, Yml], texts: dict[str, str],
        models: dict[str, Any],
    ) -> dict[str, list[tuple[str, str | None]]]:  # fmt: skip
        """Columns the YAML declares, by the name a relation prints as: what
        `adapter.get_columns_in_relation` answers instead of the warehouse. A model that only
        selects * from a source (Fivetran's `_tmp` models) has that source's columns."""
        found: dict[str, list[tuple[str, str | None]]] = {}
        for source in sources.values():
            if source.columns:
                found[source.name] = [(c.name, c.data_type) for c in source.columns]
        for name, yml in ymls.items():
            if yml.columns:
                found[name] = [(c.name, c.data_type) for c in yml.columns]
        variables = self.config.get("vars") or {}
        scopes = [variables, *[v for v in variables.values() if isinstance(v, dict)]]
        flat = {k: v for scope in scopes for k, v in scope.items() if isinstance(v, str)}
        for name, text in texts.items():
            match = _PASSTHROUGH.match(JINJA_COMMENT.sub("", _CONFIG_CALL.sub("", text)))
            if not match or models[name].base in found:
                continue
            call = match.group(1)
            var = _VAR_CALL.fullmatch(call)
            if var:
                call = flat.get(var.group(2), "").strip().removeprefix("{{").removesuffix("}}")
            called = SOURCE_CALL.search(call)
            key = f"{called.group(2)}.{called.group(4)}" if called else None
            if key in found:
                found[models[name].base] = found[key]
        return found

    def _render(
        self, requests: dict[str, dict[str, Any]], ymls: dict[str, Yml],
        columns: dict[str, list[tuple[str, str | None]]],
    ) -> dict[str, dict[str, Any]]:  # fmt: skip
        macro_files = [
            {"package": "dbt", "path": "(docgen: dbt's own macros)",
             "text": _BUILTIN_MACROS.read_text()}
        ]  # fmt: skip
        for package in [*self.packages, self.project]:
            for folder in package.macro_paths:
                if not folder.is_dir():
                    continue
                for file in project_files(self.root, folder, [".sql", ".jinja"], self.problems):
                    text = self._text(file)
                    if text and "macro" in text:
                        macro_files.append(
                            {"package": package.name, "path": relative(file, self.root),
                             "text": text}
                        )  # fmt: skip
        root_vars = self.config.get("vars") or {}
        names = {p.name for p in self.packages} | {self.name}
        model_info: dict[str, Any] = {}
        for base, yml in ymls.items():
            if yml.versions:
                model_info[base] = {"versions": [str(v["v"]) for v in yml.versions],
                                    "latest": yml.latest}  # fmt: skip
        spec = plain_values(
            {
                "project": self.name,
                "dialect": self.dialect or "postgres",
                "target": {"name": "dev", "target_name": "dev", "schema": "analytics",
                           "database": "analytics", "type": self.dialect or "postgres",
                           "threads": 1, **self.target},
                "vars": {k: v for k, v in root_vars.items() if k not in names},
                "scoped_vars": {k: v for k, v in root_vars.items()
                                if k in names and isinstance(v, dict)},
                "package_vars": {p.name: p.config.get("vars") for p in self.packages
                                 if isinstance(p.config.get("vars"), dict)},
                "env": _dbt_environment(),
                "dispatch": _dispatch_order(self.config.get("dispatch")),
                "packages": sorted(p.name for p in self.packages),
                "versions": {
                    p.name: p.config.get("version") for p in [*self.packages, self.project]
                },
                "models": model_info,
                "docs": self.docs,
                "columns": columns,
                "run_started_at": datetime.datetime.now(datetime.UTC).isoformat(),
            }
        )  # fmt: skip
        results = RenderPool(spec, macro_files, self.limits, self._warn_render).render_all(requests)
        for _ in range(3):  # columns of models rendered meanwhile, for those that asked
            derived = _output_columns(results, requests, columns, self.dialect)
            retry = {
                k: r
                for k, r in requests.items()
                if any(a in derived for a in results.get(k, {}).get("asked") or [])
            }
            if not retry:
                break
            columns.update(derived)
            spec["columns"] = columns
            pool = RenderPool(spec, macro_files, self.limits, self._warn_render)
            results.update(pool.render_all(retry))
        return results

    def _warn_render(self, path: str, message: str) -> None:
        self.problems.add(path, message)


def _dbt_environment() -> dict[str, str]:
    from docgen.config import dbt_env_vars

    return dbt_env_vars()


def _dispatch_order(value: Any) -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    for entry in value if isinstance(value, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("macro_namespace"), str):
            search = entry.get("search_order")
            if isinstance(search, list) and all(isinstance(s, str) for s in search):
                order[entry["macro_namespace"]] = search
    return order


def _output_columns(
    results: dict[str, dict[str, Any]], requests: dict[str, dict[str, Any]],
    known: dict[str, list[tuple[str, str | None]]], dialect: str | None,
) -> dict[str, list[tuple[str, str | None]]]:  # fmt: skip
    """Output columns (sqlglot) of rendered models that another model asked the warehouse
    for, when they are all named (a `*` over a table, not a CTE, stays unknown)."""
    import sqlglot
    from sqlglot.optimizer.qualify import qualify

    wanted = {a for r in results.values() if r.get("sql") is None for a in r.get("asked") or []}
    derived: dict[str, list[tuple[str, str | None]]] = {}
    for key, request in requests.items():
        name = request["name"]
        sql = results.get(key, {}).get("sql")
        if name not in wanted or name in known or not sql:
            continue
        try:
            tree = sqlglot.parse_one(sql, read=dialect)
            # `select * from cte` where the CTE names its columns: expanded
            tree = qualify(tree, dialect=dialect, validate_qualify_columns=False, identify=False)
            selects = tree.named_selects  # type: ignore[attr-defined]
        except (sqlglot.errors.SqlglotError, RecursionError, ValueError, KeyError):
            continue
        if selects and "*" not in selects and all(selects):
            derived[name] = [(c, None) for c in selects]
    return derived
