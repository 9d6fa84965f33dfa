"""dbt's `manifest.json`: compiled SQL, columns, descriptions and `depends_on` exactly as dbt
resolved them.

The manifest is checked field by field (pydantic, strict types): a top-level part of the
wrong type is a one-line error naming the file and the key; a node with a field of the wrong
type (`raw_code: 5`, `depends_on: "x"`) is skipped with a warning naming the node and the
field. Objects no database could store (a NUL byte, a blank or absurdly long name) are
skipped with a warning when stored (`docgen.ingest.store`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from docgen.db.objects import Column, ObjectType
from docgen.errors import SourceError
from docgen.sources.base import IngestWarning, SourceObject, SourceResult
from docgen.sources.dbt import evidence

_RESOURCES: dict[str, ObjectType] = {"model": "dbt_model", "seed": "table", "snapshot": "table"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)


class _Column(_Strict):
    name: str | None = None
    data_type: str | None = None
    description: str | None = None


class _DependsOn(_Strict):
    nodes: list[str] = Field(default_factory=list)


class _Node(_Strict):
    resource_type: str = ""
    name: str | None = None
    package_name: str | None = None
    raw_code: str | None = None
    raw_sql: str | None = None
    compiled_code: str | None = None
    compiled_sql: str | None = None
    language: str | None = None
    depends_on: _DependsOn = Field(default_factory=_DependsOn)
    config: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    columns: dict[str, _Column] = Field(default_factory=dict)
    description: str | None = None
    database: str | None = None
    schema_name: str | None = Field(default=None, alias="schema")
    alias: str | None = None
    identifier: str | None = None
    source_name: str | None = None
    source_description: str | None = None
    original_file_path: str | None = None
    version: str | int | float | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    group: str | None = None
    # sources
    freshness: dict[str, Any] | None = None
    loaded_at_field: str | None = None
    loader: str | None = None
    source_meta: dict[str, Any] = Field(default_factory=dict)


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
    except RecursionError as exc:
        raise SourceError(f"{path} is nested too deeply to be a dbt manifest") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("nodes"), dict):
        raise SourceError(f"{path} is not a dbt manifest (no 'nodes' object)")
    for key in ("sources", "disabled", "metadata", "exposures", "groups"):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            kind = type(manifest[key]).__name__
            raise SourceError(f"{path}: {key} must be an object, got {kind}")
    metadata = manifest.get("metadata") or {}
    adapter = metadata.get("adapter_type")
    adapter = adapter if isinstance(adapter, str) else None
    warnings: list[IngestWarning] = []

    def parse(where: str, unique_id: str, value: Any) -> _Node | None:
        if not isinstance(value, dict):
            warnings.append(IngestWarning(path=path.name, message=f"{where}[{unique_id[:80]!r}]"
                                          " is not an object; skipped"))  # fmt: skip
            return None
        try:
            return _Node.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "?"
            warnings.append(
                IngestWarning(
                    path=path.name,
                    message=f"{where}[{unique_id[:80]!r}].{field}: {first['msg']}; skipped",
                )
            )
            return None

    sources = {k: n for k, v in sorted((manifest.get("sources") or {}).items())
               if (n := parse("sources", k, v)) is not None}  # fmt: skip
    disabled: dict[str, _Node] = {}
    for unique_id, versions in (manifest.get("disabled") or {}).items():
        if isinstance(versions, list) and versions and isinstance(versions[0], dict):
            if versions[0].get("resource_type") in _RESOURCES:
                node = parse("disabled", unique_id, versions[0])
                if node is not None:
                    disabled[unique_id] = node
    nodes = dict(disabled)
    for unique_id, value in manifest["nodes"].items():
        if isinstance(value, dict) and value.get("resource_type") in _RESOURCES:
            node = parse("nodes", unique_id, value)
            if node is not None:
                nodes[unique_id] = node
                disabled.pop(unique_id, None)
    project = metadata.get("project_name")
    if not isinstance(project, str) or not project:
        project = next((n.package_name for n in nodes.values() if n.package_name), "unknown")

    objects: list[SourceObject] = []
    for unique_id, node in sources.items():
        relation = ".".join(p for p in (node.schema_name, node.identifier or node.name) if p)
        objects.append(
            source_object(
                unique_id=unique_id, source_name=node.source_name or "",
                table=node.name or "", relation=relation, database=node.database,
                schema=node.schema_name, description=node.description or None,
                source_description=node.source_description or None,
                columns=_columns(node.columns), tags=node.tags,
                path=node.original_file_path, dialect=adapter,
                extra={
                    "freshness": evidence.freshness_of(
                        {}, {"freshness": node.freshness, "loaded_at_field": node.loaded_at_field}
                    ),
                    "loader": node.loader or None,
                    "meta": evidence.meta_of({"meta": node.source_meta}, _owned(node)),
                },
            )
        )  # fmt: skip
    keys = set(sources) | set(nodes)
    groups = {
        g["name"]: g.get("owner")
        for g in (manifest.get("groups") or {}).values()
        if isinstance(g, dict) and isinstance(g.get("name"), str)
    }
    for unique_id, node in sorted(nodes.items()):
        depends = node.depends_on.nodes
        missing = [d for d in depends if d not in keys and not d.startswith(("macro.", "test."))]
        if missing:
            warnings.append(
                IngestWarning(
                    path=node.original_file_path or unique_id,
                    message=f"depends on {', '.join(missing)}, which the manifest does not hold",
                )
            )
        code = node.raw_code if node.raw_code is not None else node.raw_sql
        compiled = node.compiled_code if node.compiled_code is not None else node.compiled_sql
        name = node.name or unique_id.rsplit(".", 1)[-1]
        if node.version is not None:
            name = f"{name}.v{node.version}"
        materialized = node.config.get("materialized")
        resource = node.resource_type
        objects.append(
            SourceObject(
                unique_key=unique_id,
                name=name,
                object_type=_RESOURCES[resource],
                code=code or "",
                compiled_code=compiled or None,
                language="python" if node.language == "python" else "sql",
                dialect=adapter,
                columns=_columns(node.columns),
                upstream_keys=[d for d in dict.fromkeys(depends) if d in keys],
                source_path=node.original_file_path,
                database_name=node.database,
                schema_name=node.schema_name,
                description=node.description or None,
                materialization=materialized if isinstance(materialized, str) else
                ("seed" if resource == "seed" else None),
                tags=sorted(set(node.tags)),
                properties=without_none(
                    {
                        "package": node.package_name,
                        "resource_type": resource,
                        "alias": node.alias,
                        "version": str(node.version) if node.version is not None else None,
                        "unresolved_refs": sorted(missing) or None,
                        "disabled": True if unique_id in disabled else None,
                        "uncompiled": True if resource == "model" and code and not compiled
                        and node.language != "python" else None,
                        "meta": evidence.meta_of(_owned(node)),
                        "group": evidence.group_property(
                            evidence.group_of(_owned(node)), groups),
                    }
                ),
            )
        )  # fmt: skip
    if not objects:
        raise SourceError(f"{path} holds no models, seeds, snapshots or sources")
    evidence.attach_exposures(objects, _exposures(manifest.get("exposures") or {}))
    return SourceResult(kind="dbt", scope=f"dbt:{project}", objects=objects, warnings=warnings)


def _owned(node: _Node) -> dict[str, Any]:
    """What evidence reads of a node: its `meta`, `group` and `config`."""
    return {"meta": node.meta, "group": node.group, "config": node.config}


def _exposures(exposures: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each manifest exposure under the unique ids it depends on."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for value in exposures.values():
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            continue
        record = evidence.exposure_record(value)
        depends = value.get("depends_on")
        nodes = depends.get("nodes") if isinstance(depends, dict) else None
        for key in nodes if isinstance(nodes, list) else []:
            if isinstance(key, str) and record not in by_key.setdefault(key, []):
                by_key[key].append(record)
    return by_key


def _columns(columns: dict[str, _Column]) -> list[Column]:
    return [
        Column(
            name=c.name or name, data_type=c.data_type or None, description=c.description or None
        )
        for name, c in columns.items()
    ]


def without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def source_object(
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
    extra: dict[str, Any] | None = None,
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
        properties=without_none(
            {
                "resource_type": "source",
                "relation": relation,
                "source_description": source_description,
                **(extra or {}),
            }
        ),  # fmt: skip
    )
