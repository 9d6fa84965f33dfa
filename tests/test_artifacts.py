"""Prefect artifacts, published from inside real flows and read back through the client:
a Markdown page per documented object, and a job's per-layer token/cost table."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from prefect import flow
from sqlalchemy.engine import Engine

from docgen.db import jobs
from docgen.db.engine import transaction
from docgen.pricing import Usage, load_pricing
from docgen.render.summary import LayerSummaryRow, job_layer_summary, summary_frame
from tasks.artifacts import (
    apublish_job_summary_artifact,
    apublish_object_artifact,
    job_artifact_key,
    object_artifact_key,
    publish_job_summary_artifact,
    publish_object_artifact,
)
from tests.conftest import make_org
from tests.docs_factory import SCRIPT_PAYLOAD, dbt_object, document, layers

pytestmark = pytest.mark.prefect


def read_artifacts(key: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                sort=ArtifactSort.CREATED_DESC,
            )

    return asyncio.run(read())


def test_object_artifact_from_a_flow(prefect_harness: str, engine: Engine) -> None:
    org = make_org(engine, "artifacts")
    obj = dbt_object(engine, org, "Fct Orders (EU)")
    doc = document(engine, org, obj.id, layers("orders", extra=SCRIPT_PAYLOAD), complexity=4)

    @flow
    def publish() -> uuid.UUID:
        return publish_object_artifact(obj, doc)

    artifact_id = publish()
    key = object_artifact_key(obj)
    assert re.fullmatch(r"[a-z0-9-]+", key) and key.startswith("doc-fct-orders-eu-")
    (artifact,) = read_artifacts(key)
    assert artifact.id == artifact_id and artifact.type == "markdown"
    assert artifact.flow_run_id is not None  # attached to the flow run that made it
    text = artifact.data
    assert text.startswith("# Fct Orders (EU)\n")
    assert "## In short" in text and "orders gives finance one trusted row" in text
    assert "complexity 4/5" in text and "Documentation version: 1 (current)" in text
    # escaped for the UI, except inside fenced code blocks, where Markdown shows it literally
    prose = re.sub(r"(`{3,})[^\n]*\n.*?\n\1", "", text, flags=re.S)
    assert "<script>" not in prose and "&lt;script&gt;" in prose
    assert "](" not in text.split("## Lineage")[1]  # no links to files the UI does not have
    assert artifact.description == "Documentation of Fct Orders (EU), version 1"


def test_job_summary_table_from_a_flow(prefect_harness: str, engine: Engine) -> None:
    org = make_org(engine, "jobsummary")
    objs = [dbt_object(engine, org, f"m{i}") for i in range(2)]
    with transaction(engine) as conn:
        job = jobs.insert_job(conn, org.id, [o.id for o in objs], model_name="gpt-4o")
        for obj in objs:
            conn.execute(
                sa.text(
                    "INSERT INTO metadata.documentation_generation_logs (job_id, object_id,"
                    " layer, status, tokens_used, prompt_tokens, completion_tokens, model_used)"
                    " VALUES (:j, :o, :layer, :status, :t, :p, :c, 'gpt-4o')"
                ),
                [
                    {
                        "j": job.id,
                        "o": obj.id,
                        "layer": "executive_summary",
                        "status": "completed",
                        "t": 700,
                        "p": 600,
                        "c": 100,
                    },
                    {
                        "j": job.id,
                        "o": obj.id,
                        "layer": "business_rules",
                        "status": "failed",
                        "t": 50,
                        "p": 50,
                        "c": 0,
                    },
                ],
            )
        rows = job_layer_summary(conn, job.id)

    by_layer = {r.layer: r for r in rows}
    assert [r.layer for r in rows][:2] == ["executive_summary", "business_narrative"]
    assert by_layer["executive_summary"] == LayerSummaryRow(
        "executive_summary", 2, 0, 1200, 200, load_pricing().cost("gpt-4o", Usage(1200, 200))
    )
    assert by_layer["business_rules"].failed == 2 and by_layer["business_rules"].completed == 0
    assert by_layer["impact_analysis"] == LayerSummaryRow("impact_analysis")

    @flow
    def finish() -> uuid.UUID:
        return publish_job_summary_artifact(job.id, rows)

    finish()
    (artifact,) = read_artifacts(job_artifact_key(job.id))
    assert artifact.type == "table"
    table = json.loads(artifact.data)
    assert [r["layer"] for r in table] == [*by_layer, "total"]
    # cost comes before the token split: the UI's table cuts off its last columns
    assert list(table[0])[:5] == ["layer", "completed", "failed", "cost_usd", "total_tokens"]
    summary = {r["layer"]: r for r in table}
    assert summary["executive_summary"]["total_tokens"] == 1400
    assert summary["total"]["completed"] == 2 and summary["total"]["failed"] == 2
    assert summary["total"]["prompt_tokens"] == 1300
    expected_cost = float(
        by_layer["executive_summary"].cost_usd + by_layer["business_rules"].cost_usd
    )
    assert summary["total"]["cost_usd"] == pytest.approx(expected_cost)
    assert expected_cost > 0


def test_async_forms_inside_an_async_flow(prefect_harness: str, engine: Engine) -> None:
    org = make_org(engine, "asyncart")
    obj = dbt_object(engine, org, "async_model")
    doc = document(engine, org, obj.id, layers("async"))
    job_id = uuid.uuid4()

    @flow
    async def publish_both() -> None:
        await apublish_object_artifact(obj, doc)
        await apublish_job_summary_artifact(
            job_id,
            [
                {
                    "layer": "executive_summary",
                    "completed": 1,
                    "failed": 0,
                    "prompt_tokens": 10,
                    "completion_tokens": 5,
                    "cost_usd": Decimal("0.01"),
                }
            ],
        )

    asyncio.run(publish_both())
    assert read_artifacts(object_artifact_key(obj))[0].type == "markdown"
    table = json.loads(read_artifacts(job_artifact_key(job_id))[0].data)
    assert table[-1] == {
        "layer": "total",
        "completed": 1,
        "failed": 0,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cost_usd": 0.01,
    }


def test_summary_frame_has_a_total_row() -> None:
    frame = summary_frame([LayerSummaryRow("executive_summary", 3, 1, 30, 20, Decimal("0.5"))])
    assert list(frame["layer"]) == ["executive_summary", "total"]
    assert frame.iloc[-1]["total_tokens"] == 50 and frame.iloc[-1]["cost_usd"] == 0.5


def test_object_lineage_names_both_directions_within_the_organization(engine: Engine) -> None:
    from docgen.render.data import object_lineage
    from tests.factories import make_object

    org, other = make_org(engine, "lineage"), make_org(engine, "lineage-other")
    source = make_object(engine, org, "stg_orders")
    mart = make_object(engine, org, "fct_orders", upstream=[source.id])
    report = make_object(engine, org, "rpt_orders", upstream=[mart.id])
    make_object(engine, other, "theirs", upstream=[mart.id])  # another tenant's: never shown
    with transaction(engine) as conn:
        ups, downs = object_lineage(conn, mart)
        first = object_lineage(conn, source)
    assert [lk.name for lk in ups] == ["stg_orders"] and [lk.name for lk in downs] == ["rpt_orders"]
    assert first[0] == [] and [lk.name for lk in first[1]] == ["fct_orders"]
    assert all(lk.slug is None for lk in ups + downs)
    assert report.id == downs[0].object_id


def test_object_artifact_shows_its_lineage(prefect_harness: str, engine: Engine) -> None:
    from docgen.render.data import object_lineage
    from tests.factories import make_object

    org = make_org(engine, "lineage-artifact")
    source = make_object(engine, org, "stg_orders")
    mart = make_object(engine, org, "fct_orders", upstream=[source.id])
    make_object(engine, org, "rpt_orders", upstream=[mart.id])
    doc = document(engine, org, mart.id, layers("orders"))
    with transaction(engine) as conn:
        lineage = object_lineage(conn, mart)

    @flow
    def publish() -> uuid.UUID:
        return publish_object_artifact(mart, doc, lineage)

    publish()
    (artifact,) = read_artifacts(object_artifact_key(mart))
    lineage_text = artifact.data.split("## Lineage", 1)[1].split("##", 1)[0]
    assert "**Built from:**\n\n- stg\\_orders (dbt_model)" in lineage_text
    assert "**Feeds into:**\n\n- rpt\\_orders (dbt_model)" in lineage_text
    assert "reads source data directly" not in lineage_text
    assert "nothing in the catalog" not in lineage_text


def test_per_object_summary_of_a_job(prefect_harness: str, engine: Engine) -> None:
    from docgen.render.summary import job_object_summary
    from tasks.artifacts import objects_artifact_key, publish_object_summary_artifact

    org = make_org(engine, "objsummary")
    objs = [dbt_object(engine, org, f"m{i}") for i in range(3)]
    with transaction(engine) as conn:
        job = jobs.insert_job(conn, org.id, [o.id for o in objs], model_name="gpt-4o")
        for obj, status in zip(objs[:2], ("documented", "failed"), strict=True):
            assert jobs.claim_object(conn, job.id, obj.id, "runner-a")
            conn.execute(
                sa.text(
                    "UPDATE metadata.documentation_job_objects"
                    " SET started_at = now() - interval '2.5 seconds' WHERE object_id = :o"
                ),
                {"o": obj.id},
            )
            assert jobs.finish_object(
                conn,
                job.id,
                obj.id,
                "runner-a",
                status=status,  # type: ignore[arg-type]
                prompt_tokens=900,
                completion_tokens=100,
                cost=Decimal("0.0125"),
                error="critical layer executive_summary failed" if status == "failed" else None,
            )
        rows = job_object_summary(conn, job.id)
    assert [(r.object, r.status, r.tokens) for r in rows] == [
        ("m0", "documented", 1000),
        ("m1", "failed", 1000),
        ("m2", "pending", 0),
    ]
    assert rows[0].duration_s is not None and 2.4 <= rows[0].duration_s <= 10
    assert rows[2].duration_s is None and rows[1].error.startswith("critical layer")

    @flow
    def finish() -> uuid.UUID:
        return publish_object_summary_artifact(job.id, rows)

    finish()
    (artifact,) = read_artifacts(objects_artifact_key(job.id))
    table = json.loads(artifact.data)
    assert [r["object"] for r in table] == ["m0", "m1", "m2", "total"]
    assert table[-1]["status"] == "1 documented, 1 failed, 1 pending"
    assert table[-1]["tokens"] == 2000 and table[-1]["cost_usd"] == 0.025
    assert table[2]["duration_s"] is None  # NaN would not survive JSON
