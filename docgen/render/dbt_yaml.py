"""Write model descriptions back into a dbt project's schema .yml files, in place.

    write_back(project_dir, [(object, current documentation), ...], overwrite=..., ...)

What is written: the executive summary (with `with_narrative`, the narrative after it) as the
model's `description`, with `{{`, `{%` and `{#` broken apart because dbt renders descriptions
with Jinja.

Who owns a description: docgen marks what it wrote with a key dbt keeps in the manifest,

    config:
      meta:
        docgen: {documentation_version: 3, description_sha256: 1f0e...}

and a later run updates a description only while its text still has that hash. Column
descriptions (the version's column notes) are written the same way, with their hashes in
`config.meta.docgen_columns`; a column description a person wrote is never overwritten. Empty or
missing descriptions are filled; any other text, including one a person edited after
docgen wrote it, is a human description and is kept unless `overwrite`. A `meta` key was
chosen over a YAML comment because dbt, dbt-osmosis and YAML formatters keep `meta` but
may drop comments, and because `dbt docs` shows it; `config.meta` rather than top-level
`meta`, which dbt 1.10 deprecates.

How files are edited: ruamel.yaml round-trip with only the changed lines spliced into the
original text (`docgen.render.yaml_roundtrip`). A second run changes nothing. Which schema
files are read and which object a `models:` entry names: `docgen.render.dbt_project`.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from docgen.columns import column_rows
from docgen.errors import InvalidInput
from docgen.model import DataObject, Documentation
from docgen.render.dbt_project import DbtProject, ModelIndex, in_project, is_dbt, load_project
from docgen.render.dbt_project import inside as inside
from docgen.render.yaml_roundtrip import (
    as_yaml_string,
    lift_line_comment,
    read_yaml,
    render,
)
from docgen.render.yaml_roundtrip import guess_indent as guess_indent
from docgen.render.yaml_roundtrip import splice as splice

Action = Literal["filled", "updated", "overwritten", "unchanged", "kept_human", "no_documentation"]
#: actions that change the file
WRITING_ACTIONS: frozenset[str] = frozenset({"filled", "updated", "overwritten"})


# --- what docgen writes ---------------------------------------------------------------------


def neutralize_jinja(text: str) -> str:
    """Text dbt will not treat as Jinja: `{{`, `{%` and `{#` get a space inside."""
    return re.sub(r"\{(?=[{%#])", "{ ", text)


def description_for(doc: Documentation, *, with_narrative: bool = False) -> str | None:
    """The description docgen writes for a version, or None when it has no summary."""
    summary = " ".join((doc.executive_summary or "").split())
    if not summary:
        return None
    narrative = doc.business_narrative or {}
    if not (with_narrative and narrative):
        return neutralize_jinja(summary)
    parts = [summary]
    if narrative.get("whatItDoes"):
        parts.append(" ".join(str(narrative["whatItDoes"]).split()))
    steps = [" ".join(str(s).split()) for s in narrative.get("dataJourney") or []]
    if steps:
        parts.append(
            "How the data flows:\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
        )
    if narrative.get("businessImpact"):
        parts.append(" ".join(str(narrative["businessImpact"]).split()))
    return neutralize_jinja("\n\n".join(parts)) + "\n"


def description_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _marker(doc: Documentation, text: str) -> CommentedMap:
    return CommentedMap(
        [("documentation_version", doc.version), ("description_sha256", description_hash(text))]
    )


# --- the project ----------------------------------------------------------------------------


# --- the write-back -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelOutcome:
    model: str
    schema_file: str
    action: Action
    object_id: str


@dataclass
class WriteBack:
    """The planned (or applied) changes: per-model outcomes and the new text of each file."""

    project: DbtProject
    outcomes: list[ModelOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: relative path -> (old text, new text, crlf) for files that change
    changes: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    #: documented dbt objects that no `models:` entry names
    not_in_yaml: list[str] = field(default_factory=list)
    #: column descriptions filled or updated (`columns:` entries; human ones are never touched)
    columns_written: int = 0

    def counts(self) -> Counter[str]:
        return Counter(o.action for o in self.outcomes)

    def diff(self) -> str:
        """A unified diff of every file that would change ('' when none)."""
        chunks: list[str] = []
        for rel, (old, new, _) in sorted(self.changes.items()):
            chunks += difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/{rel}",
                tofile=f"b/{rel}",
            )
        return "".join(chunks)

    def apply(self) -> list[Path]:
        written = []
        for rel, (_, new, crlf) in sorted(self.changes.items()):
            path = self.project.root / rel
            if not inside(self.project.root, path):  # checked again: it may have changed
                raise InvalidInput(f"{rel} is outside the project or a symlink; not written")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
                with open(fd, "w", encoding="utf-8", newline="\r\n" if crlf else "\n") as f:
                    f.write(new)
            except OSError as exc:
                raise InvalidInput(f"cannot write {path}: {exc.strerror}") from exc
            written.append(path)
        return written


def plan_write_back(
    project: DbtProject,
    documented: Iterable[tuple[DataObject, Documentation | None]],
    *,
    overwrite: bool = False,
    with_narrative: bool = False,
) -> WriteBack:
    """Work out every change without writing anything."""
    by_name: dict[str, list[tuple[DataObject, Documentation | None]]] = {}
    for obj, doc in documented:
        if is_dbt(obj):
            by_name.setdefault(obj.name, []).append((obj, doc))
    index = ModelIndex(project, by_name)
    result = WriteBack(project)
    result.warnings += [f"skipped {what}" for what in project.skipped]
    seen: set[str] = set()
    for path in project.schema_files:
        rel = project.relative(path)
        text, data, crlf = read_yaml(path, rel)
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list):
            continue
        changed = False
        for entry in models:
            if not isinstance(entry, CommentedMap) or not isinstance(entry.get("name"), str):
                continue
            match, warning = index.match(entry["name"], rel)
            if warning:
                result.warnings.append(warning)
            if match is None:
                continue
            obj, doc = match
            seen.add(str(obj.id))
            action = _update_entry(entry, doc, overwrite=overwrite, with_narrative=with_narrative)
            result.outcomes.append(ModelOutcome(entry["name"], rel, action, str(obj.id)))
            columns = update_columns(entry, obj, doc)
            result.columns_written += columns
            changed = changed or action in WRITING_ACTIONS or columns > 0
        if changed:
            result.changes[rel] = (text, render(text, data), crlf)
    result.not_in_yaml = sorted(
        obj.name
        for candidates in by_name.values()
        for obj, doc in candidates
        if doc is not None and str(obj.id) not in seen and in_project(obj, project.name)
    )
    return result


COLUMNS_MARKER = "docgen_columns"


def update_columns(entry: CommentedMap, obj: DataObject, doc: Documentation | None) -> int:
    """Fill the model's `columns:` descriptions from the version's column notes; returns how
    many were written. An empty or missing description is filled, one docgen wrote (its hash
    is in `config.meta.docgen_columns`) is updated, any other text is a person's and is never
    touched. Columns the object has but the YAML does not list are added."""
    rows = [r for r in column_rows(obj, doc) if r.generated]
    if not rows:
        return 0
    config = entry.get("config")
    meta = config.get("meta") if isinstance(config, dict) else None
    previous = meta.get(COLUMNS_MARKER) if isinstance(meta, dict) else None
    ours = dict(previous) if isinstance(previous, dict) else {}
    listed = entry.get("columns")
    if not isinstance(listed, list):
        listed = CommentedSeq()
    by_name = {
        str(c["name"]).lower(): c
        for c in listed
        if isinstance(c, CommentedMap) and isinstance(c.get("name"), str)
    }
    written = 0
    for row in rows:
        text = neutralize_jinja(row.generated or "")
        column = by_name.get(row.name.lower())
        if column is None:
            column = CommentedMap([("name", row.name)])
            listed.append(column)
            by_name[row.name.lower()] = column
        current = "" if column.get("description") is None else str(column["description"])
        if current.strip() and ours.get(row.name) != description_hash(current):
            continue  # a person's description
        if current == text:
            continue
        if "description" in column:
            column["description"] = as_yaml_string(text)
        else:
            column.insert(list(column).index("name") + 1, "description", as_yaml_string(text))
        ours[row.name] = description_hash(text)
        written += 1
    if written:
        if "columns" not in entry or not isinstance(entry.get("columns"), list):
            entry["columns"] = listed
        _set_columns_marker(entry, ours)
    return written


def _set_columns_marker(entry: CommentedMap, ours: dict[str, str]) -> None:
    config = entry.get("config")
    if not isinstance(config, CommentedMap):
        config = CommentedMap()
        if "config" in entry:
            entry["config"] = config
        else:
            after = "description" if "description" in entry else "name"
            entry.insert(list(entry).index(after) + 1, "config", config)
    meta = config.get("meta")
    if not isinstance(meta, CommentedMap):
        meta = CommentedMap()
        config["meta"] = meta
    meta[COLUMNS_MARKER] = CommentedMap(sorted(ours.items()))


def _marker_of(entry: CommentedMap) -> dict[str, Any] | None:
    for holder in (entry.get("config"), entry):
        meta = holder.get("meta") if isinstance(holder, dict) else None
        marker = meta.get("docgen") if isinstance(meta, dict) else None
        if isinstance(marker, dict):
            return marker
    return None


def _update_entry(
    entry: CommentedMap, doc: Documentation | None, *, overwrite: bool, with_narrative: bool
) -> Action:
    text = description_for(doc, with_narrative=with_narrative) if doc else None
    if doc is None or text is None:
        return "no_documentation"
    current = entry.get("description")
    current_text = "" if current is None else str(current)
    marker = _marker_of(entry)
    ours = marker is not None and marker.get("description_sha256") == description_hash(current_text)
    if not current_text.strip():
        action: Action = "filled"
    elif ours:
        if current_text == text and marker == dict(_marker(doc, text)):
            return "unchanged"
        action = "updated"
    elif overwrite:
        action = "overwritten"
    else:
        return "kept_human"
    _set_description(entry, text)
    _set_marker(entry, _marker(doc, text))
    return action


def _set_description(entry: CommentedMap, text: str) -> None:
    if "description" in entry:
        if "\n" in text:
            lift_line_comment(entry, "description")
        entry["description"] = as_yaml_string(text)
    else:
        entry.insert(list(entry).index("name") + 1, "description", as_yaml_string(text))


def _set_marker(entry: CommentedMap, marker: CommentedMap) -> None:
    config = entry.get("config")
    if not isinstance(config, CommentedMap):  # absent, or an empty `config:`
        config = CommentedMap()
        if "config" in entry:
            entry["config"] = config
        else:
            entry.insert(list(entry).index("description") + 1, "config", config)
    meta = config.get("meta")
    if not isinstance(meta, CommentedMap):
        meta = CommentedMap()
        config["meta"] = meta
    meta["docgen"] = marker


def write_back(
    project: DbtProject | Path,
    documented: Iterable[tuple[DataObject, Documentation | None]],
    *,
    overwrite: bool = False,
    with_narrative: bool = False,
    dry_run: bool = False,
) -> WriteBack:
    """Plan the write-back and, unless `dry_run`, write the changed files."""
    plan = plan_write_back(
        project if isinstance(project, DbtProject) else load_project(project),
        documented,
        overwrite=overwrite,
        with_narrative=with_narrative,
    )
    if not dry_run:
        plan.apply()
    return plan
