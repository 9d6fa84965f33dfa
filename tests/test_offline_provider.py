"""The offline provider: six valid layers from static analysis, without key or network."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.layers import LAYER_NAMES, LAYERS
from docgen.providers.offline import OFFLINE_MODEL
from docgen.service import DocumentationGenerationService
from tests.conftest import OrgFixture
from tests.factories import make_object
from tests.netguard import no_network

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "complexity").glob("*.*"))


def offline_service(engine: Engine, org: OrgFixture) -> DocumentationGenerationService:
    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "offline")
    service = DocumentationGenerationService(engine, org.id)
    service.initialize()
    return service


def test_netguard_sees_connections() -> None:
    with no_network() as seen:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", 9), timeout=0.5)
    assert seen, "the guard must notice a TCP connect"


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_six_valid_layers_without_network(engine: Engine, org: OrgFixture, path: Path) -> None:
    language = "python" if path.suffix == ".py" else "sql"
    upstream = make_object(engine, org, "stg_orders", "select * from raw.orders")
    obj = make_object(
        engine,
        org,
        path.stem,
        path.read_text(),
        upstream=[upstream.id],
        language=language,
        object_type="dataframe" if language == "python" else "dbt_model",
    )
    make_object(engine, org, "finance_report", "select 1", upstream=[obj.id])
    service = offline_service(engine, org)
    with no_network() as connections:
        generated = service.generate_documentation_for_object(obj.id)
    assert connections == []
    assert generated.failed_layers == []
    assert generated.model == OFFLINE_MODEL and generated.provider == "offline"
    assert generated.usage.total_tokens == 0 and generated.cost_usd == 0
    for layer in LAYER_NAMES:
        LAYERS[layer].validate_stored(generated.layers[layer])
    stored = service.store_documentation(obj.id, generated)
    assert stored.generated_by_model == OFFLINE_MODEL
    assert "finance_report" in stored.impact_analysis["downstreamImpact"]  # type: ignore[index]


def test_offline_layers_follow_the_code(engine: Engine, org: OrgFixture) -> None:
    obj = make_object(engine, org)  # factories.ORDERS_SQL: 3 CTEs, filters, CASE, window
    layers = offline_service(engine, org).generate_documentation_for_object(obj.id).layers
    titles = [card["title"] for card in layers["transformation_cards"]]
    assert titles[:2] == ["Orders", "Payments"]  # the CTE chain, in order
    code = [e["codeBlock"] for e in layers["code_explanations"]]
    assert "left join payments p on o.order_id = p.order_id" in code  # quoted as written
    rules = [r["codeReference"] for r in layers["business_rules"]]
    assert "status = 'completed'" in rules and "amount > 0" in rules
    assert "case when p.amount_paid >= 100 then 'large' else 'small' end" in rules


def test_offline_is_deterministic(engine: Engine, org: OrgFixture) -> None:
    obj = make_object(engine, org)
    service = offline_service(engine, org)
    first = service.generate_documentation_for_object(obj.id).layers
    second = service.generate_documentation_for_object(obj.id).layers
    assert first == second
