"""The HTML catalog: a static site that works from file:// with no server.

    out/index.html          every object, searchable and filterable by type and complexity
    out/<slug>.html         one page per object, executive summary first, with a lineage
                            picture two levels up and down (docgen.render.lineage)
    out/lineage.html        the whole project's lineage picture

Safety: every generated text (code, column names, LLM output) reaches the page through
Jinja2 with autoescape on; nothing from the database is ever marked safe. The index's
search data is a JSON island (`<script type="application/json">`) whose `<`, `>` and `&`
are \\u-escaped, so no text can close the script element. As a second wall, each page
carries a Content-Security-Policy that allows only our own inline script and style (by
their SHA-256): an injected `<script>` or `onerror=` would not run even if escaping failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from docgen.columns import column_rows
from docgen.model import OBJECT_TYPES, Documentation
from docgen.render.data import COMPLEXITY_LABELS, Catalog, Entry, version_facts
from docgen.render.files import open_export_dir
from docgen.render.lineage import Graph, lineage_graph, object_lineage, project_lineage

_ASSETS = resources.files("docgen.render") / "templates"


def json_island(value: Any) -> Markup:
    """JSON safe to place inside `<script type="application/json">`: no `<`, `>` or `&`
    survives, so `</script>` or `<!--` inside a string cannot end the element."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    for char, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return Markup(text)


def _sha256_source(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


@dataclass(frozen=True)
class _Static:
    css: str
    js: str

    def csp(self, *, with_script: bool) -> str:
        script = _sha256_source(self.js) if with_script else "'none'"
        return (
            "default-src 'none'; img-src data:; "
            f"style-src {_sha256_source(self.css)}; script-src {script}; "
            "base-uri 'none'; form-action 'none'"
        )


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("docgen.render", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["json_island"] = json_island
    return env


def _static() -> _Static:
    return _Static(
        css=(_ASSETS / "docgen.css").read_text(encoding="utf-8"),
        js=(_ASSETS / "index.js").read_text(encoding="utf-8"),
    )


def _search_record(entry: Entry) -> dict[str, Any]:
    obj, doc = entry.obj, entry.doc
    words = [obj.name, obj.unique_key, obj.object_type, *obj.tags, *(c.name for c in obj.columns)]
    if doc is not None:
        words.append(doc.executive_summary or "")
        words.append(doc.review_state)
        if doc.business_narrative:
            words.append(str(doc.business_narrative.get("whatItDoes", "")))
    elif obj.description:
        words.append(obj.description)
    return {
        "slug": entry.slug,
        "type": obj.object_type,
        "complexity": str(doc.complexity_score) if doc and doc.complexity_score else "none",
        "text": " ".join(words).lower(),
    }


def written_by(docs: list[Documentation | None]) -> str:
    """Who wrote the descriptions, for the footer: an AI model, the offline analyser, or both."""
    offline = {(d.generated_by_model or "").startswith("offline") for d in docs if d is not None}
    if offline == {True}:
        return "by docgen's offline analyser (no AI model)"
    if offline == {True, False}:
        return "by an AI model or by docgen's offline analyser"
    return "by an AI model"


def render_index(catalog: Catalog, env: Environment | None = None) -> str:
    env = env or _environment()
    static = _static()
    records = [_search_record(e) for e in catalog.entries]
    types = [t for t in OBJECT_TYPES if any(e.obj.object_type == t for e in catalog.entries)]
    return env.get_template("index.html").render(
        catalog=catalog,
        entries=catalog.entries,
        records={"objects": records},
        types=types,
        complexity_labels=COMPLEXITY_LABELS,
        css=Markup(static.css),
        js=Markup(static.js),
        csp=static.csp(with_script=True),
        generated_at=catalog.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        written_by=written_by([e.doc for e in catalog.entries]),
    )


def render_object_page(
    entry: Entry, catalog: Catalog, env: Environment | None = None, graph: Graph | None = None
) -> str:
    env = env or _environment()
    static = _static()
    return env.get_template("object.html").render(
        catalog=catalog,
        entry=entry,
        obj=entry.obj,
        doc=entry.doc,
        facts=version_facts(entry.doc) if entry.doc else None,
        lineage=object_lineage(catalog, entry, graph=graph),
        columns=column_rows(entry.obj, entry.doc),
        css=Markup(static.css),
        csp=static.csp(with_script=False),
        generated_at=catalog.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        written_by=written_by([entry.doc]),
    )


def render_lineage_page(catalog: Catalog, env: Environment | None = None) -> str:
    """The project-level lineage picture (`lineage.html`)."""
    env = env or _environment()
    static = _static()
    return env.get_template("lineage.html").render(
        catalog=catalog,
        picture=project_lineage(catalog),
        css=Markup(static.css),
        csp=static.csp(with_script=False),
        generated_at=catalog.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        written_by=written_by([e.doc for e in catalog.entries]),
    )


def write_html(catalog: Catalog, out_dir: Path, *, force: bool = False) -> list[Path]:
    """Write index.html and one page per object into `out_dir`; returns the files written.
    Folder rules (previous exports, --force, stale pages): docgen.render.files."""
    out = open_export_dir(out_dir, "html", force=force)
    env = _environment()
    out.write("index.html", render_index(catalog, env))
    out.write("lineage.html", render_lineage_page(catalog, env))
    graph = lineage_graph(catalog)  # once: every page draws its neighbourhood from it
    for entry in catalog.entries:
        out.write(f"{entry.slug}.html", render_object_page(entry, catalog, env, graph))
    return out.finish()
