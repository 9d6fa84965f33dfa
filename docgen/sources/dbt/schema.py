"""Schema `.yml` files of a dbt project: models, versions, seeds, snapshots and sources with
their descriptions, columns, tags and configs (`{{ doc() }}` references resolved). An entry
of the wrong shape is skipped with a warning naming the file and the key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docgen.db.objects import Column
from docgen.sources.base import SourceObject, relative
from docgen.sources.dbt import evidence
from docgen.sources.dbt.manifest import source_object
from docgen.sources.dbt.project import Problems, load_yaml, project_files

_DOC_CALL = re.compile(r"\{\{\s*doc\(\s*['\"]([^'\"]+)['\"]\s*\)\s*\}\}")


@dataclass
class Yml:
    """What the schema .yml files say about one model, seed or snapshot."""

    description: str | None = None
    columns: list[Column] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    versions: list[dict[str, Any]] = field(default_factory=list)
    latest: str | None = None
    meta: dict[str, Any] | None = None
    group: str | None = None


class SchemaFiles:
    def __init__(self, root: Path, project: str, dialect: str | None, docs: dict[str, str],
                 problems: Problems) -> None:  # fmt: skip
        self.root = root
        self.name = project
        self.dialect = dialect
        self.docs = docs
        self.problems = problems
        #: declared exposures: (what is stored on each object, what it depends on)
        self.exposures: list[tuple[dict[str, Any], list[tuple[str, ...]]]] = []
        #: group name -> its declared owner
        self.groups: dict[str, Any] = {}

    def doc(self, text: Any) -> str | None:
        if not isinstance(text, str) or not text.strip():
            return None
        return _DOC_CALL.sub(lambda m: self.docs.get(m.group(1), m.group(0)), text).strip()

    def columns(self, entries: Any) -> list[Column]:
        columns = []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str | int):
                data_type = entry.get("data_type")
                columns.append(
                    Column(
                        name=str(entry["name"]),
                        data_type=data_type if isinstance(data_type, str) and data_type else None,
                        description=self.doc(entry.get("description")),
                    )
                )
        return columns

    def _entries(self, data: dict[str, Any], key: str, file: Path) -> list[dict[str, Any]]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problems.add(file, f"{key} must be a list, got {type(value).__name__}; ignored")
            return []
        entries = []
        for index, entry in enumerate(value):
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str | int) or not str(name).strip():
                self.problems.add(file, f"{key}[{index}] has no name; ignored")
                continue
            entries.append({**entry, "name": str(name).strip()})
        return entries

    def read(self, paths: list[Path]) -> tuple[dict[str, Yml], dict[str, SourceObject]]:
        ymls: dict[str, Yml] = {}
        sources: dict[str, SourceObject] = {}
        for folder in paths:
            if not folder.is_dir():
                continue
            for file in project_files(self.root, folder, [".yml", ".yaml"], self.problems):
                data = load_yaml(self.root, file, self.problems)
                if not isinstance(data, dict):
                    continue
                for section in ("models", "seeds", "snapshots"):
                    for entry in self._entries(data, section, file):
                        ymls[entry["name"]] = self._yml(entry, file)
                for entry in self._entries(data, "exposures", file):
                    record = evidence.exposure_record(entry)
                    if isinstance(record.get("description"), str):
                        record["description"] = self.doc(record["description"])
                    self.exposures.append(
                        (record, evidence.exposure_targets(entry.get("depends_on")))
                    )
                for entry in self._entries(data, "groups", file):
                    self.groups[entry["name"]] = entry.get("owner")
                for src in self._entries(data, "sources", file):
                    for table in self._entries(src, "tables", file):
                        source = self._source(src, table, file)
                        sources[source.unique_key] = source
        return ymls, sources

    def _yml(self, entry: dict[str, Any], file: Path) -> Yml:
        config = entry["config"] if isinstance(entry.get("config"), dict) else {}
        versions = []
        for item in entry.get("versions") or []:
            if isinstance(item, dict) and isinstance(item.get("v"), str | int | float):
                versions.append(item)
        latest = entry.get("latest_version")
        if versions and not isinstance(latest, str | int | float):
            latest = max((v["v"] for v in versions), key=_version_key)
        return Yml(
            description=self.doc(entry.get("description")),
            columns=self.columns(entry.get("columns")),
            tags=as_list(entry.get("tags")) + as_list(config.get("tags")),
            config={k: v for k, v in config.items() if k != "tags"},
            versions=versions,
            latest=str(latest) if versions else None,
            meta=evidence.meta_of(entry),
            group=evidence.group_of(entry),
        )

    def _source(self, src: dict[str, Any], table: dict[str, Any], file: Path) -> SourceObject:
        source_name, table_name = src["name"], table["name"]
        schema = _text_or(src.get("schema"), source_name)
        identifier = _text_or(table.get("identifier"), table_name)
        database = _text_or(src.get("database"), "") or None
        return source_object(
            unique_id=f"source.{self.name}.{source_name}.{table_name}",
            source_name=source_name,
            table=table_name,
            relation=".".join(p for p in (database, schema, identifier) if p),
            database=database,
            schema=schema,
            description=self.doc(table.get("description")),
            source_description=self.doc(src.get("description")),
            columns=self.columns(table.get("columns")),
            tags=as_list(src.get("tags")) + as_list(table.get("tags")),
            path=relative(file, self.root),
            dialect=self.dialect,
            extra={
                "freshness": evidence.freshness_of(src, table),
                "loader": _text_or(src.get("loader"), "") or None,
                "meta": evidence.meta_of(src, table),
            },
        )

    def version_columns(self, yml: Yml | None, name: str) -> list[Column]:
        if yml is None:
            return []
        version = name.rsplit(".v", 1)[1] if ".v" in name else None
        entry = next((v for v in yml.versions if str(v["v"]) == version), None)
        if entry is None or not isinstance(entry.get("columns"), list):
            return yml.columns
        columns = {c.name: c for c in yml.columns}
        chosen: dict[str, Column] = {}
        own = []
        for item in entry["columns"]:
            if isinstance(item, dict) and "include" in item:
                include = item["include"]
                exclude = set(as_list(item.get("exclude")))
                names = list(columns) if include in ("all", "*") else as_list(include)
                chosen.update({n: columns[n] for n in names if n in columns and n not in exclude})
            elif isinstance(item, dict):
                own.append(item)
        for column in self.columns(own):
            chosen[column.name] = column
        return list(chosen.values())


def _version_key(value: Any) -> tuple[float, str]:
    try:
        return (float(value), str(value))
    except (TypeError, ValueError):
        return (0.0, str(value))


def _text_or(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return []
