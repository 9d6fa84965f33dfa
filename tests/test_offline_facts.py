"""The offline analyser, fact by fact: one SQL fixture per construct, expected sentences out.

Each tests/fixtures/offline/*.sql file starts with `-- key: value` lines (sqlglot's fixture
style: input and expectations side by side; `# key: value` in a *.py file) and the object's
code follows:

    -- name: object name            -- description: its YAML description
    -- columns: a: meaning | b      -- upstream: stg_x(a, b) | stg_y(c)
    -- downstream: a | b            -- tags: a | b        -- properties: {json}
    -- kind: source (with relation, source_description, freshness)
    -- materialization: incremental -- dialect: snowflake
    -- expect GROUP: a sentence or phrase that must appear (GROUP: summary, narrative, cards,
       explanations, rules, impact, columns (the column notes), any)
    -- reject GROUP: text that must not appear
    -- quote: code that a codeBlock or codeReference must contain, as written

Every case also checks what holds for all objects: the six layers validate, every quote is
found in the code as written, and no placeholder (`__jinja__`, `this_model`, `NULL`) reaches
the prose. No database is needed: the writer is a core function over an ObjectContext.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from docgen.context import ObjectContext, RelatedObject
from docgen.db.objects import Column, DataObject
from docgen.layers import LAYER_NAMES, LAYERS
from docgen.providers.offline.writer import Writer

FIXTURES = sorted(
    p
    for p in (Path(__file__).parent / "fixtures" / "offline").iterdir()
    if p.suffix in (".sql", ".py")
)
KEYS = {
    "name",
    "description",
    "columns",
    "upstream",
    "downstream",
    "tags",
    "properties",
    "kind",
    "relation",
    "source_description",
    "freshness",
    "materialization",
    "dialect",
    "language",
    "quote",
}
HEADER = re.compile(r"^(?:--|#) (expect \w+|reject \w+|[a-z_]+): ?(.*)$")


def _split(path: Path) -> tuple[list[tuple[str, str]], str]:
    header: list[tuple[str, str]] = []
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        match = HEADER.match(line)
        if not match or not (
            match.group(1) in KEYS or match.group(1).split()[0] in ("expect", "reject")
        ):
            return header, "\n".join(lines[index:]) + "\n"
        header.append((match.group(1), match.group(2).strip()))
    return header, ""


def _columns(text: str) -> list[Column]:
    out = []
    for part in text.split("|"):
        name, _, meaning = part.strip().partition(":")
        out.append(Column(name=name.strip(), description=meaning.strip() or None))
    return out


def _context(header: list[tuple[str, str]], code: str) -> ObjectContext:
    values = dict(header)
    name = values["name"]
    props: dict[str, Any] = json.loads(values.get("properties", "{}"))
    kind = values.get("kind")
    if kind == "source":
        props.update(
            {
                "resource_type": "source",
                "relation": values.get("relation"),
                "source_description": values.get("source_description"),
            }
        )
        if "freshness" in values:
            props["freshness"] = json.loads(values["freshness"])
    upstream = []
    for spec in filter(None, (s.strip() for s in values.get("upstream", "").split("|"))):
        up_name, _, cols = spec.partition("(")
        upstream.append(
            RelatedObject(
                uuid.uuid4(),
                up_name.strip(),
                "dbt_model",
                None,
                tuple(Column(name=c.strip()) for c in cols.rstrip(")").split(",") if c.strip()),
            )
        )
    downstream = [
        RelatedObject(uuid.uuid4(), d.strip(), "dbt_model")
        for d in values.get("downstream", "").split("|")
        if d.strip()
    ]
    obj = DataObject(
        id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        object_type="table" if kind == "source" else "dbt_model",
        language="python" if values.get("language") == "python" else "sql",
        name=name,
        unique_key=name,
        code=code,
        dialect=values.get("dialect", "postgres"),
        columns=_columns(values["columns"]) if "columns" in values else [],
        description=values.get("description"),
        materialization="source" if kind == "source" else values.get("materialization", "view"),
        tags=[t.strip() for t in values.get("tags", "").split("|") if t.strip()],
        properties=props,
        content_hash="x",
    )
    return ObjectContext(obj, tuple(upstream), tuple(downstream))


def _texts(layers: dict[str, Any]) -> dict[str, list[str]]:
    narrative = layers["business_narrative"]
    impact = layers["impact_analysis"]
    groups = {
        "summary": [layers["executive_summary"]],
        "narrative": [
            narrative["whatItDoes"],
            narrative["businessImpact"],
            *narrative["dataJourney"],
        ],
        "cards": [
            c[k]
            for c in layers["transformation_cards"]
            for k in ("title", "input", "logic", "output", "whyItMatters")
        ],
        "explanations": [
            e[k] for e in layers["code_explanations"] for k in ("plainEnglish", "businessContext")
        ],
        "rules": [r[k] for r in layers["business_rules"] for k in ("rule", "impact")],
        "impact": [
            *(u[k] for u in impact["usedBy"] for k in ("team", "frequency", "purpose")),
            *impact["questionsAnswered"],
            impact["downstreamImpact"],
        ],
    }
    groups["columns"] = [f"{n['name']}: {n['description']}" for n in impact.get("columns") or []]
    groups["any"] = [t for texts in groups.values() for t in texts]
    return groups


def _norm(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_offline_facts(path: Path) -> None:
    header, code = _split(path)
    assert any(k.startswith("expect") for k, _ in header), "a case must expect something"
    writer = Writer(_context(header, code))
    layers: dict[str, Any] = {name: writer.layer(name) for name in LAYER_NAMES}
    for name in LAYER_NAMES:
        LAYERS[name].validate_stored(layers[name])
    groups = _texts(layers)
    joined = {group: _norm(" ".join(texts)) for group, texts in groups.items()}
    quotes = [e["codeBlock"] for e in layers["code_explanations"]] + [
        r["codeReference"] for r in layers["business_rules"]
    ]
    for quote in quotes:
        assert _norm(quote).lower() in _norm(code).lower(), f"not in the code: {quote!r}"
    for text in groups["any"]:
        assert not re.search(r"__jinja__|this_model|\bNULL\b|\bNone\b", text), text
    for key, value in header:
        if key.startswith("expect "):
            group = key.split()[1]
            assert _norm(value) in joined[group], f"{group} lacks {value!r}:\n{joined[group]}"
        elif key.startswith("reject "):
            group = key.split()[1]
            assert _norm(value) not in joined[group], f"{group} says {value!r}"
        elif key == "quote":
            assert any(_norm(value) in _norm(q) for q in quotes), f"no quote holds {value!r}"
