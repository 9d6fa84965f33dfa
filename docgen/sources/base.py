"""What every source reader returns: objects keyed by unique key, with upstreams by key.

Readers only read; they never touch the database. `docgen.ingest` turns their result into
rows of metadata.objects (ids, content hashes, removal marks) in one transaction, so a source
that cannot be read leaves everything stored as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from docgen.errors import SourceError
from docgen.model import Column, ObjectType

SourceKind = Literal["dbt", "sql", "postgres", "python"]


class SourceObject(BaseModel):
    """One object as a source describes it, before it has an id."""

    unique_key: str
    name: str
    object_type: ObjectType
    code: str = ""
    compiled_code: str | None = None
    language: Literal["sql", "python"] = "sql"
    dialect: str | None = None
    columns: list[Column] = Field(default_factory=list)
    #: unique keys of objects this source also returns
    upstream_keys: list[str] = Field(default_factory=list)
    #: names of relations outside this source (e.g. `raw.orders`), matched against the
    #: organization's other objects by name when stored
    external_upstreams: list[str] = Field(default_factory=list)
    source_path: str | None = None
    database_name: str | None = None
    schema_name: str | None = None
    description: str | None = None
    materialization: str | None = None
    tags: list[str] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)


class IngestWarning(BaseModel):
    """Something in one file that could not be understood; the rest of the source still was."""

    path: str
    line: int | None = None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class SourceResult(BaseModel):
    """Everything one source holds.

    `scope` names the source (a dbt project, a folder, a database's schemas): a later ingest
    of the same scope marks objects it no longer finds as removed. `kept_paths` are files the
    source still has but could not read this time (not UTF-8, a syntax error): their objects
    are neither updated nor marked removed.
    """

    kind: SourceKind
    scope: str
    objects: list[SourceObject]
    warnings: list[IngestWarning] = Field(default_factory=list)
    kept_paths: list[str] = Field(default_factory=list)


def read_text(path: Path, root: Path, warnings: list[IngestWarning]) -> str | None:
    """A source file as text, or None with a warning when it is not UTF-8 or unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        warnings.append(IngestWarning(path=relative(path, root), message=f"unreadable: {exc}"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        warnings.append(
            IngestWarning(
                path=relative(path, root),
                line=line,
                message=f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start});"
                " skipped, its object is kept as it was",
            )
        )
        return None


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def existing_path(source: str | Path, what: str) -> Path:
    path = Path(source).expanduser()
    if not path.exists():
        raise SourceError(f"{what} {path} does not exist")
    return path.resolve()


def files_under(
    root: Path, suffixes: Iterable[str], warnings: list[IngestWarning] | None = None
) -> list[Path]:
    """Files with these suffixes under root, sorted, skipping hidden and build folders.

    A project is untrusted: nothing outside `root` is read. Symlinks (to files or folders,
    wherever they point) are never followed; each one skipped is named in `warnings`.
    """
    wanted = tuple(suffixes)
    skip = {"target", "dbt_packages", "dbt_modules", "logs", "node_modules", "__pycache__"}
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in sorted(dirs):
            if name.startswith(".") or name in skip:
                dirs.remove(name)
            elif (here / name).is_symlink():
                dirs.remove(name)
                _skipped_link(here / name, root, warnings)
        for name in files:
            path = here / name
            if not name.endswith(wanted) or name.startswith("."):
                continue
            if path.is_symlink():
                _skipped_link(path, root, warnings)
            elif path.is_file():
                found.append(path)
    return sorted(found)


def _skipped_link(path: Path, root: Path, warnings: list[IngestWarning] | None) -> None:
    if warnings is not None:
        warnings.append(
            IngestWarning(
                path=relative(path, root),
                message="a symlink; skipped (docgen reads nothing outside the project folder"
                " and follows no symlink)",
            )
        )


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
