"""Editing a YAML file so that only the lines docgen changed change (ruamel.yaml round trip).

ruamel keeps comments, key order, quotes and block styles, with the indentation guessed per
file (`guess_indent`); it still normalizes a few things (a multi-line plain scalar, spacing
before a comment), so `render` splices the lines that changed into the original text and
everything else stays byte for byte (`splice`), falling back to ruamel's text only when a
change falls on a line ruamel rewrote.
"""

from __future__ import annotations

import difflib
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from docgen.errors import InvalidInput

_OPENING_KEY = re.compile(r"^(\s*)(- +)?([^\s#:'\"][^:#]*|'[^']*'|\"[^\"]*\"):\s*(#.*)?$")


def as_yaml_string(text: str) -> str:
    return LiteralScalarString(text) if "\n" in text else text


def yaml_for(text: str) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long description line
    mapping, sequence, offset = guess_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml


def read_yaml(path: Path, label: str) -> tuple[str, Any, bool]:
    """(text with LF line ends, round-trip data, whether the file used CRLF)."""
    try:
        raw = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {label}: {exc}") from exc
    crlf = "\r\n" in raw
    text = raw.replace("\r\n", "\n")
    try:
        data = yaml_for(text).load(text)
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


def lift_line_comment(entry: CommentedMap, key: str) -> None:
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


def render(original: str, data: Any) -> str:
    yaml = yaml_for(original)
    edited = _dump(yaml, data)
    baseline = _dump(yaml_for(original), yaml_for(original).load(original))
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
