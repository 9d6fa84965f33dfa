"""Markdown: one file per object plus an index, readable on GitHub and in Prefect's UI.

`render_object_markdown()` is a pure function (the Prefect artifact uses it too). Generated
text never becomes markup: `&`, `<` and `>` become HTML entities (GitHub shows them as the
characters, and no raw HTML tag survives), and Markdown punctuation that could start a
link, emphasis, table cell or heading is backslash-escaped. Code goes in fenced blocks whose
fence is longer than any run of backticks inside, so code cannot close its own block.
"""

from __future__ import annotations

import re
from pathlib import Path

from docgen.columns import ColumnRow, column_rows
from docgen.model import DataObject, Documentation
from docgen.render.data import Catalog, Entry, Link, complexity_label, version_facts
from docgen.render.files import open_export_dir

_MD_PUNCTUATION = re.compile(r"([\\`*_\[\]|~#])")
_LIST_BULLET = re.compile(r"^(\s*)([-+=])", re.MULTILINE)
_LIST_NUMBER = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)


def md_text(value: object, *, inline: bool = False) -> str:
    """Generated text as Markdown that shows exactly that text (no HTML, links or emphasis).

    `inline`: for list items and table cells, where a newline would end the element."""
    text = str(value or "")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_PUNCTUATION.sub(r"\\\1", text)
    text = _LIST_BULLET.sub(r"\1\\\2", text)
    text = _LIST_NUMBER.sub(r"\1\\\2", text)
    if inline:
        text = " ".join(text.split())
    return text


def md_code(code: str, language: str = "") -> str:
    """A fenced code block that no content can close early."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{code.rstrip()}\n{fence}"


def _inline_code(code: str) -> str:
    text = " ".join(str(code).split()).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}" if text else ""


def _link(link: Link, links: bool) -> str:
    name = md_text(link.name, inline=True)
    if links and link.slug:
        return f"[{name}]({link.slug}.md) ({link.object_type})"
    return f"{name} ({link.object_type})"


def _generated_mark(column: ColumnRow) -> str:
    return " *(docgen)*" if column.generated and not column.human else ""


def render_object_markdown(
    obj: DataObject,
    doc: Documentation | None,
    *,
    upstream: list[Link] | None = None,
    downstream: list[Link] | None = None,
    links: bool = True,
) -> str:
    """One object's documentation as Markdown; `links=False` leaves lineage names unlinked
    (for places without the other files, such as a Prefect artifact)."""
    out: list[str] = [f"# {md_text(obj.name, inline=True)}", ""]
    complexity = complexity_label(doc.complexity_score if doc else None)
    where = f" · {_inline_code(obj.source_path)}" if obj.source_path else ""
    out += [f"*{obj.object_type}* · complexity {complexity}{where}", ""]
    if links:
        out += ["[← All objects](index.md)", ""]
    if doc is None:
        out += ["> **Not documented yet.**", ""]
        if obj.description:
            out += [md_text(obj.description), ""]
    else:
        out += _layers_markdown(doc)
    out += ["## Lineage", "", "**Built from:**", ""]
    out += [f"- {_link(lk, links)}" for lk in upstream or []] or ["- (reads source data directly)"]
    out += ["", "**Feeds into:**", ""]
    out += [f"- {_link(lk, links)}" for lk in downstream or []] or ["- (nothing in the catalog)"]
    out.append("")
    columns = column_rows(obj, doc)
    if columns:
        out += ["## Columns", "", "| Column | Type | Description |", "| --- | --- | --- |"]
        out += [
            f"| {_inline_code(c.name)} | {md_text(c.data_type, inline=True)}"
            f" | {md_text(c.description, inline=True)}{_generated_mark(c)} |"
            for c in columns
        ]
        out.append("")
    out += ["## Source", "", "<details><summary>Show the code</summary>", ""]
    out += [md_code(obj.code, obj.language), "", "</details>", ""]
    if doc is not None:
        facts = version_facts(doc)
        out += [
            "## About this page",
            "",
            f"- Documentation version: {facts.version}{' (current)' if facts.is_current else ''}",
            f"- Model: {md_text(facts.model, inline=True)}",
            f"- Prompt version: {md_text(facts.prompt_version, inline=True)}",
            f"- Tokens: {facts.tokens}",
            f"- Cost: {facts.cost}",
            f"- Generated on: {facts.generated_at}",
            f"- Review: {md_text(facts.review, inline=True)}",
        ]
        if facts.failed_layers:
            failed = ", ".join(md_text(x, inline=True) for x in facts.failed_layers)
            out.append(f"- Not generated in this version: {failed}")
        out.append("")
    return "\n".join(out)


def _layers_markdown(doc: Documentation) -> list[str]:
    out = ["## In short", "", md_text(doc.executive_summary), ""]
    narrative = doc.business_narrative or {}
    out += ["## The story", ""]
    if narrative:
        out += ["**What it does.** " + md_text(narrative.get("whatItDoes")), ""]
        out += ["**The data's journey:**", ""]
        out += [
            f"{i}. {md_text(step, inline=True)}"
            for i, step in enumerate(narrative.get("dataJourney") or [], 1)
        ]
        out += ["", "**Why it matters.** " + md_text(narrative.get("businessImpact")), ""]
    else:
        out += ["*Not available for this version.*", ""]
    out += ["## Step by step", ""]
    for card in doc.transformation_cards:
        out += [
            f"### {md_text(card.get('stepNumber'), inline=True)}."
            f" {md_text(card.get('title'), inline=True)}",
            "",
            f"- **Starts from:** {md_text(card.get('input'), inline=True)}",
            f"- **What happens:** {md_text(card.get('logic'), inline=True)}",
            f"- **Result:** {md_text(card.get('output'), inline=True)}",
            f"- **Why it matters:** {md_text(card.get('whyItMatters'), inline=True)}",
            "",
        ]
    if not doc.transformation_cards:
        out += ["*Not available for this version.*", ""]
    out += ["## The code, explained", ""]
    for item in doc.code_explanations:
        out += [
            md_code(str(item.get("codeBlock") or ""), "sql"),
            "",
            md_text(item.get("plainEnglish")),
            "",
            f"*Business context:* {md_text(item.get('businessContext'), inline=True)}",
            "",
        ]
    if not doc.code_explanations:
        out += ["*Not available for this version.*", ""]
    out += ["## Business rules", ""]
    if doc.business_rules:
        out += ["| Rule | Where in the code | Impact |", "| --- | --- | --- |"]
        out += [
            f"| {md_text(r.get('rule'), inline=True)}"
            f" | {_inline_code(r.get('codeReference') or '')}"
            f" | {md_text(r.get('impact'), inline=True)} |"
            for r in doc.business_rules
        ]
        out.append("")
    else:
        out += ["*Not available for this version.*", ""]
    impact = doc.impact_analysis or {}
    out += ["## Who uses it", ""]
    if impact:
        out += ["| Team | How often | What for |", "| --- | --- | --- |"]
        out += [
            f"| {md_text(u.get('team'), inline=True)} | {md_text(u.get('frequency'), inline=True)}"
            f" | {md_text(u.get('purpose'), inline=True)} |"
            for u in impact.get("usedBy") or []
        ]
        out += ["", "**Questions it answers:**", ""]
        out += [f"- {md_text(q, inline=True)}" for q in impact.get("questionsAnswered") or []]
        out += ["", "**If it breaks:** " + md_text(impact.get("downstreamImpact")), ""]
    else:
        out += ["*Not available for this version.*", ""]
    return out


def render_index_markdown(catalog: Catalog) -> str:
    out = [
        f"# {md_text(catalog.organization.name, inline=True)}: data catalog",
        "",
        f"{len(catalog.entries)} objects, {len(catalog.documented)} documented."
        f" Generated by docgen on {catalog.generated_at:%Y-%m-%d %H:%M} UTC.",
        "",
        "| Object | Type | Complexity | Summary |",
        "| --- | --- | --- | --- |",
    ]
    for entry in catalog.entries:
        summary = entry.doc.executive_summary if entry.doc else None
        out.append(
            f"| [{md_text(entry.obj.name, inline=True)}]({entry.slug}.md)"
            f" | {entry.obj.object_type}"
            f" | {entry.doc.complexity_score if entry.doc and entry.doc.complexity_score else '-'}"
            f" | {md_text(summary, inline=True) if summary else '*not documented yet*'} |"
        )
    out.append("")
    return "\n".join(out)


def _entry_markdown(entry: Entry) -> str:
    return render_object_markdown(
        entry.obj, entry.doc, upstream=entry.upstream, downstream=entry.downstream
    )


def write_markdown(catalog: Catalog, out_dir: Path, *, force: bool = False) -> list[Path]:
    """Write index.md and one `<slug>.md` per object into `out_dir`.
    Folder rules (previous exports, --force, stale pages): docgen.render.files."""
    out = open_export_dir(out_dir, "markdown", force=force)
    out.write("index.md", render_index_markdown(catalog))
    for entry in catalog.entries:
        out.write(f"{entry.slug}.md", _entry_markdown(entry))
    return out.finish()
