"""Who uses it, from what the YAML declares: YAML in, expected sentences out.

tests/fixtures/dbt_evidence is a dbt project whose YAML declares a group with its owner, a
model's `meta.owner`, an exposure on a model and a source table, and a source's loader and
freshness (`freshness: null` on one table). tests/fixtures/dbt_evidence_manifest.json is the
same project as dbt writes it. Both routes of the dbt reader must store the same evidence, and
the offline writer must say what tests/fixtures/dbt_evidence/expected.yml lists.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from docgen.context import ObjectContext, RelatedObject
from docgen.db.objects import DataObject
from docgen.layers import LAYER_NAMES, LAYERS
from docgen.providers.offline.writer import Writer
from docgen.sources.base import SourceObject
from docgen.sources.dbt import read_dbt

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = FIXTURES / "dbt_evidence"
MANIFEST = FIXTURES / "dbt_evidence_manifest.json"
EXPECTED: dict[str, dict[str, list[str]]] = yaml.safe_load((PROJECT / "expected.yml").read_text())
ROUTES = {"folder": PROJECT, "manifest": MANIFEST}


def _contexts(objects: list[SourceObject]) -> dict[str, ObjectContext]:
    ids = {o.unique_key: uuid.uuid5(uuid.NAMESPACE_URL, o.unique_key) for o in objects}
    data = {
        o.unique_key: DataObject(
            id=ids[o.unique_key],
            organization_id=uuid.uuid4(),
            object_type=o.object_type,
            name=o.name,
            unique_key=o.unique_key,
            code=o.code,
            compiled_code=o.compiled_code,
            language=o.language,
            dialect=o.dialect,
            columns=o.columns,
            upstream_object_ids=[ids[k] for k in o.upstream_keys if k in ids],
            description=o.description,
            materialization=o.materialization,
            tags=o.tags,
            properties=o.properties,
            content_hash=o.unique_key,
        )
        for o in objects
    }
    by_id = {d.id: d for d in data.values()}
    out = {}
    for d in data.values():
        ups = tuple(
            RelatedObject(u.id, u.name, u.object_type, u.description, tuple(u.columns))
            for u in (by_id[i] for i in d.upstream_object_ids)
        )
        downs = tuple(
            RelatedObject(o.id, o.name, o.object_type, o.description)
            for o in data.values()
            if d.id in o.upstream_object_ids
        )
        out[d.name] = ObjectContext(d, ups, downs)
    return out


def _texts(layers: dict[str, Any]) -> dict[str, list[str]]:
    impact = layers["impact_analysis"]
    groups = {
        "summary": [layers["executive_summary"]],
        "impact": [
            *(u[k] for u in impact["usedBy"] for k in ("team", "frequency", "purpose")),
            impact["downstreamImpact"],
        ],
        "cards": [
            c[k]
            for c in layers["transformation_cards"]
            for k in ("title", "input", "logic", "output", "whyItMatters")
        ],
    }
    narrative = layers["business_narrative"]
    groups["any"] = [
        *(t for texts in groups.values() for t in texts),
        narrative["whatItDoes"],
        narrative["businessImpact"],
        *narrative["dataJourney"],
    ]
    return groups


@pytest.fixture(scope="module", params=sorted(ROUTES))
def route(request: pytest.FixtureRequest) -> tuple[str, dict[str, ObjectContext]]:
    result = read_dbt(ROUTES[request.param])
    return request.param, _contexts(result.objects)


def test_both_routes_store_the_declared_evidence(
    route: tuple[str, dict[str, ObjectContext]],
) -> None:
    _, contexts = route
    orders = contexts["shop.orders"].object.properties
    assert orders["freshness"] == {
        "warn_after": {"count": 12, "period": "hour"},
        "error_after": {"count": 1, "period": "day"},
        "loaded_at_field": "_loaded_at",
    }
    assert orders["loader"] == "fivetran"
    assert orders["meta"] == {"owner": "platform-team@acme.com"}
    assert "exposures" not in orders
    refunds = contexts["shop.refunds"].object.properties
    assert "freshness" not in refunds  # `freshness: null` on the table turns it off
    exposure = {
        "name": "weekly_revenue_dashboard",
        "label": "Weekly revenue",
        "type": "dashboard",
        "description": "The revenue figures the board reads every Monday.",
        "maturity": "high",
        "url": "https://bi.acme.example/dashboards/12",
        "owner": "Board reporting <board@acme.com>",
    }
    assert refunds["exposures"] == [exposure]
    fct = contexts["fct_revenue"].object.properties
    assert fct["exposures"] == [exposure]
    assert fct["group"] == {
        "name": "finance",
        "owner": "Finance analytics <finance-analytics@acme.com>",
    }
    stg = contexts["stg_orders"].object.properties
    assert stg["meta"] == {"owner": "data-engineering@acme.com"}
    assert "group" not in stg and "exposures" not in stg


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_sentences(route: tuple[str, dict[str, ObjectContext]], name: str) -> None:
    kind, contexts = route
    writer = Writer(contexts[name])
    layers = {layer: writer.layer(layer) for layer in LAYER_NAMES}
    for layer in LAYER_NAMES:
        LAYERS[layer].validate_stored(layers[layer])
    texts = _texts(layers)
    for group, phrases in EXPECTED[name].items():
        if group == "reject":
            for phrase in phrases:
                assert not any(phrase in t for t in texts["any"]), f"{kind}: {phrase!r} said"
            continue
        for phrase in phrases:
            assert any(phrase in t for t in texts[group]), (
                f"{kind} route, {name}: {phrase!r} not in {group}: {texts[group]}"
            )
