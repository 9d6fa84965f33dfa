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

How files are edited: ruamel.yaml round-trip (comments, key order, quotes and block styles
kept, indentation guessed per file). ruamel still normalizes a few things (a multi-line plain
scalar, spacing before a comment); so the lines docgen changed are spliced into the
original text and everything else stays byte for byte. A second run changes nothing.

Matching objects to `models:` entries: by model name, narrowed when the object knows more:
its dbt unique id's package must be this project, its manifest `patch_path` must be this
file, and when two still share a name, the one whose `source_path` is beside the file wins.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from docgen.columns import column_rows
from docgen.errors import InvalidInput
from docgen.model import DataObject, Documentation

Action = Literal["filled", "updated", "overwritten", "unchanged", "kept_human", "no_documentation"]
#: actions that change the file
WRITING_ACTIONS: frozenset[str] = frozenset({"filled", "updated", "overwritten"})

_SKIP_DIRS = frozenset({"target", "dbt_packages", "dbt_modules", "logs", "node_modules"})
_OPENING_KEY = re.compile(r"^(\s*)(- +)?([^\s#:'\"][^:#]*|'[^']*'|\"[^\"]*\"):\s*(#.*)?$")


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


def _as_yaml_string(text: str) -> str:
    return LiteralScalarString(text) if "\n" in text else text


# --- the project ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DbtProject:
    root: Path
    name: str | None
    schema_files: list[Path]
    #: model paths and files left out because they lie outside the project or are symlinks
    skipped: list[str] = field(default_factory=list)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def load_project(project_dir: Path) -> DbtProject:
    """The dbt project at `project_dir` and its schema .yml files under the model paths.

    Only files inside the project root are taken, never through a symlink: a model path
    outside the root (absolute, `../x`, or a symlinked folder) and a symlinked .yml file are
    skipped and named in `skipped`, so the write-back cannot edit anything outside it.
    """
    root = project_dir.expanduser().resolve()
    if not root.is_dir():
        raise InvalidInput(f"dbt project directory {root} does not exist or is not a directory")
    manifest = root / "dbt_project.yml"
    if manifest.is_symlink():
        raise InvalidInput(f"{manifest} is a symlink; docgen reads nothing through one")
    if not manifest.is_file():
        raise InvalidInput(f"{root} is not a dbt project (no dbt_project.yml)")
    config = _read_yaml(manifest, manifest.name)[1] or {}
    if not isinstance(config, dict):
        raise InvalidInput(f"{manifest} is not a YAML mapping")
    model_paths = config.get("model-paths") or config.get("source-paths") or ["models"]
    if isinstance(model_paths, str):
        model_paths = [model_paths]
    if not isinstance(model_paths, list) or not all(isinstance(p, str) for p in model_paths):
        raise InvalidInput(f"{manifest}: model-paths must be a list of folder names")
    files: list[Path] = []
    skipped: list[str] = []
    for model_path in model_paths:
        base = root / model_path
        if not inside(root, base):
            skipped.append(f"model path {model_path!r} (outside the project or a symlink)")
            continue
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            if p.suffix not in (".yml", ".yaml") or (
                (_SKIP_DIRS | {".git"}).intersection(p.relative_to(root).parts[:-1])
            ):
                continue
            if not inside(root, p):
                skipped.append(f"{p.relative_to(root).as_posix()} (a symlink)")
            elif p.is_file():
                files.append(p)
    if not files:
        where = ", ".join(f"{p}/" for p in model_paths)
        raise InvalidInput(f"no schema .yml files under {where} in the dbt project {root}")
    name = config.get("name")
    return DbtProject(root, str(name) if name else None, files, skipped)


def inside(root: Path, path: Path) -> bool:
    """True when `path` is under the resolved `root` with no symlink on the way (the path
    itself included): what docgen may read or write in a project."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        return False
    current = root
    for part in relative.parts:
        if part in ("..", ""):
            return False
        current = current / part
        if current.is_symlink():
            return False
    return True


def _yaml(text: str) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long description line
    mapping, sequence, offset = guess_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml


def _read_yaml(path: Path, label: str) -> tuple[str, Any, bool]:
    """(text with LF line ends, round-trip data, whether the file used CRLF)."""
    try:
        raw = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {label}: {exc}") from exc
    crlf = "\r\n" in raw
    text = raw.replace("\r\n", "\n")
    try:
        data = _yaml(text).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput(f"{label} is not valid YAML: {problem}{where}") from exc
    return text, data, crlf


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) most used in a YAML text."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    mappings: Counter[int] = Counter()
    offsets: Counter[int] = Counter()
    for previous, line in zip(lines, lines[1:], strict=False):
        opening = _OPENING_KEY.match(previous)
        if not opening:
            continue
        key_col = len(opening.group(1)) + len(opening.group(2) or "")
        col = len(line) - len(line.lstrip(" "))
        if line.lstrip().startswith("- "):
            if col >= key_col:
                offsets[col - key_col] += 1
        elif col > key_col:
            mappings[col - key_col] += 1
    mapping = mappings.most_common(1)[0][0] if mappings else 2
    offset = offsets.most_common(1)[0][0] if offsets else 2
    return mapping, max(mapping, offset + 2), offset


# --- matching -------------------------------------------------------------------------------


def _unique_id(obj: DataObject) -> str | None:
    value = obj.properties.get("dbt_unique_id")
    if value:
        return str(value)
    return obj.unique_key if obj.unique_key.startswith("model.") else None


def _patch_path(obj: DataObject) -> str | None:
    value = obj.properties.get("patch_path")
    return str(value).split("://", 1)[-1] if value else None


def _in_project(obj: DataObject, project_name: str | None) -> bool:
    """False only when the object's dbt unique id names another package."""
    uid = _unique_id(obj)
    return project_name is None or uid is None or uid.split(".")[1:2] == [project_name]


def _is_dbt(obj: DataObject) -> bool:
    return obj.object_type == "dbt_model" or obj.source_kind == "dbt" or _unique_id(obj) is not None


@dataclass
class _Index:
    project: DbtProject
    by_name: dict[str, list[tuple[DataObject, Documentation | None]]]

    def match(
        self, name: str, schema_file: str
    ) -> tuple[tuple[DataObject, Documentation | None] | None, str | None]:
        """(the object for a `models:` entry, or None; a warning when it is ambiguous)."""
        candidates = self.by_name.get(name, [])
        if self.project.name:
            candidates = [
                c
                for c in candidates
                if (uid := _unique_id(c[0])) is None or uid.split(".")[1:2] == [self.project.name]
            ]
        candidates = [c for c in candidates if _patch_path(c[0]) in (None, schema_file)]
        if len(candidates) > 1:
            folder = PurePosixPath(schema_file).parent
            beside = [
                c
                for c in candidates
                if c[0].source_path and PurePosixPath(c[0].source_path).parent == folder
            ]
            candidates = beside if len(beside) == 1 else candidates
        if len(candidates) > 1:
            keys = ", ".join(sorted(c[0].unique_key for c in candidates))
            return None, f"{schema_file}: model {name!r} matches several objects ({keys}); skipped"
        return (candidates[0] if candidates else None), None


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
        if _is_dbt(obj):
            by_name.setdefault(obj.name, []).append((obj, doc))
    index = _Index(project, by_name)
    result = WriteBack(project)
    result.warnings += [f"skipped {what}" for what in project.skipped]
    seen: set[str] = set()
    for path in project.schema_files:
        rel = project.relative(path)
        text, data, crlf = _read_yaml(path, rel)
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
            result.changes[rel] = (text, _render(text, data), crlf)
    result.not_in_yaml = sorted(
        obj.name
        for candidates in by_name.values()
        for obj, doc in candidates
        if doc is not None and str(obj.id) not in seen and _in_project(obj, project.name)
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
            column["description"] = _as_yaml_string(text)
        else:
            column.insert(list(column).index("name") + 1, "description", _as_yaml_string(text))
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
            _lift_line_comment(entry, "description")
        entry["description"] = _as_yaml_string(text)
    else:
        entry.insert(list(entry).index("name") + 1, "description", _as_yaml_string(text))


def _lift_line_comment(entry: CommentedMap, key: str) -> None:
    """Move the comment at the end of `key: value` onto its own line above the key: after a
    block scalar it would otherwise land, oddly indented, below the block."""
    item = entry.ca.items.get(key)
    token = item[2] if item and len(item) > 2 else None
    if token is None or not token.value.lstrip(" ").startswith("#"):
        return
    first, _, rest = token.value.partition("\n")
    if rest:
        token.value = rest
    else:
        item[2] = None
    column = entry.lc.key(key)[1] if entry.lc.data and key in entry.lc.data else 0
    entry.yaml_set_comment_before_after_key(
        key, before=first.strip().removeprefix("#").strip(), indent=column
    )


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


def _render(original: str, data: Any) -> str:
    yaml = _yaml(original)
    edited = _dump(yaml, data)
    baseline = _dump(_yaml(original), _yaml(original).load(original))
    spliced = splice(original, baseline, edited)
    if spliced is not None and _plain(yaml.load(spliced)) == _plain(yaml.load(edited)):
        return spliced
    return edited


def _dump(yaml: YAML, data: Any) -> str:
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def _plain(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def splice(original: str, baseline: str, edited: str) -> str | None:
    """Apply the line changes baseline -> edited to `original` (where `baseline` is ruamel's
    unchanged rendering of `original`); None when a change falls on a line ruamel rewrote."""
    orig = original.splitlines(keepends=True)
    base = baseline.splitlines(keepends=True)
    new = edited.splitlines(keepends=True)
    to_orig: dict[int, int] = {}
    for tag, i1, i2, j1, _ in difflib.SequenceMatcher(a=base, b=orig, autojunk=False).get_opcodes():
        if tag == "equal":
            to_orig.update({i1 + k: j1 + k for k in range(i2 - i1)})
    edits: list[tuple[int, int, list[str]]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=base, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 < i2:
            if i1 not in to_orig or i2 - 1 not in to_orig:
                return None
            start, end = to_orig[i1], to_orig[i2 - 1] + 1
            if end - start != i2 - i1:
                return None
        elif i1 - 1 in to_orig:
            start = end = to_orig[i1 - 1] + 1
        elif i1 in to_orig:
            start = end = to_orig[i1]
        elif i1 == 0:
            start = end = 0
        else:
            return None
        edits.append((start, end, new[j1:j2]))
    for start, end, lines in reversed(edits):
        orig[start:end] = lines
    return "".join(orig)


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
