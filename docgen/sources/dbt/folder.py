"""A dbt project folder read the way `dbt parse` + `dbt compile` read it, without dbt.

- `dbt_project.yml` (paths, vars, folder configs, dispatch), packages installed under
  `dbt_packages/` (their macros, by namespace and through `adapter.dispatch`), the target of
  the project's own `profiles.yml` (its `type` is the SQL dialect);
- models (`.sql`, Python `.py`), versioned models, seeds, snapshots, schema `.yml` files
  (sources, descriptions, columns, tags, configs, `{{ doc() }}` blocks);
- each SQL model rendered in a bounded child process (`render_worker`, `sandbox`).

Lineage is the union of the calls the render saw and the `ref()`/`source()` calls written in
the text (a `ref()` inside `{% if is_incremental() %}` counts, as it does when dbt runs).
A model that cannot be rendered keeps its raw template, flagged `uncompiled` with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docgen.db.objects import Column
from docgen.errors import SourceError
from docgen.sources.base import SourceObject, SourceResult, relative
from docgen.sources.dbt import evidence
from docgen.sources.dbt.calls import (
    DYNAMIC_REF,
    JINJA_COMMENT,
    LITERAL,
    NAME,
    REF_CALL,
    SOURCE_CALL,
    python_calls,
)
from docgen.sources.dbt.context import as_bool
from docgen.sources.dbt.folder_render import Rendering
from docgen.sources.dbt.manifest import without_none
from docgen.sources.dbt.project import (
    Package,
    Problems,
    folders,
    installed_packages,
    load_project,
    profile_target,
    project_files,
)
from docgen.sources.dbt.render_worker import RenderLimits
from docgen.sources.dbt.schema import SchemaFiles, Yml, as_list

_DOCS_BLOCK = re.compile(r"\{%-?\s*docs\s+(\w+)\s*-?%\}(.*?)\{%-?\s*enddocs\s*-?%\}", re.S)
_SNAPSHOT_BLOCK = re.compile(
    r"\{%-?\s*snapshot\s+(\w+)\s*-?%\}(.*?)\{%-?\s*endsnapshot\s*-?%\}", re.S
)
_CONFIG_KEYS = {"materialized", "tags", "schema", "enabled", "database", "alias", "docs", "group"}


@dataclass
class _Model:
    name: str  # as stored: `orders`, or `orders.v2` for a version
    file: Path
    folder: Path | None
    base: str  # the model's name without version
    version: str | None = None


class DbtFolder(Rendering):
    def __init__(
        self, root: Path, *, dialect: str | None = None, limits: RenderLimits | None = None
    ) -> None:
        self.root = root
        self.problems = Problems(root)
        self.project: Package = load_project(root, self.problems)
        self.name = self.project.name
        self.config = self.project.config
        self.where = root / "dbt_project.yml"
        self.packages = installed_packages(root, self.project, self.problems)
        self.target = profile_target(root, self.project, self.problems)
        self.dialect = dialect or self.target.get("type") or None
        self.limits = limits or RenderLimits()
        self.docs: dict[str, str] = {}
        self.kept: list[str] = []
        self.schemas = SchemaFiles(root, self.name, self.dialect, self.docs, self.problems)

    def _paths(self, key: str, default: str) -> list[Path]:
        return folders(self.config, key, default, self.root, self.problems, self.where)

    def read(self) -> SourceResult:
        model_paths = [p for p in self._paths("model-paths", "models") if p.is_dir()]
        if not model_paths:
            raise SourceError(f"{self.root} has no model folder (model-paths in dbt_project.yml)")
        for folder in model_paths + self._paths("docs-paths", "docs"):
            if folder.is_dir():
                for md in project_files(self.root, folder, [".md"], self.problems):
                    for name, body in _DOCS_BLOCK.findall(self._text(md) or ""):
                        self.docs[name] = body.strip()
        seed_paths = self._paths("seed-paths", "seeds")
        snapshot_paths = self._paths("snapshot-paths", "snapshots")
        ymls, sources = self.schemas.read(model_paths + seed_paths + snapshot_paths)
        models = self._model_files(model_paths, ymls)
        seeds = {
            f.stem: f
            for folder in seed_paths
            if folder.is_dir()
            for f in project_files(self.root, folder, [".csv"], self.problems)
        }
        snapshots: dict[str, tuple[Path, str]] = {}
        for folder in snapshot_paths:
            if folder.is_dir():
                for file in project_files(self.root, folder, [".sql"], self.problems):
                    for name, body in _SNAPSHOT_BLOCK.findall(self._text(file) or ""):
                        snapshots[name] = (file, body)
        if not models:
            where = ", ".join(relative(p, self.root) for p in model_paths)
            raise SourceError(f"no dbt models (.sql or .py files) under {where} in {self.root}")

        keys = {m.name: f"model.{self.name}.{m.base}" for m in models.values()}
        for m in models.values():
            if m.version is not None:
                keys[m.name] = f"model.{self.name}.{m.base}.v{m.version}"
        for base, yml in ymls.items():  # bare ref() of a versioned model: its latest version
            if yml.versions and f"{base}.v{yml.latest}" in keys:
                keys[base] = keys[f"{base}.v{yml.latest}"]
        keys.update({n: f"seed.{self.name}.{n}" for n in seeds if n not in keys})
        keys.update({n: f"snapshot.{self.name}.{n}" for n in snapshots if n not in keys})

        texts = {}
        for name, model in models.items():
            text = self._text(model.file)
            if text is None:
                self.kept.append(relative(model.file, self.root))
            else:
                texts[name] = text
        configs = {
            name: self._config(m.file, m.folder, "models", ymls.get(m.base), m.version)
            for name, m in models.items()
        }
        snap_configs = {n: self._config(f, None, "snapshots", ymls.get(n)) for n, (f, _) in
                        snapshots.items()}  # fmt: skip
        requests = {
            name: self._request(m.base, texts[name], configs[name])
            for name, m in models.items()
            if name in texts and m.file.suffix == ".sql"
        }
        requests.update(
            {f"snapshot:{n}": self._request(n, body, snap_configs[n])
             for n, (_, body) in snapshots.items()}
        )  # fmt: skip
        columns = self._declared_columns(sources, ymls, texts, models)
        rendered = self._render(requests, ymls, columns)

        objects: list[SourceObject] = list(sources.values())
        for name, file in seeds.items():
            objects.append(self._seed(name, file, ymls.get(name)))
        for name, (file, body) in snapshots.items():
            objects.append(
                self._model(name, name, file, body, keys, sources, ymls.get(name),
                            snap_configs[name], rendered.get(f"snapshot:{name}"), snapshot=True)
            )  # fmt: skip
        for name, model in models.items():
            if name in texts:
                objects.append(
                    self._model(name, model.base, model.file, texts[name], keys, sources,
                                ymls.get(model.base), configs[name], rendered.get(name))
                )  # fmt: skip
        self._attach_exposures(objects, keys)
        return SourceResult(
            kind="dbt",
            scope=f"dbt:{self.name}",
            objects=objects,
            warnings=self.problems.warnings,
            kept_paths=self.kept,
        )

    def _model_files(self, model_paths: list[Path], ymls: dict[str, Yml]) -> dict[str, _Model]:
        files: dict[str, tuple[Path, Path]] = {}
        for folder in model_paths:
            for file in project_files(self.root, folder, [".sql", ".py"], self.problems):
                if file.stem in files:
                    first = relative(files[file.stem][0], self.root)
                    self.problems.add(
                        file, f"a second model named {file.stem!r} (first in {first}); ignored"
                    )
                    continue
                files[file.stem] = (file, folder)
        models: dict[str, _Model] = {}
        claimed: set[str] = set()
        for base, yml in ymls.items():
            for version in yml.versions:
                v = str(version["v"])
                stem = str(version.get("defined_in") or f"{base}_v{v}")
                if stem not in files and v == yml.latest and base in files:
                    stem = base  # the latest version may live in the unversioned file
                if stem in files:
                    file, folder = files[stem]
                    models[f"{base}.v{v}"] = _Model(f"{base}.v{v}", file, folder, base, v)
                    claimed.add(stem)
        for stem, (file, folder) in files.items():
            if stem not in claimed:
                models[stem] = _Model(stem, file, folder, stem)
        return models

    # configs and rendering -------------------------------------------------------------------
    def _folder_config(self, file: Path, folder: Path | None, section: str) -> dict[str, Any]:
        """Configs from dbt_project.yml `models:` (or `snapshots:`) for this file's folder;
        tags add up level by level, other keys are replaced."""
        tree = (self.config.get(section) or {}).get(self.name) or {}
        config: dict[str, Any] = {}
        tags: list[str] = []
        parts = list(file.relative_to(folder).parts[:-1]) if folder else []

        def take(level: Any) -> None:
            if isinstance(level, dict):
                for key, value in level.items():
                    bare = str(key).lstrip("+")
                    if str(key).startswith("+") or (
                        bare in _CONFIG_KEYS and not isinstance(value, dict)
                    ):
                        if bare == "tags":
                            tags.extend(as_list(value))
                        else:
                            config[bare] = value

        take(tree)
        for part in parts:
            tree = tree.get(part) if isinstance(tree, dict) else None
            if not isinstance(tree, dict):
                break
            take(tree)
        if tags:
            config["tags"] = tags
        return config

    def _config(
        self, file: Path, folder: Path | None, section: str, yml: Yml | None,
        version: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        config = self._folder_config(file, folder, section)
        tags = as_list(config.get("tags"))
        if yml:
            config.update(yml.config)
            tags += yml.tags
            for entry in yml.versions:
                if str(entry["v"]) == version and isinstance(entry.get("config"), dict):
                    config.update(entry["config"])
                    tags += as_list(entry["config"].get("tags"))
        config["tags"] = list(dict.fromkeys(tags))
        return evidence.plain(config)

    def _request(self, name: str, text: str, config: dict[str, Any]) -> dict[str, Any]:
        schema = config.get("schema")
        return {
            "name": name,
            "text": text,
            "package": self.name,
            "config": config,
            "schema": schema if isinstance(schema, str) else None,
        }

    # objects ---------------------------------------------------------------------------------
    def _attach_exposures(self, objects: list[SourceObject], keys: dict[str, str]) -> None:
        by_key: dict[str, list[dict[str, Any]]] = {}
        for record, targets in self.schemas.exposures:
            for target in targets:
                if target[0] == "ref":
                    key = keys.get(target[1])
                else:
                    key = f"source.{self.name}.{target[1]}.{target[2]}"
                if key is not None and record not in by_key.setdefault(key, []):
                    by_key[key].append(record)
        evidence.attach_exposures(objects, by_key)

    def _owners(self, config: dict[str, Any], yml: Yml | None) -> dict[str, Any]:
        """`meta` and `group` (with the group's owner) from YAML, folder and model configs."""
        meta = evidence.meta_of({"meta": yml.meta if yml else None}, {"meta": config.get("meta")})
        group = evidence.group_of({"group": yml.group if yml else None}, config)
        return {"meta": meta, "group": evidence.group_property(group, self.schemas.groups)}

    def _model(
        self, name: str, base: str, file: Path, text: str, keys: dict[str, str],
        sources: dict[str, SourceObject], yml: Yml | None, config: dict[str, Any],
        result: dict[str, Any] | None, *, snapshot: bool = False,
    ) -> SourceObject:  # fmt: skip
        path = relative(file, self.root)
        python = file.suffix == ".py"
        compiled: str | None = None
        unknown: list[str] = []
        problem: str | None = None
        scan = JINJA_COMMENT.sub("", text)
        if python:
            refs, source_calls, model_config = python_calls(text, path, self.problems)
        else:
            result = result or {"sql": None, "error": "not rendered"}
            compiled = result.get("sql")
            unknown = list(result.get("unknown") or [])
            model_config = result.get("config") or {}
            refs = [str(r) for r in result.get("refs") or []]
            refs += [
                f"{m.group(4) or m.group(2)}" + (f".v{m.group(5)}" if m.group(5) else "")
                for m in REF_CALL.finditer(scan)
            ]
            if DYNAMIC_REF.search(scan):
                # ref(name) over a list the render did not walk (its branch was off with the
                # default vars): the model names written as literals are its candidates
                refs += [n for n in LITERAL.findall(scan) if n in keys and n != base]
            source_calls = [tuple(s) for s in result.get("sources") or [] if len(s) == 2]
            source_calls += [(m.group(2), m.group(4)) for m in SOURCE_CALL.finditer(scan)]
            if compiled is None:
                undefined = "uses names neither the project nor dbt defines: "
                problem = result.get("error") or (
                    undefined + ", ".join(unknown) if unknown else "not rendered"
                )
                self.problems.add(
                    path, f"not rendered ({problem}); its raw template is kept",
                    line=result.get("line"),
                )  # fmt: skip
        tags = as_list(config.get("tags")) + as_list(model_config.get("tags"))
        config = {**config, **model_config}
        disabled = as_bool(config.get("enabled", True)) is False
        upstream: list[str] = []
        unresolved: list[str] = []
        for ref in dict.fromkeys(r for r in refs if NAME.match(r)):
            key = keys.get(ref)
            if key is not None and ref not in (name, base):
                upstream.append(key)
            elif ref not in (name, base) and ref.split(".v")[0] != base:
                unresolved.append(ref)
        for source_name, table in dict.fromkeys(source_calls):
            key = f"source.{self.name}.{source_name}.{table}"
            if key in sources:
                upstream.append(key)
            else:
                unresolved.append(f"source {source_name}.{table}")
        if unresolved:
            self.problems.add(
                path, "refers to what this project does not define: " + ", ".join(unresolved)
            )
        materialization = config.get("materialized") or ("snapshot" if snapshot else "view")
        return SourceObject(
            unique_key=keys[name] if not snapshot else f"snapshot.{self.name}.{name}",
            name=name,
            object_type="table" if snapshot else "dbt_model",
            code=text.strip() + "\n",
            compiled_code=compiled,
            language="python" if python else "sql",
            dialect=self.dialect,
            columns=self.schemas.version_columns(yml, name),
            upstream_keys=list(dict.fromkeys(upstream)),
            source_path=path,
            schema_name=config.get("schema") if isinstance(config.get("schema"), str) else None,
            description=yml.description if yml else None,
            materialization=str(materialization),
            tags=sorted({str(t) for t in tags}),
            properties=without_none(
                {
                    "package": self.name,
                    "resource_type": "snapshot" if snapshot else "model",
                    "version": name.rsplit(".v", 1)[1] if name != base else None,
                    "unresolved_refs": sorted(unresolved) or None,
                    "unknown_macros": sorted(unknown) or None,
                    "uncompiled": True if problem else None,
                    "render_problem": problem,
                    "disabled": True if disabled else None,
                    **self._owners(config, yml),
                }
            ),
        )

    def _seed(self, name: str, file: Path, yml: Yml | None) -> SourceObject:
        text = self._text(file) or ""
        lines = text.splitlines()
        header = [h.strip() for h in lines[0].split(",")] if lines else []
        columns = yml.columns if yml and yml.columns else [Column(name=h) for h in header if h]
        preview = "\n".join(lines[:6])
        return SourceObject(
            unique_key=f"seed.{self.name}.{name}",
            name=name,
            object_type="table",
            code=f"-- dbt seed {name} ({max(0, len(lines) - 1)} rows); first rows:\n{preview}\n",
            language="sql",
            dialect=self.dialect,
            columns=columns,
            source_path=relative(file, self.root),
            description=yml.description if yml else None,
            materialization="seed",
            tags=sorted(set(yml.tags)) if yml else [],
            properties=without_none(
                {
                    "package": self.name,
                    "resource_type": "seed",
                    **self._owners(yml.config if yml else {}, yml),
                }
            ),
        )
