"""The example dbt project (examples/jaffle_shop): full lineage from its folder and from the
manifest dbt wrote for it, and six offline layers for every object without network."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from docgen.db.engine import transaction
from docgen.db.objects import list_objects
from docgen.ingest import ingest_source, read_source
from docgen.layers import LAYER_NAMES, LAYERS
from docgen.providers.offline import OFFLINE_MODEL
from tests.conftest import REPO_ROOT, OrgFixture
from tests.netguard import no_network
from tests.test_offline_provider import offline_service

PROJECT = REPO_ROOT / "examples" / "jaffle_shop"
MANIFEST = REPO_ROOT / "tests" / "fixtures" / "jaffle_shop_manifest.json"

# the ref()/source() graph as written in the models (sources as source.<source>.<table>)
LINEAGE = {
    "stg_customers": ["source.shop.customers"],
    "stg_orders": ["source.shop.orders"],
    "stg_order_items": ["source.shop.order_items"],
    "stg_products": ["source.shop.products"],
    "stg_payments": ["source.shop.payments"],
    "int_order_totals": ["stg_order_items", "stg_orders", "stg_payments"],
    "int_customer_orders": ["int_order_totals"],
    "fct_orders": ["int_customer_orders", "int_order_totals"],
    "dim_customers": ["fct_orders", "stg_customers"],
    "customer_lifetime_value": ["dim_customers"],
    "monthly_revenue": ["fct_orders", "stg_order_items", "stg_products"],
    "customer_segments": ["dim_customers"],
    **{
        f"source.shop.{t}": []
        for t in ("customers", "orders", "order_items", "products", "payments")
    },
}


def _short(unique_key: str) -> str:
    kind, _project, rest = unique_key.split(".", 2)
    return f"source.{rest}" if kind == "source" else rest


@pytest.mark.parametrize("source", [PROJECT, MANIFEST], ids=["folder", "manifest"])
def test_full_lineage_from_folder_and_manifest(source: Path) -> None:
    result = read_source("dbt", source)
    assert result.warnings == []
    graph = {
        _short(o.unique_key): sorted(_short(k) for k in o.upstream_keys) for o in result.objects
    }
    assert graph == LINEAGE
    models = {o.name: o for o in result.objects}
    assert models["customer_segments"].language == "python"
    assert models["fct_orders"].materialization == "incremental"
    assert models["stg_customers"].description  # human-written, kept
    assert models["stg_orders"].description is None


def test_manifest_and_folder_are_the_same_objects(engine: Engine, org: OrgFixture) -> None:
    """Switching from the folder to dbt's manifest updates the same objects (same unique keys),
    with dbt's compiled SQL, and removes nothing."""
    first = ingest_source(engine, org.id, "dbt", PROJECT)
    second = ingest_source(engine, org.id, "dbt", MANIFEST)
    assert (first.added, second.added, second.removed) == (17, 0, 0)
    with transaction(engine) as conn:
        objects = {o.name: o for o in list_objects(conn, org.id)}
    assert len(objects) == 17
    assert "round(cast(amount_cents" in (objects["stg_payments"].compiled_code or "")


def test_offline_layers_for_every_object_without_network(engine: Engine, org: OrgFixture) -> None:
    ingest_source(engine, org.id, "dbt", PROJECT)
    with transaction(engine) as conn:
        objects = list_objects(conn, org.id)
    service = offline_service(engine, org)
    with no_network() as connections:
        generated = [service.generate_documentation_for_object(o.id) for o in objects]
    assert connections == []
    assert len(generated) == 17
    for doc in generated:
        assert doc.failed_layers == [] and doc.model == OFFLINE_MODEL
        for layer in LAYER_NAMES:
            LAYERS[layer].validate_stored(doc.layers[layer])
    by_name = {o.id: o.name for o in objects}
    summaries = {by_name[d.object_id]: d.layers["executive_summary"] for d in generated}
    assert "payment_id" in summaries["stg_payments"]
    assert "segment" in summaries["customer_segments"]
    assert "axis" not in summaries["customer_segments"]
