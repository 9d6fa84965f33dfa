"""Who uses it, from what the YAML declares: YAML in, expected sentences out.

tests/fixtures/dbt_evidence is a dbt project whose YAML declares a group with its owner, a
model's `meta.owner`, an exposure on a model and a source table, and a source's loader and
freshness (`freshness: null` on one table). tests/fixtures/dbt_evidence_manifest.json is the
same project as dbt writes it. Both routes of the dbt reader must store the same evidence, and
the offline writer must say what tests/fixtures/dbt_evidence/expected.yml lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.fidelity import contexts
from docgen.context import ObjectContext
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
    return {ctx.object.name: ctx for ctx in contexts(objects)}


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
    layers: dict[str, Any] = {layer: writer.layer(layer) for layer in LAYER_NAMES}
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


def test_evidence_of_the_wrong_shape_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: shop\nconfig-version: 2\nprofile: shop\n")
    (tmp_path / "models" / "orders.sql").write_text("select 1 as id\n")
    (tmp_path / "models" / "schema.yml").write_text(
        "version: 2\n"
        "exposures: not a list\n"
        "groups:\n  - owner: {name: nobody}\n"  # a group without a name
        "models:\n"
        "  - name: orders\n"
        "    meta: [not, a, mapping]\n"
        "    group: 5\n"
        "sources:\n"
        "  - name: shop\n"
        "    loader: [fivetran]\n"
        "    freshness: {warn_after: {count: soon, period: hour}}\n"
        "    tables:\n      - name: raw_orders\n"
    )
    result = read_dbt(tmp_path)
    by_name = {o.name: o for o in result.objects}
    orders = by_name["orders"].properties
    assert not {"meta", "group", "exposures"} & set(orders)
    source = by_name["shop.raw_orders"].properties
    assert not {"freshness", "loader"} & set(source)
    said = [w.message for w in result.warnings]
    assert any("exposures must be a list" in m for m in said), said
    assert any("groups[0] has no name" in m for m in said), said
