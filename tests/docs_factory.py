"""Documented objects for the export tests: layer values built through docgen.layers' models
(so they are exactly what generation stores), and a small dbt-like project with lineage.

`build_shop_project()` is the inline stand-in for the example dbt project; the export tests
take it through one fixture, so switching them to examples/jaffle_shop is a one-line change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from docgen.db import documentation, objects
from docgen.db.documentation import Documentation
from docgen.db.engine import transaction
from docgen.layers import LAYERS
from tests.conftest import OrgFixture

# What an attacker would plant: each one changes the page if it ever runs.
SCRIPT_PAYLOAD = "<script>document.title='PWNED';window.__pwned=1</script>"
IMG_PAYLOAD = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
CLOSE_SCRIPT_PAYLOAD = "</script><script>window.__pwned=2</script><!--"


def layers(
    topic: str,
    *,
    summary: str | None = None,
    extra: str = "",
    journey_step: str = "Customers' orders arrive from the web shop",
    rule_impact: str = "Revenue figures match what finance books",
) -> dict[str, Any]:
    """Six valid layer values about `topic`; `extra` is appended to every generated text."""
    e = f" {extra}" if extra else ""
    raw: dict[str, Any] = {
        "executive_summary": summary
        or f"{topic} gives finance one trusted row per order.{e} The sales team reads it daily.",
        "business_narrative": {
            "whatItDoes": f"It collects every {topic} and its payments.{e}",
            "dataJourney": [journey_step + e, "Payments are matched to each order", "Totals"],
            "businessImpact": f"Decisions on {topic} rest on it.{e}",
        },
        "transformation_cards": {
            "cards": [
                {
                    "stepNumber": i,
                    "title": f"Step {i} of {topic}{e}",
                    "input": "Raw orders",
                    "logic": f"Keep completed orders{e}",
                    "output": "Clean orders",
                    "whyItMatters": "Only real sales count",
                }
                for i in (1, 2, 3)
            ]
        },
        "code_explanations": {
            "explanations": [
                {
                    "codeBlock": f"where status = 'completed' -- {i}{e}",
                    "plainEnglish": f"Only finished orders are kept.{e}",
                    "businessContext": "Cancelled orders are not revenue",
                }
                for i in (1, 2, 3)
            ]
        },
        "business_rules": {
            "rules": [
                {
                    "rule": f"Only count paid orders{e}",
                    "codeReference": "amount > 0",
                    "impact": rule_impact,
                },
                {
                    "rule": "One row per order",
                    "codeReference": "group by order_id",
                    "impact": "No double counting",
                },
            ]
        },
        "impact_analysis": {
            "usedBy": [{"team": f"Finance{e}", "frequency": "daily", "purpose": "Revenue report"}],
            "questionsAnswered": [f"How much did we sell yesterday?{e}"],
            "downstreamImpact": f"If it breaks, the revenue dashboard is wrong.{e}",
        },
    }
    out: dict[str, Any] = {}
    for name, spec in LAYERS.items():
        value = raw[name]
        if spec.is_json:
            parsed = spec.model.model_validate(value)
        else:
            parsed = spec.model.model_validate({"text": value})
        out[name] = spec.stored_value(parsed)
    return out


def metadata(
    tokens: int = 6500, cost: str = "0.0520", prompt_version: str = "v1-test"
) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "prompt_version": prompt_version,
        "tokens": {"prompt": tokens - 1500, "completion": 1500, "total": tokens},
        "cost_usd": cost,
        "duration_ms": 4321,
        "failed_layers": [],
    }


def document(
    engine: Engine,
    org: OrgFixture,
    object_id: uuid.UUID,
    layer_values: dict[str, Any],
    *,
    complexity: int = 3,
    model: str = "gpt-4o",
    meta: dict[str, Any] | None = None,
) -> Documentation:
    with transaction(engine) as conn:
        return documentation.insert_version(
            conn,
            org.id,
            object_id,
            layers=layer_values,
            complexity_score=complexity,
            generated_by_model=model,
            generation_metadata=meta or metadata(),
        )


def dbt_object(
    engine: Engine,
    org: OrgFixture,
    name: str,
    *,
    project: str = "shop",
    folder: str = "marts",
    code: str | None = None,
    upstream: list[objects.DataObject] | None = None,
    object_type: str = "dbt_model",
    schema_file: str | None = None,
    columns: list[dict[str, str]] | None = None,
) -> objects.DataObject:
    properties: dict[str, Any] = {"dbt_unique_id": f"model.{project}.{name}"}
    if schema_file:
        properties["patch_path"] = f"{project}://{schema_file}"
    with transaction(engine) as conn:
        return objects.insert_object(
            conn,
            org.id,
            name=name,
            unique_key=f"model.{project}.{name}",
            object_type=object_type,
            code=code or f"select * from {{{{ ref('upstream_of_{name}') }}}}\n",
            dialect="postgres",
            source_path=f"models/{folder}/{name}.sql",
            source_kind="dbt",
            upstream_object_ids=[u.id for u in upstream or []],
            properties=properties,
            columns=columns or [],
            content_hash=uuid.uuid4().hex,
        )


@dataclass
class ShopProject:
    """Documented objects to export, by name: the inline project here, or the example dbt
    project once ingested and documented. `xss_name` carries the attack payloads
    (`add_payload_object`); `undocumented_name` has no documentation (None: every object has).
    The export tests derive what they expect (lineage, filters) from these objects."""

    org: OrgFixture
    objects: dict[str, objects.DataObject]
    docs: dict[str, Documentation]
    xss_name: str
    undocumented_name: str | None

    def _name(self, object_id: uuid.UUID) -> str | None:
        return next((n for n, o in self.objects.items() if o.id == object_id), None)

    def upstream(self, name: str) -> set[str]:
        found = (self._name(u) for u in self.objects[name].upstream_object_ids)
        return {n for n in found if n is not None}

    def downstream(self, name: str) -> set[str]:
        return {n for n in self.objects if name in self.upstream(n)}

    def complexity(self, name: str) -> str:
        doc = self.docs.get(name)
        return str(doc.complexity_score) if doc and doc.complexity_score else "none"


XSS_SQL = f"""-- owner note: {SCRIPT_PAYLOAD} {IMG_PAYLOAD}
-- {CLOSE_SCRIPT_PAYLOAD}
select order_id, amount from {{{{ ref('stg_orders') }}}} where status = 'completed'
"""


def build_shop_project(engine: Engine, org: OrgFixture) -> ShopProject:
    """stg_customers, stg_orders, stg_payments -> fct_orders -> dim_customers, plus
    `orders_with_notes` (payloads in its SQL comment and in every generated text) and an
    undocumented view."""
    made: dict[str, objects.DataObject] = {}
    for name in ("stg_customers", "stg_orders", "stg_payments"):
        made[name] = dbt_object(engine, org, name, folder="staging", object_type="view")
    made["fct_orders"] = dbt_object(
        engine,
        org,
        "fct_orders",
        upstream=[made["stg_orders"], made["stg_payments"]],
        columns=[{"name": "order_id", "data_type": "integer", "description": "The order"}],
    )
    made["dim_customers"] = dbt_object(
        engine, org, "dim_customers", upstream=[made["stg_customers"], made["fct_orders"]]
    )
    made["customer_segments"] = dbt_object(
        engine, org, "customer_segments", upstream=[made["dim_customers"]], object_type="view"
    )
    docs: dict[str, Documentation] = {}
    complexity = {"stg_customers": 1, "stg_orders": 1, "stg_payments": 2, "fct_orders": 4}
    for name, obj in made.items():
        if name != "customer_segments":
            values = layers(name)
            docs[name] = document(engine, org, obj.id, values, complexity=complexity.get(name, 3))
    project = ShopProject(org, made, docs, "", "customer_segments")
    add_payload_object(engine, project, upstream=made["stg_orders"])
    return project


def add_payload_object(
    engine: Engine, project: ShopProject, upstream: objects.DataObject | None = None
) -> None:
    """`orders_with_notes`: payloads in its SQL comment, a column description and every
    generated text; it reads `upstream` so the payload page has lineage too."""
    name = "orders_with_notes"
    obj = dbt_object(
        engine,
        project.org,
        name,
        code=XSS_SQL,
        upstream=[upstream] if upstream else [],
        columns=[{"name": "note", "data_type": "text", "description": IMG_PAYLOAD}],
    )
    payload = f"{SCRIPT_PAYLOAD} {IMG_PAYLOAD} {CLOSE_SCRIPT_PAYLOAD}"
    project.objects[name] = obj
    project.docs[name] = document(engine, project.org, obj.id, layers(name, extra=payload))
    project.xss_name = name


def build_example_project(engine: Engine, org: OrgFixture) -> ShopProject:
    """examples/jaffle_shop ingested and documented with the offline provider, except
    `customer_segments` (left undocumented), plus the payload object `orders_with_notes`."""
    from docgen.db import orgs
    from docgen.ingest import ingest_source
    from docgen.resources import examples_dir
    from docgen.service import DocumentationGenerationService

    ingest_source(engine, org.id, "dbt", examples_dir() / "jaffle_shop")
    with transaction(engine) as conn:
        orgs.set_provider(conn, org.id, "offline")
        made = {o.name: o for o in objects.list_objects(conn, org.id)}
    service = DocumentationGenerationService(engine, org.id)
    service.initialize()
    docs: dict[str, Documentation] = {}
    for name, obj in made.items():
        if name != "customer_segments":
            generated = service.generate_documentation_for_object(obj.id)
            docs[name] = service.store_documentation(obj.id, generated)
    project = ShopProject(org, made, docs, "", "customer_segments")
    add_payload_object(engine, project, upstream=made["stg_orders"])
    return project
