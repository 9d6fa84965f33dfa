"""dbt projects: from a manifest.json dbt wrote, or from the project folder without running dbt.

A manifest is preferred (compiled SQL, columns, descriptions and `depends_on` exactly as dbt
resolved them). Without one, the folder is read the way `dbt parse` reads it:

- `dbt_project.yml` for the project name, model/seed/snapshot/macro paths, vars and folder
  configs (`+materialized`, `+tags`, `+schema`, `+enabled`);
- every model (`.sql` and Python `.py`), seed (`.csv`) and snapshot under those paths;
- every schema `.yml` for sources, descriptions, columns, tags and configs (`{{ doc() }}`
  references resolved from `{% docs %}` blocks);
- the SQL is rendered with Jinja in a sandbox where `ref()`, `source()`, `config()`, `var()`,
  `is_incremental()` and the project's own macros work like dbt's parse step. `env_var()`
  never reads the real environment: it gives its default. Macros of packages that are not
  installed (dbt_utils...) cannot be rendered, so such a model keeps its raw code only, but
  its lineage is still read from the `ref()`/`source()` calls in its text.

Lineage is the union of the calls the render saw and the calls written in the text (so a
`ref()` inside `{% if is_incremental() %}` or a package macro's argument counts, as it does
for dbt when it runs).
"""

from __future__ import annotations

import ast
import datetime
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
import yaml

from docgen.db.objects import Column, ObjectType
from docgen.errors import SourceError
from docgen.sources.base import (
    IngestWarning,
    SourceObject,
    SourceResult,
    existing_path,
    files_under,
    read_text,
    relative,
)

_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_REF_CALL = re.compile(
    r"(?<![\w.])ref\s*\(\s*(['\"])([^'\"]+)\1\s*(?:,\s*(['\"])([^'\"]+)\3\s*)?"
    r"(?:,\s*(?:v|version)\s*=\s*[^)]*)?\)"
)
_SOURCE_CALL = re.compile(
    r"(?<![\w.])source\s*\(\s*(['\"])([^'\"]+)\1\s*,\s*(['\"])([^'\"]+)\3\s*\)"
)
_DOCS_BLOCK = re.compile(r"\{%-?\s*docs\s+(\w+)\s*-?%\}(.*?)\{%-?\s*enddocs\s*-?%\}", re.S)
_DOC_CALL = re.compile(r"\{\{\s*doc\(\s*['\"]([^'\"]+)['\"]\s*\)\s*\}\}")
_SNAPSHOT_BLOCK = re.compile(
    r"\{%-?\s*snapshot\s+(\w+)\s*-?%\}(.*?)\{%-?\s*endsnapshot\s*-?%\}", re.S
)
_DYNAMIC_REF = re.compile(r"(?<![\w.])ref\s*\(\s*[A-Za-z_]")
_LITERAL = re.compile(r"['\"]([A-Za-z_][\w]*)['\"]")
_NAME = re.compile(r"^[\w.-]+$")
_MACRO_NAME = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\(")
_CONFIG_KEYS = {"materialized", "tags", "schema", "enabled", "database", "alias", "docs"}


# --- entry point ----------------------------------------------------------------------------


def read_dbt(source: str | Path, *, dialect: str | None = None) -> SourceResult:
    """Objects of a dbt project: SOURCE is a manifest.json or a project folder."""
    path = existing_path(source, "dbt source")
    if path.is_file():
        if path.suffix != ".json":
            raise SourceError(f"{path} is neither a dbt project folder nor a manifest.json")
        return read_manifest(path)
    if not (path / "dbt_project.yml").is_file():
        raise SourceError(
            f"{path} has no dbt_project.yml (give a dbt project folder or its manifest.json)"
        )
    return DbtFolder(path, dialect=dialect).read()


# --- manifest.json --------------------------------------------------------------------------

_MANIFEST_RESOURCES: dict[str, ObjectType] = {
    "model": "dbt_model",
    "seed": "table",
    "snapshot": "table",
}


def read_manifest(path: Path) -> SourceResult:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        manifest = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path} is not UTF-8 text (byte offset {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("nodes"), dict):
        raise SourceError(f"{path} is not a dbt manifest (no 'nodes' object)")
    metadata = manifest.get("metadata") or {}
    project = metadata.get("project_name") or _project_from_nodes(manifest["nodes"])
    adapter = metadata.get("adapter_type")
    warnings: list[IngestWarning] = []
    objects: list[SourceObject] = []
    keys: set[str] = set()
    sources = manifest.get("sources") or {}
    for unique_id, node in sorted(sources.items()):
        if not isinstance(node, dict):
            continue
        keys.add(unique_id)
        objects.append(
            _source_object(
                unique_id=unique_id,
                source_name=node.get("source_name", ""),
                table=node.get("name", ""),
                relation=".".join(
                    p for p in (node.get("schema"), node.get("identifier") or node.get("name")) if p
                ),
                database=node.get("database"),
                schema=node.get("schema"),
                description=node.get("description") or None,
                source_description=node.get("source_description") or None,
                columns=_manifest_columns(node.get("columns")),
                tags=list(node.get("tags") or []),
                path=node.get("original_file_path"),
                dialect=adapter,
            )
        )
    # disabled nodes (`enabled: false`) are still code someone wrote: registered, marked
    disabled = {
        unique_id: versions[0]
        for unique_id, versions in (manifest.get("disabled") or {}).items()
        if isinstance(versions, list) and versions and isinstance(versions[0], dict)
    }
    nodes = [
        (unique_id, node)
        for unique_id, node in sorted({**disabled, **manifest["nodes"]}.items())
        if isinstance(node, dict) and node.get("resource_type") in _MANIFEST_RESOURCES
    ]
    keys.update(unique_id for unique_id, _ in nodes)
    for unique_id, node in nodes:
        config = node.get("config") or {}
        depends = (node.get("depends_on") or {}).get("nodes") or []
        missing = [d for d in depends if d not in keys and not d.startswith(("macro.", "test."))]
        if missing:
            warnings.append(
                IngestWarning(
                    path=node.get("original_file_path") or unique_id,
                    message=f"depends on {', '.join(missing)}, which the manifest does not hold",
                )
            )
        code = node.get("raw_code") if "raw_code" in node else node.get("raw_sql", "")
        compiled = (
            node.get("compiled_code") if "compiled_code" in node else node.get("compiled_sql")
        )
        resource = node["resource_type"]
        objects.append(
            SourceObject(
                unique_key=unique_id,
                name=node.get("name") or unique_id.rsplit(".", 1)[-1],
                object_type=_MANIFEST_RESOURCES[resource],
                code=code or "",
                compiled_code=compiled or None,
                language="python" if node.get("language") == "python" else "sql",
                dialect=adapter,
                columns=_manifest_columns(node.get("columns")),
                upstream_keys=[d for d in dict.fromkeys(depends) if d in keys],
                source_path=node.get("original_file_path"),
                database_name=node.get("database"),
                schema_name=node.get("schema"),
                description=node.get("description") or None,
                materialization=config.get("materialized")
                or ("seed" if resource == "seed" else None),
                tags=sorted(set(node.get("tags") or [])),
                properties=_without_none(
                    {
                        "package": node.get("package_name"),
                        "resource_type": resource,
                        "alias": node.get("alias"),
                        "unresolved_refs": sorted(missing) or None,
                        "disabled": True if unique_id in disabled else None,
                    }
                ),
            )
        )
    if not objects:
        raise SourceError(f"{path} holds no models, seeds, snapshots or sources")
    return SourceResult(kind="dbt", scope=f"dbt:{project}", objects=objects, warnings=warnings)


def _project_from_nodes(nodes: dict[str, Any]) -> str:
    for node in nodes.values():
        if isinstance(node, dict) and node.get("package_name"):
            return str(node["package_name"])
    return "unknown"


def _manifest_columns(columns: Any) -> list[Column]:
    if not isinstance(columns, dict):
        return []
    return [
        Column(
            name=str(c.get("name") or name),
            data_type=c.get("data_type") or None,
            description=c.get("description") or None,
        )
        for name, c in columns.items()
        if isinstance(c, dict)
    ]


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _source_object(
    *,
    unique_id: str,
    source_name: str,
    table: str,
    relation: str,
    database: str | None,
    schema: str | None,
    description: str | None,
    columns: list[Column],
    tags: list[str],
    path: str | None,
    dialect: str | None,
    source_description: str | None = None,
) -> SourceObject:
    """A dbt source table. Its code is a short DDL built from the declared columns, so the LLM
    (and a reader) sees the shape of the raw table."""
    if columns:
        body = ",\n".join(
            f"    {c.name} {c.data_type or ''}".rstrip()
            + (f"  -- {' '.join(c.description.split())}" if c.description else "")
            for c in columns
        )
        code = f"-- dbt source {source_name}.{table}\ncreate table {relation} (\n{body}\n);\n"
    else:
        code = f"-- dbt source {source_name}.{table}: raw table {relation} (columns not declared)\n"
    return SourceObject(
        unique_key=unique_id,
        name=f"{source_name}.{table}",
        object_type="table",
        code=code,
        dialect=dialect,
        columns=columns,
        source_path=path,
        database_name=database,
        schema_name=schema,
        description=description or None,
        materialization="source",
        tags=sorted(set(tags)),
        properties=_without_none(
            {
                "resource_type": "source",
                "relation": relation,
                "source_description": source_description,
            }
        ),
    )


# --- project folder -------------------------------------------------------------------------


class _Unknown(jinja2.ChainableUndefined):
    """A name the sandbox does not know (a package macro, `adapter`, `run_query`...).

    Calling it is allowed and recorded, so the model still renders far enough to see its
    `ref()` calls; a model that needed one keeps only its raw code.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> _Unknown:  # type: ignore[override]
        _state().unknown.add(self._undefined_name or "?")
        return self

    def __str__(self) -> str:
        _state().unknown.add(self._undefined_name or "?")
        return ""

    __iter__ = jinja2.Undefined.__iter__


@dataclass
class _RenderState:
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    this: str = ""


_local = threading.local()


def _state() -> _RenderState:
    state = getattr(_local, "state", None)
    if state is None:
        state = _local.state = _RenderState()
    return state


class _Target:
    def __init__(self, dialect: str | None) -> None:
        self.name = "dev"
        self.target_name = "dev"
        self.schema = "analytics"
        self.database = "analytics"
        self.type = dialect or "postgres"
        self.threads = 1


@dataclass
class _Yml:
    """What the schema .yml files say about one model, seed or snapshot."""

    description: str | None = None
    columns: list[Column] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


class DbtFolder:
    def __init__(self, root: Path, *, dialect: str | None = None) -> None:
        self.root = root
        self.dialect = dialect
        self.warnings: list[IngestWarning] = []
        self.kept: list[str] = []
        project = self._load_yaml(root / "dbt_project.yml")
        if not isinstance(project, dict) or not project.get("name"):
            raise SourceError(f"{root / 'dbt_project.yml'} has no project name")
        self.project: dict[str, Any] = project
        self.name = str(project["name"])
        self.vars: dict[str, Any] = dict(project.get("vars") or {})
        self.docs: dict[str, str] = {}
        self.env = self._environment()

    # paths from dbt_project.yml
    def _paths(self, key: str, default: str) -> list[Path]:
        value = self.project.get(key) or self.project.get(key.replace("-", "_")) or [default]
        return [self.root / p for p in ([value] if isinstance(value, str) else value)]

    def read(self) -> SourceResult:
        model_paths = [p for p in self._paths("model-paths", "models") if p.is_dir()]
        if not model_paths:
            wanted = ", ".join(map(str, self._paths("model-paths", "models")))
            raise SourceError(f"{self.root} has no model folder ({wanted})")
        for folder in model_paths + self._paths("docs-paths", "docs"):
            if folder.is_dir():
                for md in files_under(folder, [".md"]):
                    text = read_text(md, self.root, self.warnings)
                    for name, body in _DOCS_BLOCK.findall(text or ""):
                        self.docs[name] = body.strip()
        self._load_macros()
        ymls, sources = self._read_ymls(
            model_paths
            + self._paths("seed-paths", "seeds")
            + self._paths("snapshot-paths", "snapshots")
        )

        models: dict[str, tuple[Path, Path]] = {}  # name -> (file, its model folder)
        for folder in model_paths:
            for file in files_under(folder, [".sql", ".py"]):
                name = file.stem
                if name in models:
                    self.warnings.append(
                        IngestWarning(
                            path=relative(file, self.root),
                            message=f"a second model named {name!r} (first in "
                            f"{relative(models[name][0], self.root)}); ignored",
                        )
                    )
                    continue
                models[name] = (file, folder)
        seeds = {
            f.stem: f
            for folder in self._paths("seed-paths", "seeds")
            if folder.is_dir()
            for f in files_under(folder, [".csv"])
        }
        snapshots: dict[str, tuple[Path, str]] = {}
        for folder in self._paths("snapshot-paths", "snapshots"):
            if folder.is_dir():
                for file in files_under(folder, [".sql"]):
                    text = read_text(file, self.root, self.warnings)
                    for name, body in _SNAPSHOT_BLOCK.findall(text or ""):
                        snapshots[name] = (file, body)
        if not models:
            folders = ", ".join(relative(p, self.root) for p in model_paths)
            raise SourceError(f"no dbt models (.sql or .py files) under {folders} in {self.root}")

        keys = {name: f"model.{self.name}.{name}" for name in models}
        keys.update({name: f"seed.{self.name}.{name}" for name in seeds if name not in keys})
        keys.update(
            {name: f"snapshot.{self.name}.{name}" for name in snapshots if name not in keys}
        )
        objects: list[SourceObject] = list(sources.values())
        for name, file in seeds.items():
            objects.append(self._seed(name, file, ymls.get(name)))
        for name, (file, body) in snapshots.items():
            objects.append(
                self._model(name, file, None, body, keys, sources, ymls.get(name), snapshot=True)
            )
        for name, (file, folder) in models.items():
            text = read_text(file, self.root, self.warnings)
            if text is None:
                self.kept.append(relative(file, self.root))
                continue
            objects.append(self._model(name, file, folder, text, keys, sources, ymls.get(name)))
        return SourceResult(
            kind="dbt",
            scope=f"dbt:{self.name}",
            objects=objects,
            warnings=self.warnings,
            kept_paths=self.kept,
        )

    # YAML ------------------------------------------------------------------------------------
    def _load_yaml(self, path: Path) -> Any:
        text = read_text(path, self.root, self.warnings)
        if text is None:
            return None
        try:
            return yaml.load(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or "invalid YAML"
            if path.name == "dbt_project.yml":
                where = f" at line {mark.line + 1}" if mark else ""
                raise SourceError(f"{path} is not valid YAML{where}: {problem}") from exc
            self.warnings.append(
                IngestWarning(
                    path=relative(path, self.root),
                    line=mark.line + 1 if mark else None,
                    message=f"not valid YAML ({problem}); its descriptions are ignored",
                )
            )
            return None

    def _doc(self, text: Any) -> str | None:
        if not isinstance(text, str) or not text.strip():
            return None
        return _DOC_CALL.sub(lambda m: self.docs.get(m.group(1), m.group(0)), text).strip()

    def _columns(self, entries: Any) -> list[Column]:
        columns = []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("name"):
                columns.append(
                    Column(
                        name=str(entry["name"]),
                        data_type=entry.get("data_type") or None,
                        description=self._doc(entry.get("description")),
                    )
                )
        return columns

    def _read_ymls(self, folders: list[Path]) -> tuple[dict[str, _Yml], dict[str, SourceObject]]:
        ymls: dict[str, _Yml] = {}
        sources: dict[str, SourceObject] = {}
        for folder in folders:
            if not folder.is_dir():
                continue
            for file in files_under(folder, [".yml", ".yaml"]):
                data = self._load_yaml(file)
                if not isinstance(data, dict):
                    continue
                for section in ("models", "seeds", "snapshots"):
                    for entry in data.get(section) or []:
                        if not isinstance(entry, dict) or not entry.get("name"):
                            continue
                        config: dict[str, Any] = (
                            entry["config"] if isinstance(entry.get("config"), dict) else {}
                        )
                        ymls[str(entry["name"])] = _Yml(
                            description=self._doc(entry.get("description")),
                            columns=self._columns(entry.get("columns")),
                            tags=_as_list(entry.get("tags")) + _as_list(config.get("tags")),
                            config=config,
                        )
                for src in data.get("sources") or []:
                    if not isinstance(src, dict) or not src.get("name"):
                        continue
                    for table in src.get("tables") or []:
                        if not isinstance(table, dict) or not table.get("name"):
                            continue
                        source_name, table_name = str(src["name"]), str(table["name"])
                        schema = str(src.get("schema") or source_name)
                        identifier = str(table.get("identifier") or table_name)
                        unique_id = f"source.{self.name}.{source_name}.{table_name}"
                        sources[unique_id] = _source_object(
                            unique_id=unique_id,
                            source_name=source_name,
                            table=table_name,
                            relation=".".join(
                                p for p in (src.get("database"), schema, identifier) if p
                            ),
                            database=src.get("database"),
                            schema=schema,
                            description=self._doc(table.get("description")),
                            source_description=self._doc(src.get("description")),
                            columns=self._columns(table.get("columns")),
                            tags=_as_list(src.get("tags")) + _as_list(table.get("tags")),
                            path=relative(file, self.root),
                            dialect=self.dialect,
                        )
        return ymls, sources

    # Jinja -----------------------------------------------------------------------------------
    def _environment(self) -> jinja2.Environment:
        env = jinja2.sandbox.SandboxedEnvironment(
            undefined=_Unknown,
            extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        )
        target = _Target(self.dialect)

        def ref(*args: Any, **kwargs: Any) -> str:
            name = str(args[-1] if args else kwargs.get("model_name", kwargs.get("name", "")))
            _state().refs.append(name)
            return name

        def source(source_name: Any, table_name: Any) -> str:
            _state().sources.append((str(source_name), str(table_name)))
            return f"{source_name}.{table_name}"

        def config(*args: Any, **kwargs: Any) -> str:
            _state().config.update(kwargs)
            return ""

        def var(name: str, default: Any = None) -> Any:
            if name in self.vars:
                return self.vars[name]
            return default if default is not None else f"{name}"

        def env_var(name: str, default: Any = "") -> Any:
            return default  # never the real environment: it may hold secrets

        def return_(value: Any) -> Any:
            raise _MacroReturn(value)

        env.filters.update(
            as_bool=_as_bool,
            as_number=_as_number,
            as_text=str,
            as_native=lambda value: value,
        )
        env.globals.update(
            run_started_at=datetime.datetime.now(datetime.UTC),
            invocation_id="00000000-0000-0000-0000-000000000000",
            modules={"datetime": datetime, "re": re, "itertools": itertools},
            project_name=self.name,
            ref=ref,
            source=source,
            config=config,
            var=var,
            env_var=env_var,
            is_incremental=lambda: False,
            should_full_refresh=lambda: False,
            execute=False,
            flags=_Unknown(name="flags"),
            target=target,
            run_query=lambda *a, **k: None,
            log=lambda *a, **k: "",
            doc=lambda name: self.docs.get(name, ""),
            tojson=json.dumps,
            fromjson=json.loads,
            zip=zip,
            set=set,
            **{"return": return_},
        )
        return env

    def _load_macros(self) -> None:
        for folder in self._paths("macro-paths", "macros"):
            if not folder.is_dir():
                continue
            for file in files_under(folder, [".sql"]):
                text = read_text(file, self.root, self.warnings)
                if not text or not _MACRO_NAME.search(text):
                    continue
                # materializations and tests are dbt's business, not a model's
                text = re.sub(
                    r"\{%-?\s*(materialization|test)\b.*?\{%-?\s*end\1\s*-?%\}",
                    "",
                    text,
                    flags=re.S,
                )
                try:
                    module = self.env.from_string(text).make_module()
                except Exception as exc:  # any template error: the file's macros stay unknown
                    self.warnings.append(
                        IngestWarning(
                            path=relative(file, self.root),
                            line=getattr(exc, "lineno", None),
                            message=f"macros not loaded ({type(exc).__name__}: {_one_line(exc)})",
                        )
                    )
                    continue
                for name in _MACRO_NAME.findall(text):
                    macro = getattr(module, name, None)
                    if macro is not None:
                        self.env.globals[name] = _returning(macro)

    def _render(self, name: str, text: str, file: Path) -> tuple[_RenderState, str | None]:
        state = _local.state = _RenderState(this=name)
        try:
            rendered = self.env.from_string(text).render(this=name, model={"name": name})
        except jinja2.TemplateSyntaxError as exc:
            self.warnings.append(
                IngestWarning(
                    path=relative(file, self.root),
                    line=exc.lineno,
                    message=f"Jinja syntax error ({exc.message}); kept as raw code, lineage read"
                    " from its ref()/source() calls",
                )
            )
            return state, None
        except Exception as exc:  # a runtime error in the template: same fallback
            self.warnings.append(
                IngestWarning(
                    path=relative(file, self.root),
                    message=f"Jinja could not be rendered ({type(exc).__name__}: "
                    f"{_one_line(exc)}); kept as raw code",
                )
            )
            return state, None
        return state, None if state.unknown else rendered.strip() + "\n"

    # objects ---------------------------------------------------------------------------------
    def _folder_config(self, file: Path, folder: Path | None, section: str) -> dict[str, Any]:
        """Configs from dbt_project.yml `models:` (or `seeds:`) for this file's folder."""
        tree = (self.project.get(section) or {}).get(self.name) or {}
        config: dict[str, Any] = {}
        parts = list(file.relative_to(folder).parts[:-1]) if folder else []

        def take(level: Any) -> None:
            if isinstance(level, dict):
                for key, value in level.items():
                    bare = key.lstrip("+")
                    if key.startswith("+") or (
                        bare in _CONFIG_KEYS and not isinstance(value, dict)
                    ):
                        config[bare] = value

        take(tree)
        for part in parts:
            tree = tree.get(part) if isinstance(tree, dict) else None
            if not isinstance(tree, dict):
                break
            take(tree)
        return config

    def _model(
        self,
        name: str,
        file: Path,
        folder: Path | None,
        text: str,
        keys: dict[str, str],
        sources: dict[str, SourceObject],
        yml: _Yml | None,
        *,
        snapshot: bool = False,
    ) -> SourceObject:
        path = relative(file, self.root)
        python = file.suffix == ".py"
        config = self._folder_config(file, folder, "snapshots" if snapshot else "models")
        if python:
            refs, source_calls, model_config = self._python_calls(text, path)
            compiled = None
            unknown: set[str] = set()
        else:
            state, compiled = self._render(name, text, file)
            scan = _JINJA_COMMENT.sub("", text)
            refs = state.refs + [m.group(4) or m.group(2) for m in _REF_CALL.finditer(scan)]
            if _DYNAMIC_REF.search(scan):
                # ref(name) over a list the render did not walk (its branch was off with the
                # default vars): the model names written as literals are its candidates
                refs += [n for n in _LITERAL.findall(scan) if n in keys and n != name]
            refs = [r for r in refs if _NAME.match(r)]
            source_calls = state.sources + [
                (m.group(2), m.group(4)) for m in _SOURCE_CALL.finditer(scan)
            ]
            model_config = state.config
            unknown = state.unknown
        if yml:
            config.update(yml.config)
        config.update(model_config)
        disabled = _as_bool(config.get("enabled", True)) is False
        upstream: list[str] = []
        unresolved: list[str] = []
        for ref in dict.fromkeys(refs):
            if ref in keys and ref != name:
                upstream.append(keys[ref])
            elif ref != name:
                unresolved.append(ref)
        for source_name, table in dict.fromkeys(source_calls):
            key = f"source.{self.name}.{source_name}.{table}"
            if key in sources:
                upstream.append(key)
            else:
                unresolved.append(f"source {source_name}.{table}")
        if unresolved:
            self.warnings.append(
                IngestWarning(
                    path=path,
                    message="refers to what this project does not define: " + ", ".join(unresolved),
                )
            )
        tags = _as_list(config.get("tags")) + (yml.tags if yml else [])
        materialization = config.get("materialized") or ("snapshot" if snapshot else "view")
        kind = "snapshot" if snapshot else "model"
        return SourceObject(
            unique_key=keys[name] if not snapshot else f"snapshot.{self.name}.{name}",
            name=name,
            object_type="table" if snapshot else "dbt_model",
            code=text.strip() + "\n",
            compiled_code=compiled,
            language="python" if python else "sql",
            dialect=self.dialect,
            columns=yml.columns if yml else [],
            upstream_keys=list(dict.fromkeys(upstream)),
            source_path=path,
            schema_name=config.get("schema"),
            description=yml.description if yml else None,
            materialization=str(materialization),
            tags=sorted({str(t) for t in tags}),
            properties=_without_none(
                {
                    "package": self.name,
                    "resource_type": kind,
                    "unresolved_refs": sorted(unresolved) or None,
                    "unknown_macros": sorted(unknown) or None,
                    "disabled": True if disabled else None,
                }
            ),
        )

    def _python_calls(
        self, text: str, path: str
    ) -> tuple[list[str], list[tuple[str, str]], dict[str, Any]]:
        """dbt.ref / dbt.source / dbt.config calls of a Python model."""
        refs: list[str] = []
        sources: list[tuple[str, str]] = []
        config: dict[str, Any] = {}
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            self.warnings.append(
                IngestWarning(
                    path=path,
                    line=exc.lineno,
                    message=f"Python syntax error ({exc.msg}); lineage read from its text",
                )
            )
            scan = text
            refs = [
                m.group(4) or m.group(2) for m in _REF_CALL.finditer(scan.replace("dbt.ref", "ref"))
            ]
            sources = [
                (m.group(2), m.group(4))
                for m in _SOURCE_CALL.finditer(scan.replace("dbt.source", "source"))
            ]
            return refs, sources, config
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            args = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            if node.func.attr == "ref" and args:
                refs.append(args[-1])
            elif node.func.attr == "source" and len(args) == 2:
                sources.append((args[0], args[1]))
            elif node.func.attr == "config" and _is_name(node.func.value, "dbt"):
                for kw in node.keywords:
                    if kw.arg and isinstance(kw.value, ast.Constant):
                        config[kw.arg] = kw.value.value
        return refs, sources, config

    def _seed(self, name: str, file: Path, yml: _Yml | None) -> SourceObject:
        text = read_text(file, self.root, self.warnings) or ""
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
            properties={"package": self.name, "resource_type": "seed"},
        )


class _MacroReturn(Exception):  # noqa: N818 - control flow, as in dbt
    """dbt's `{{ return(value) }}`: the macro call evaluates to `value`."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _returning(macro: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return macro(*args, **kwargs)
        except _MacroReturn as returned:
            return returned.value

    return call


def _as_bool(value: Any) -> Any:
    """dbt's `as_bool` filter: 'true'/'false' strings become booleans."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _as_number(value: Any) -> Any:
    try:
        return float(value) if "." in str(value) else int(value)
    except (TypeError, ValueError):
        return value


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
