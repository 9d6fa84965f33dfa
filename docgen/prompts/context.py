"""The object's context as the second message: code, columns, neighbours.

Everything here depends only on the object and its neighbours, never on the layer, so the
system message plus this message form the prefix the six layer calls share.
"""

from __future__ import annotations

from docgen.context import ObjectContext, RelatedObject
from docgen.style import glossary_block, relevant_terms

#: code longer than this is cut (keeps a huge generated model from exceeding the context)
MAX_CODE_CHARS = 24_000

_KIND = {
    "table": "table",
    "view": "view",
    "dbt_model": "dbt model",
    "cte": "common table expression (a named step inside a larger query)",
    "dataframe": "dataframe built in Python code",
}


def _related(items: tuple[RelatedObject, ...], empty: str) -> str:
    if not items:
        return empty
    lines = []
    for item in items:
        summary = f": {item.summary.strip()}" if item.summary and item.summary.strip() else ""
        lines.append(f"- {item.name} ({_KIND.get(item.object_type, item.object_type)}){summary}")
    return "\n".join(lines)


def _cut(code: str) -> str:
    if len(code) <= MAX_CODE_CHARS:
        return code
    return code[:MAX_CODE_CHARS] + f"\n... [{len(code) - MAX_CODE_CHARS} more characters cut]"


def _glossary(ctx: ObjectContext) -> str:
    """The house-style glossary terms this object mentions (name, columns, code, neighbours)."""
    if ctx.style is None:
        return ""
    obj = ctx.object
    text = "\n".join(
        [
            obj.name,
            obj.description or "",
            obj.effective_code,
            *(f"{c.name} {c.description or ''}" for c in obj.columns),
            *(f"{r.name} {r.summary or ''}" for r in (*ctx.upstream, *ctx.downstream)),
        ]
    )
    return glossary_block(relevant_terms(ctx.style, text))


def render_context(ctx: ObjectContext) -> str:
    obj = ctx.object
    language = "Python" if obj.language == "python" else f"SQL ({obj.dialect or 'generic'})"
    parts = [
        "Here is the data model to document.",
        "",
        f"Name: {obj.name}",
        f"Kind: {_KIND.get(obj.object_type, obj.object_type)}",
    ]
    if obj.schema_name:
        parts.append(f"Location: {'.'.join(p for p in (obj.database_name, obj.schema_name) if p)}")
    if obj.materialization:
        parts.append(f"Stored as: {obj.materialization}")
    if obj.tags:
        parts.append(f"Tags: {', '.join(obj.tags)}")
    if obj.description and obj.description.strip():
        parts.append(f"Description written by its owners: {obj.description.strip()}")
    if obj.columns:
        parts.append("Columns:")
        for column in obj.columns:
            kind = f" ({column.data_type})" if column.data_type else ""
            note = f": {column.description}" if column.description else ""
            parts.append(f"- {column.name}{kind}{note}")
    glossary = _glossary(ctx)
    if glossary:
        parts += ["", glossary]
    parts += [
        "",
        "Reads from (upstream):",
        _related(ctx.upstream, "- nothing else documented (it reads raw data directly)"),
        "",
        "Used by (downstream):",
        _related(ctx.downstream, "- no other documented data model uses it yet"),
        "",
        f"Code, {language}:",
        "<code>",
        _cut(obj.effective_code),
        "</code>",
    ]
    if obj.compiled_code and obj.code and obj.compiled_code != obj.code:
        parts += ["", "(The code above is the compiled form of the model's source.)"]
    elif obj.properties.get("uncompiled"):
        parts += [
            "",
            "(The code above is an uncompiled dbt Jinja template: it could not be rendered "
            "without the warehouse or a missing macro. dbt expands the parts in {{ }} and {% %} "
            "when it runs: describe what they do, and never present a template expression or "
            "a variable name as a data value.)",
        ]
    return "\n".join(parts)
