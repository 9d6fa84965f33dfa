"""Markdown export: one file per object plus an index, links that resolve, and generated text
that stays text when rendered the way GitHub does (CommonMark + tables, raw HTML allowed)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from sqlalchemy.engine import Engine

from docgen.render.markdown import md_code, md_text
from tests.conftest import make_org
from tests.docs_factory import (
    IMG_PAYLOAD,
    SCRIPT_PAYLOAD,
    ShopProject,
    build_shop_project,
    dbt_object,
    document,
    layers,
)

MARKDOWN_PAYLOAD = (
    "see [the report](javascript:alert(1)) **now** | or _not_ `x`\n# Heading?\n- item"
)


@pytest.fixture
def project(engine: Engine) -> ShopProject:
    shop = build_shop_project(engine, make_org(engine, "md"))
    tricky = dbt_object(engine, shop.org, "tricky_names")
    shop.objects["tricky_names"] = tricky
    shop.docs["tricky_names"] = document(
        engine,
        shop.org,
        tricky.id,
        layers("tricky", extra=MARKDOWN_PAYLOAD, rule_impact="a | b | c"),
    )
    return shop


def render(text: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(text)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


def test_markdown_export(cli, project: ShopProject, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "md"
    result = cli("export", "--org", project.org.name, "--format", "markdown", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out / "index.md")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [".docgen-export.json", "index.md", *(f"{n}.md" for n in project.objects)]
    )

    # every link (as a Markdown renderer sees them) points at a file of the export
    links = 0
    for md in out.glob("*.md"):
        for tag, attrs in parse(render(md.read_text())).tags:
            if tag == "a":
                assert (out / str(attrs["href"])).is_file(), (md.name, attrs)
                links += 1
    assert links >= 2 * len(project.objects) + 10

    index = (out / "index.md").read_text()
    assert "| [fct\\_orders](fct_orders.md) | dbt_model | 4 | fct\\_orders gives finance" in index
    assert (
        "| [customer\\_segments](customer_segments.md) | view | - | *not documented yet* |" in index
    )

    page = (out / "fct_orders.md").read_text()
    headings = re.findall(r"^## (.+)$", page, flags=re.M)
    assert headings == [
        "In short",
        "The story",
        "Step by step",
        "The code, explained",
        "Business rules",
        "Who uses it",
        "Lineage",
        "Columns",
        "Source",
        "About this page",
    ]
    assert "- [stg\\_orders](stg_orders.md) (view)" in page
    assert "- [dim\\_customers](dim_customers.md) (dbt_model)" in page
    html = render(page)
    assert "<h3>1. Step 1 of fct_orders</h3>" in html
    assert "<td>Revenue figures match what finance books</td>" in html
    assert "Cost: $0.0520" in page and "Prompt version: v1-test" in page

    # attack payloads from the SQL comment and the LLM output render as text
    xss = parse(render((out / "orders_with_notes.md").read_text()))
    tags = {tag for tag, _ in xss.tags}
    assert "script" not in tags and "img" not in tags
    text = "".join(xss.text)
    assert text.count(SCRIPT_PAYLOAD) >= 8 and text.count(IMG_PAYLOAD) >= 8

    # Markdown syntax in generated text makes no link, emphasis, heading or extra cell
    tricky_md = (out / "tricky_names.md").read_text()
    tricky = parse(render(tricky_md))
    assert not [a for tag, a in tricky.tags if tag == "a" and "javascript" in (a.get("href") or "")]
    summary_html = render(tricky_md.split("## In short\n\n")[1].split("\n\n## ")[0])
    assert (
        "<strong>" not in summary_html and "<em>" not in summary_html and "<h1>" not in summary_html
    )
    assert "[the report](javascript:alert(1)) **now** | or _not_ `x`" in parse(summary_html).text[0]
    rules_table = render(tricky_md.split("## Business rules\n\n")[1].split("\n\n## ")[0])
    rows = re.findall(r"<tr>(.*?)</tr>", rules_table, flags=re.S)
    assert rows and all(row.count("<td>") == 3 for row in rows[1:])
    assert "<td>a | b | c</td>" in rules_table


def test_md_text_and_code_fences() -> None:
    assert md_text("a <b> & c") == "a &lt;b&gt; &amp; c"
    assert md_text("1. first\n- second", inline=True) == "1\\. first \\- second"
    fenced = md_code("select '```' as fence")
    assert fenced.startswith("````") and fenced.endswith("````")
    assert render(fenced).count("<pre>") == 1 and "```" in parse(render(fenced)).text[0]
