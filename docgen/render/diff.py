"""Layer-by-layer difference between two documentation versions of one object.

The executive summary is compared sentence by sentence (a text diff); the five JSON layers
are compared structurally, so a reader sees `#2.logic` changed rather than a wall of JSON:

    - #2.logic: Keeps orders placed in the last 90 days
    + #2.logic: Keeps orders placed in the last 30 days

Paths use the stored field names; list items are numbered from 1 (`#1`), and an item added
or removed whole is shown field by field. Provenance (model, prompt version, complexity)
is compared too, because it often explains the difference.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from docgen.model import LAYER_COLUMNS, Documentation
from docgen.render.data import version_facts


@dataclass(frozen=True)
class LayerDiff:
    layer: str
    lines: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.lines)


@dataclass(frozen=True)
class VersionDiff:
    old_version: int
    new_version: int
    facts: list[str]
    layers: list[LayerDiff]
    #: unified diff of the code the two versions were made from ([] when equal or unknown)
    code: list[str] = field(default_factory=list)

    @property
    def changed_layers(self) -> list[str]:
        return [d.layer for d in self.layers if d.changed]

    def render(self) -> str:
        """The diff as text for a terminal (no colour codes, no markup)."""
        head = f"--- version {self.old_version}\n+++ version {self.new_version}\n"
        parts = [head]
        if self.facts:
            parts.append("provenance\n" + "".join(f"  {line}\n" for line in self.facts))
        for diff in self.layers:
            body = "".join(f"  {line}\n" for line in diff.lines) if diff.changed else ""
            parts.append(f"{diff.layer}{'' if diff.changed else ' (unchanged)'}\n{body}")
        if self.code:
            parts.append(f"code changed since version {self.old_version}\n")
            parts.append("".join(f"  {line}\n" for line in self.code))
        return "".join(parts)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed_layers"] = self.changed_layers
        return data


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _sentences(text: str | None) -> list[str]:
    return [s for s in _SENTENCE_END.split((text or "").strip()) if s]


def text_diff(old: str | None, new: str | None) -> list[str]:
    """Sentence-level diff lines (`- ` removed, `+ ` added) of two texts; [] when equal."""
    if (old or "").strip() == (new or "").strip():
        return []
    a, b = _sentences(old), _sentences(new)
    lines: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            lines += [f"  {s}" for s in a[i1:i2]]
            continue
        lines += [f"- {s}" for s in a[i1:i2]]
        lines += [f"+ {s}" for s in b[j1:j2]]
    return lines


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path and not key.startswith("#") else f"{path}{key}"


def _leaves(path: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(_join(path, str(k)), v)]
    if isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        return [leaf for i, v in enumerate(value, 1) for leaf in _leaves(_join(path, f"#{i}"), v)]
    return [(path, value)]


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _removed(path: str, value: Any) -> list[str]:
    return [f"- {p or '(value)'}: {_show(v)}" for p, v in _leaves(path, value)]


def _added(path: str, value: Any) -> list[str]:
    return [f"+ {p or '(value)'}: {_show(v)}" for p, v in _leaves(path, value)]


def structured_diff(old: Any, new: Any, path: str = "") -> list[str]:
    """Diff lines between two JSON values, down to the changed fields; [] when equal."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        lines: list[str] = []
        for key in [*old, *(k for k in new if k not in old)]:
            sub = _join(path, str(key))
            if key not in new:
                lines += _removed(sub, old[key])
            elif key not in old:
                lines += _added(sub, new[key])
            else:
                lines += structured_diff(old[key], new[key], sub)
        return lines
    if isinstance(old, list) and isinstance(new, list):
        return _list_diff(old, new, path)
    return _removed(path, old) + _added(path, new)


def _list_diff(old: list[Any], new: list[Any], path: str) -> list[str]:
    keys_a = [json.dumps(v, sort_keys=True) for v in old]
    keys_b = [json.dumps(v, sort_keys=True) for v in new]
    lines: list[str] = []
    matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:  # same slots, edited in place
            for offset in range(i2 - i1):
                i, j = i1 + offset, j1 + offset
                lines += structured_diff(old[i], new[j], _join(path, f"#{j + 1}"))
            continue
        for i in range(i1, i2):
            lines += _removed(_join(path, f"#{i + 1}"), old[i])
        for j in range(j1, j2):
            lines += _added(_join(path, f"#{j + 1}"), new[j])
    return lines


def _facts_diff(old: Documentation, new: Documentation) -> list[str]:
    a, b = version_facts(old), version_facts(new)
    lines = []
    for label, x, y in (
        ("model", a.model, b.model),
        ("prompt version", a.prompt_version, b.prompt_version),
        ("complexity", a.complexity, b.complexity),
        ("layers not generated", ", ".join(a.failed_layers), ", ".join(b.failed_layers)),
    ):
        if x != y:
            lines += [f"- {label}: {x or '(none)'}", f"+ {label}: {y or '(none)'}"]
    return lines


def diff_versions(old: Documentation, new: Documentation) -> VersionDiff:
    """Compare two versions layer by layer, in the brief's layer order."""
    layers = [
        LayerDiff("executive_summary", text_diff(old.executive_summary, new.executive_summary))
    ]
    layers += [
        LayerDiff(name, structured_diff(getattr(old, name), getattr(new, name)))
        for name in LAYER_COLUMNS[1:]
    ]
    return VersionDiff(old.version, new.version, _facts_diff(old, new), layers, code_diff(old, new))


def code_diff(old: Documentation, new: Documentation) -> list[str]:
    """What changed in the code between the versions (both must know their code)."""
    if old.source_code is None or new.source_code is None or old.source_code == new.source_code:
        return []
    lines = difflib.unified_diff(
        old.source_code.splitlines(),
        new.source_code.splitlines(),
        fromfile=f"code of version {old.version}",
        tofile=f"code of version {new.version}",
        lineterm="",
    )
    return list(lines)
