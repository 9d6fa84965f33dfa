"""Column descriptions: written in the impact-analysis call (or by the offline analyser),
stored with the version, shown in the HTML viewer and written back into dbt `columns:`
entries without ever replacing a person's description."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ruamel.yaml import YAML
from sqlalchemy.engine import Engine

from docgen.columns import column_rows, generated_notes
from docgen.db import orgs
from docgen.db.engine import transaction
from docgen.layers import LAYERS, envelope_schema
from docgen.render.dbt_yaml import COLUMNS_MARKER
from docgen.service import DocumentationGenerationService
from tests.conftest import OrgFixture, use_openai
from tests.docs_factory import dbt_object, document, layers
from tests.factories import make_object
from tests.fake_openai import FakeOpenAI

FIXTURE = Path(__file__).parent / "fixtures" / "dbt_writeback"
MARTS = "models/marts/schema.yml"
SQL = """select
    order_id,
    customer_id,
    sum(amount) as total_amount,
    case when sum(amount) > 100 then 'large' else 'small' end as order_size
from orders
group by order_id, customer_id
"""
COLUMNS = [
    {
        "name": "order_id",
        "data_type": "integer",
        "description": "The order, as the shop numbers it.",
    },
    {"name": "customer_id", "data_type": "integer"},
    {"name": "total_amount", "data_type": "numeric"},
    {"name": "order_size", "data_type": "text"},
]


def with_columns(name: str, notes: dict[str, str]) -> dict[str, object]:
    values = layers(name)
    impact = dict(values["impact_analysis"])  # type: ignore[arg-type]
    impact["columns"] = [{"name": k, "description": v} for k, v in notes.items()]
    values["impact_analysis"] = LAYERS["impact_analysis"].stored_value(
        LAYERS["impact_analysis"].model.model_validate(impact)
    )
    return values


def test_schema_asks_for_columns_and_old_versions_stay_valid() -> None:
    impact = envelope_schema()["$defs"]["ImpactAnalysis"]
    assert "columns" in impact["required"]  # strict: present, but may be null
    assert {"type": "null"} in impact["properties"]["columns"]["anyOf"]
    old = {k: v for k, v in layers("x")["impact_analysis"].items() if k != "columns"}
    assert LAYERS["impact_analysis"].validate_stored(old).columns is None  # type: ignore[attr-defined]


def test_offline_analyser_writes_true_notes(engine: Engine, org: OrgFixture) -> None:
    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "offline")
    obj = make_object(engine, org, "fct_order_sizes", code=SQL, columns=COLUMNS)
    service = DocumentationGenerationService(engine, org.id)
    stored = service.store_documentation(obj.id, service.generate_documentation_for_object(obj.id))
    notes = generated_notes(stored)
    assert list(notes) == [c["name"] for c in COLUMNS]
    assert notes["order_id"] == "The order, as the shop numbers it."  # the human's words
    assert notes["total_amount"] == "Aggregated: total_amount is the total of amount."
    assert notes["order_size"] == (
        "Set by conditions: order_size is 'large' when the total of amount is greater than 100; "
        "otherwise 'small'."
    )
    assert notes["customer_id"] == "customer_id of orders, unchanged."
    rows = {r.name: r for r in column_rows(obj, stored)}
    assert rows["order_id"].human and rows["order_id"].description == rows["order_id"].human
    assert rows["customer_id"].human is None and rows["customer_id"].generated


def test_llm_fills_columns_in_the_impact_call(
    engine: Engine, org: OrgFixture, fake_openai: FakeOpenAI
) -> None:
    use_openai(engine, org, fake_openai)
    obj = make_object(engine, org, "fct_order_sizes", code=SQL, columns=COLUMNS)
    service = DocumentationGenerationService(engine, org.id)
    stored = service.store_documentation(obj.id, service.generate_documentation_for_object(obj.id))
    service.close()
    assert len(fake_openai.completions) == 6  # no extra call for the columns
    impact = [r for r in fake_openai.completions if r.requested_key == "impactAnalysis"]
    assert "columns: one entry {name, description}" in json.dumps(impact[0].body)
    assert isinstance(stored.impact_analysis, dict) and stored.impact_analysis.get("columns")


def test_viewer_shows_column_descriptions(
    engine: Engine, org: OrgFixture, cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    obj = dbt_object(engine, org, "fct_orders", code=SQL, columns=COLUMNS)
    notes = {"order_id": "Generated text that must not hide the human one.",
             "total_amount": "Money the customer paid for the order."}  # fmt: skip
    document(engine, org, obj.id, with_columns("fct_orders", notes))
    out = tmp_path / "site"
    assert cli("export", "--org", org.name, "--format", "html", "--out", str(out)).returncode == 0
    page = (out / "fct_orders.html").read_text()
    assert "The order, as the shop numbers it." in page
    assert "Generated text that must not hide" not in page
    assert "Money the customer paid for the order." in page
    assert page.count('class="generated"') == 1
    markdown = tmp_path / "md"
    made = cli("export", "--org", org.name, "--format", "markdown", "--out", str(markdown))
    assert made.returncode == 0, made.stderr
    assert (
        "Money the customer paid for the order. *(docgen)*"
        in (markdown / "fct_orders.md").read_text()
    )


def test_dbt_yaml_writes_columns_and_keeps_human_ones(
    engine: Engine, org: OrgFixture, cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path / "shop"
    shutil.copytree(FIXTURE, project)
    columns = [{"name": "customer_id"}, {"name": "lifetime_value"}]
    obj = dbt_object(engine, org, "dim_customers", schema_file=MARTS, columns=columns)
    notes = {"customer_id": "The client.", "lifetime_value": "All money the client ever paid."}
    document(engine, org, obj.id, with_columns("dim_customers", notes))
    fct = dbt_object(engine, org, "fct_orders", schema_file=MARTS, columns=[{"name": "order_id"}])
    document(engine, org, fct.id, with_columns("fct_orders", {"order_id": "Not a human text."}))

    def export() -> str:
        result = cli("export", "--org", org.name, "--format", "dbt-yaml", "--project", str(project))
        assert result.returncode == 0, result.stderr
        return str(result.stderr)

    assert "2 column descriptions written" in export()
    marts = {m["name"]: m for m in YAML().load((project / MARTS).read_text())["models"]}
    dim = {c["name"]: c for c in marts["dim_customers"]["columns"]}
    assert dim["customer_id"]["description"] == "The client."
    assert dim["customer_id"]["tests"] == ["unique", "not_null"]  # kept
    assert dim["lifetime_value"]["description"] == "All money the client ever paid."  # added
    assert set(marts["dim_customers"]["config"]["meta"][COLUMNS_MARKER]) == set(notes)
    fct_columns = marts["fct_orders"]["columns"]
    assert fct_columns[0]["description"].startswith("Primary key of an order")  # human, kept
    assert COLUMNS_MARKER not in marts["fct_orders"]["config"].get("meta", {})

    text = (project / MARTS).read_text()
    assert "0 column descriptions written" in export()  # a second run changes nothing
    assert (project / MARTS).read_text() == text

    # a person edits docgen's text: a newer version no longer touches it
    (project / MARTS).write_text(text.replace("The client.", "A client, as sales counts them."))
    newer = {"customer_id": "Updated text.", "lifetime_value": "Updated value text."}
    document(engine, org, obj.id, with_columns("dim_customers", newer))
    assert "1 column descriptions written" in export()
    marts = {m["name"]: m for m in YAML().load((project / MARTS).read_text())["models"]}
    dim = {c["name"]: c for c in marts["dim_customers"]["columns"]}
    assert dim["customer_id"]["description"] == "A client, as sales counts them."
    assert dim["lifetime_value"]["description"] == "Updated value text."
