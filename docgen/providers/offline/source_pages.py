"""Pages for what is not a model: dbt sources and seeds (and the quoted lines any object's
code can fall back on).

A source is raw data another system loads: its page says which system (the YAML source and its
description), which table, which columns with their descriptions, the freshness check where one
is declared, and who reads it. A seed is a file kept in the project. Nothing here calls a
source "built from" anything.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Any

from docgen.providers.offline import usage
from docgen.providers.offline.items import Item
from docgen.providers.offline.words import join_words, sentence

_COMMENT_MARKS = "-#\"' /*"

if TYPE_CHECKING:
    from docgen.providers.offline.reading import Reading


def first_sentence(text: str, limit: int = 320) -> str:
    text = " ".join(text.split())
    cut = text.find(". ")
    if 0 < cut < limit:
        text = text[: cut + 1]
    if len(text) > limit:
        text = text[: limit - 3].rsplit(" ", 1)[0] + "..."
    return text


def source_summary(w: Reading) -> str:
    obj = w.obj
    props = obj.properties or {}
    system = w.name.split(".", 1)[0] if "." in w.name else w.name
    relation = props.get("relation") or w.name
    if w.kind == "source":
        first = f"{w.name} is raw data from the {system} source, read from {relation}"
    else:
        first = f"{w.name} is a seed: a fixed table loaded from a file in the project"
    if obj.description:
        first += f": {first_sentence(obj.description)}"
    system_text = props.get("source_description")
    second = (
        f"The {system} source is described as: {first_sentence(system_text)}" if system_text else ""
    )
    freshness = props.get("freshness")
    if freshness:
        second += (" " if second else "") + sentence(
            f"Freshness is checked: {usage.freshness_words(freshness)}"
        )
    third = w.columns_and_readers() or f"{w.name} declares no columns"
    return " ".join(sentence(p) for p in (first, second, third) if p)[:1200]


def source_cards(w: Reading) -> list[dict[str, Any]]:
    obj = w.obj
    props = obj.properties or {}
    relation = props.get("relation") or w.name
    readers = [d.name for d in w.ctx.downstream]
    described = [c for c in obj.columns if c.description]
    loader = props.get("loader") if isinstance(props.get("loader"), str) else None
    return [
        {
            "title": (
                f"Loaded from the {w.name.split('.')[0]} system"
                if w.kind == "source"
                else f"Seed file of {w.name}"
            ),
            "input": sentence(
                props.get("source_description") or f"the {w.name.split('.')[0]} system"
                if w.kind == "source"
                else f"a file in the project ({obj.source_path or w.name})"
            ),
            "logic": sentence(
                f"declared in YAML as {relation}; loaded outside this project"
                + (f" by {loader}" if loader else "")
                if w.kind == "source"
                else "loaded by dbt seed as it is"
            ),
            "output": sentence(relation),
            "whyItMatters": sentence(
                f"everything built on {w.name} depends on this load being complete"
                + (
                    f"; freshness: {usage.freshness_words(props['freshness'])}"
                    if props.get("freshness")
                    else ""
                )
            ),
        },
        {
            "title": (
                f"{len(obj.columns)} declared column{'s' if len(obj.columns) != 1 else ''}"
                if obj.columns
                else f"No columns declared for {w.name}"
            ),
            "input": sentence(f"the YAML of {w.name}"),
            "logic": sentence(
                f"{len(obj.columns)} columns declared, {len(described)} with a description"
                if obj.columns
                else f"the YAML of {w.name} lists no columns"
            ),
            "output": sentence(join_words([c.name for c in obj.columns], 6) or "not declared"),
            "whyItMatters": sentence(
                f"{len(described)} of its {len(obj.columns)} columns say what they mean"
                if described
                else f"no column of {w.name} has a description yet"
            ),
        },
        {
            "title": (
                f"Read by {len(readers)} model{'s' if len(readers) != 1 else ''}"
                if readers
                else "Not read by any model"
            ),
            "input": sentence(f"the models that select from {w.name}"),
            "logic": sentence(
                f"read by {join_words(readers, 5)}"
                if readers
                else f"no model selects from {w.name}"
            ),
            "output": sentence(
                f"{len(readers)} model{'s' if len(readers) != 1 else ''} downstream"
            ),
            "whyItMatters": sentence(usage.downstream_impact(w.ctx)),
        },
    ]


# -- code explanations and rules -----------------------------------------------------


def line_items(w: Reading) -> list[Item]:
    """True facts quoted line by line from the code (sources, seeds, unparsed code):
    declared columns first, then what the code declares, then its lines as written."""
    items: list[Item] = []
    lines: list[Item] = []
    described = {c.name.lower(): c for c in w.obj.columns}
    for line in w.code.splitlines():
        text = line.strip().rstrip(",")
        if not text or text in ("(", ");", ")"):
            continue
        head = text.split()[0].lower()
        column = described.get(head)
        if column is not None:
            meaning = column.description or "no description in the YAML"
            kind = f" ({column.data_type})" if column.data_type else ""
            items.append(Item("column", text, f"{column.name}{kind}: {meaning}", meaning))
        elif _informative(text):
            lines.append(
                Item(
                    "line",
                    text,
                    (
                        "a comment in the code says: " + text.strip(_COMMENT_MARKS)
                        if text.startswith(("--", "#", '"""', "/*"))
                        else f"the code reads: {text}"
                    ),
                    "A line of the object's code, quoted as written",
                )
            )
    fragments: list[Item] = []
    original = w.code
    for macro in dict.fromkeys(re.findall(r"\{\{-?\s*([\w.]+)\s*\(", original)):
        if macro in ("ref", "source", "config", "var", "this"):
            continue
        items.append(
            Item(
                "macro",
                macro,
                f"part of the SQL is generated by the macro {macro}, which is not expanded here",
                "What the macro produces is documented only once the project is compiled",
            )
        )
    for value in dict.fromkeys(re.findall(r"'[^'\n{}]{2,80}'", original)):
        fragments.append(
            Item(
                "value",
                value,
                f"the code uses the value {value}",
                "A fixed value written in the code",
            )
        )
    for line in original.splitlines():
        for part in line.split(","):
            part = part.strip()
            if len(part) >= 3:
                fragments.append(
                    Item(
                        "fragment",
                        part,
                        f"the code contains {part}",
                        "Quoted as written",
                    )
                )
    code = w.code.lower()
    relation = str((w.obj.properties or {}).get("relation") or "")
    for fragment, said, why in (
        (
            f"source {w.name}",
            f"{w.name} is declared as a dbt source",
            f"{w.name} is loaded from outside the project",
        ),
        (
            f"seed {w.name}",
            f"{w.name} is a dbt seed",
            "Its rows come from a file kept with the project",
        ),
        (
            relation,
            f"its rows are read from the table {relation}",
            f"Models that read {w.name} depend on {relation} being loaded",
        ),
        (
            "columns not declared",
            f"no columns are declared for {w.name} in YAML",
            f"Readers of {w.name} see its fields only when they query it",
        ),
    ):
        if fragment and fragment.lower() in code:
            items.append(Item("line", fragment, said, why))
    return items + lines + fragments


def leading_comment(code: str, language: str) -> str | None:
    """What the author wrote at the top of the code: a Python docstring, or the SQL comment
    lines before the first statement."""
    if language == "python":
        try:
            return ast.get_docstring(ast.parse(code))
        except SyntaxError:
            return None
    lines = []
    for line in code.strip().splitlines():
        if not line.strip().startswith("--"):
            break
        lines.append(line.strip().lstrip("-").strip())
    return " ".join(lines) or None


_KEYWORDS = {
    "select", "from", "with", "as", "where", "and", "or", "on", "join", "left", "right",
    "inner", "outer", "full", "group", "by", "order", "union", "all", "distinct", "case",
    "when", "then", "else", "end", "having", "qualify", "limit", "not", "null", "is", "in",
}  # fmt: skip


def _informative(line: str) -> bool:
    """A line worth quoting on its own: it names something beyond SQL keywords."""
    words = re.findall(r"[A-Za-z_]\w*", line)
    return any(w.lower() not in _KEYWORDS for w in words)
