"""A folder of .sql files: one object per CREATE TABLE/VIEW, or per file of plain queries.

Statements are split with sqlglot's tokenizer (so each object keeps its own text, comments
included) and parsed in the given dialect. Upstream tables are the tables a statement reads,
minus its own CTEs; those defined in the folder become edges to their objects, the others are
kept as external names and matched later against the organization's other objects.
With `ctes=True` every CTE of a statement becomes its own `cte` object, upstream of the
statement, with the tables and CTEs it reads as its upstreams.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

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
from docgen.sqltext import sqlglot_dialect


def table_name(table: exp.Table) -> str:
    """`db.schema.name` in lower case, as far as the SQL spells it."""
    return ".".join(p.lower() for p in (table.catalog, table.db, table.name) if p)


def read_tables(query: exp.Expr) -> list[str]:
    """Names of the tables a statement reads (not its CTEs, not what it creates)."""
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    target = None
    if isinstance(query, exp.Create | exp.Insert | exp.Merge):
        this = query.this
        target = this.find(exp.Table) if not isinstance(this, exp.Table) else this
    names = []
    for table in query.find_all(exp.Table):
        if table is target or not table.name:
            continue
        name = table_name(table)
        if name in ctes and not table.db:
            continue
        names.append(name)
    return list(dict.fromkeys(names))


def _statements(text: str, dialect: str | None) -> list[tuple[str, int]]:
    """(statement text, first line) for each statement, split on top-level semicolons.

    A statement's text runs from just after the previous semicolon, so the comments written
    above it stay with it."""
    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(text)
    chunks: list[tuple[str, int]] = []
    begin, last_end = 0, -1
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            if last_end >= 0:
                chunks.append(_chunk(text, begin, last_end + 1))
            begin, last_end = token.end + 1, -1
        else:
            last_end = token.end
    if last_end >= 0:
        chunks.append(_chunk(text, begin, last_end + 1))
    return chunks


def _chunk(text: str, begin: int, end: int) -> tuple[str, int]:
    body = text[begin:end]
    offset = begin + len(body) - len(body.lstrip())
    return body.strip(), text.count("\n", 0, offset) + 1


class SqlFolder:
    def __init__(self, root: Path, *, dialect: str | None, ctes: bool) -> None:
        self.root = root
        self.dialect = dialect
        self.read_dialect = sqlglot_dialect(dialect) if dialect else None
        if dialect and self.read_dialect is None:
            raise SourceError(f"unknown SQL dialect {dialect!r}")
        self.ctes = ctes
        self.warnings: list[IngestWarning] = []
        self.kept: list[str] = []

    def read(self) -> SourceResult:
        files = (
            [self.root] if self.root.is_file() else files_under(self.root, [".sql"], self.warnings)
        )
        base = self.root.parent if self.root.is_file() else self.root
        if not files:
            raise SourceError(f"no .sql files under {self.root}")
        objects: list[SourceObject] = []
        for file in files:
            text = read_text(file, base, self.warnings)
            if text is None:
                self.kept.append(relative(file, base))
                continue
            objects.extend(self._file_objects(file, base, text))
        by_name: dict[str, list[str]] = {}
        for obj in objects:
            if obj.object_type != "cte":
                for alias in _aliases(obj.name):
                    by_name.setdefault(alias, []).append(obj.unique_key)
        for obj in objects:
            external = []
            for name in obj.external_upstreams:
                matches = [k for k in by_name.get(name, []) if k != obj.unique_key]
                if not matches and "." in name:
                    # `raw.orders` read, `orders` defined without a schema
                    bare = name.rsplit(".", 1)[-1]
                    matches = [k for k in by_name.get(bare, []) if k == f"sql:{bare}"]
                if len(matches) == 1:
                    obj.upstream_keys.append(matches[0])
                else:
                    external.append(name)
            obj.external_upstreams = external
            obj.upstream_keys = list(dict.fromkeys(obj.upstream_keys))
        if not objects and not self.kept:
            raise SourceError(f"no SQL statements could be read under {self.root}")
        return SourceResult(
            kind="sql",
            scope=f"sql:{self.root}",
            objects=objects,
            warnings=self.warnings,
            kept_paths=self.kept,
        )

    def _file_key(self, file: Path, base: Path) -> str:
        return f"sql:{relative(file, base)}"

    def _file_objects(self, file: Path, base: Path, text: str) -> list[SourceObject]:
        path = relative(file, base)
        try:
            chunks = _statements(text, self.read_dialect)
        except TokenError as exc:
            self.warnings.append(IngestWarning(path=path, message=f"cannot tokenize: {exc}"))
            chunks = []
        objects: list[SourceObject] = []
        plain: list[tuple[str, exp.Expr | None]] = []
        for chunk, line in chunks:
            try:
                statement = sqlglot.parse_one(chunk, read=self.read_dialect)
            except (ParseError, TokenError) as exc:
                errors = getattr(exc, "errors", None) or [{}]
                self.warnings.append(
                    IngestWarning(
                        path=path,
                        line=line + (errors[0].get("line") or 1) - 1,
                        message=f"SQL not understood ({_describe(exc)}); kept as text without"
                        " lineage",
                    )
                )
                plain.append((chunk, None))
                continue
            if isinstance(statement, exp.Create) and statement.kind in {"TABLE", "VIEW"}:
                objects.extend(self._created(statement, chunk, path, line))
            elif isinstance(statement, exp.Query):
                plain.append((chunk, statement))
            elif isinstance(statement, exp.Insert | exp.Merge):
                plain.append((chunk, statement))
        if plain and not objects:
            code = "\n;\n".join(c.strip() for c, _ in plain) + "\n"
            reads: list[str] = []
            for _, query in plain:
                if query is not None:
                    reads.extend(read_tables(query))
            obj = SourceObject(
                unique_key=self._file_key(file, base),
                name=file.stem,
                object_type="view",
                code=code,
                dialect=self.dialect,
                source_path=path,
                external_upstreams=list(dict.fromkeys(reads)),
                properties={"defined_by": "file"},
            )
            objects.append(obj)
            for _, query in plain:
                if query is not None:
                    objects.extend(self._cte_objects(query, obj))
        return objects

    def _created(
        self, statement: exp.Create, chunk: str, path: str, line: int
    ) -> list[SourceObject]:
        table = (
            statement.this.find(exp.Table)
            if not isinstance(statement.this, exp.Table)
            else statement.this
        )
        if table is None:
            return []
        name = table_name(table)
        materialized = (
            bool(statement.args.get("materialized")) or "MATERIALIZED" in chunk.upper()[:200]
        )
        kind = "view" if statement.kind == "VIEW" else "table"
        columns = []
        schema = statement.this if isinstance(statement.this, exp.Schema) else None
        if schema is not None:
            from docgen.model import Column

            for column in schema.expressions:
                if isinstance(column, exp.ColumnDef):
                    kind_sql = column.args.get("kind")
                    columns.append(
                        Column(
                            name=column.name,
                            data_type=kind_sql.sql(dialect=self.read_dialect) if kind_sql else None,
                        )
                    )
        obj = SourceObject(
            unique_key=f"sql:{name}",
            name=name,
            object_type=kind,
            code=chunk.strip() + "\n",
            dialect=self.dialect,
            columns=columns,
            source_path=path,
            schema_name=table.db or None,
            database_name=table.catalog or None,
            materialization="materialized_view" if kind == "view" and materialized else kind,
            external_upstreams=read_tables(statement),
            properties={"defined_by": "create", "line": line},
        )
        return [obj, *self._cte_objects(statement, obj)]

    def _cte_objects(self, statement: exp.Expr, parent: SourceObject) -> list[SourceObject]:
        if not self.ctes:
            return []
        ctes = list(statement.find_all(exp.CTE))
        names = {
            cte.alias_or_name.lower(): f"{parent.unique_key}::cte::{cte.alias_or_name.lower()}"
            for cte in ctes
        }
        objects = []
        for cte in ctes:
            alias = cte.alias_or_name.lower()
            reads = [t for t in read_tables(cte.this)]
            upstream = [names[t] for t in reads if t in names and t != alias]
            external = [t for t in reads if t not in names]
            objects.append(
                SourceObject(
                    unique_key=names[alias],
                    name=f"{parent.name}.{alias}",
                    object_type="cte",
                    code=cte.this.sql(dialect=self.read_dialect, pretty=True) + "\n",
                    dialect=self.dialect,
                    source_path=parent.source_path,
                    upstream_keys=upstream,
                    external_upstreams=external,
                    properties={"cte_of": parent.unique_key},
                )
            )
        parent.upstream_keys.extend(names.values())
        return objects


def _aliases(name: str) -> list[str]:
    """`db.schema.t` can be read as `db.schema.t`, `schema.t` or `t`."""
    parts = name.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def _describe(exc: Exception) -> str:
    """sqlglot's error without its terminal colour codes and echoed SQL."""
    errors = getattr(exc, "errors", None)
    if errors and errors[0].get("description"):
        first = errors[0]
        return f"{first['description']} at line {first.get('line')}, column {first.get('col')}"
    return re.sub(r"\x1b\[[0-9;]*m", "", " ".join(str(exc).split()))[:160]


def read_sql(source: str | Path, *, dialect: str | None = None, ctes: bool = False) -> SourceResult:
    path = existing_path(source, "SQL source")
    return SqlFolder(path, dialect=dialect, ctes=ctes).read()
