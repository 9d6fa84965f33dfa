"""Ingestion: dbt folders and manifests, SQL folders, Python dataframe code, storing with
content hashes and removal marks, bad input. Real PostgreSQL; sources written to tmp_path."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen.db.engine import transaction
from docgen.db.objects import list_objects
from docgen.errors import NotFound, SourceError
from docgen.ingest import ingest_source, read_source
from tests.conftest import OrgFixture, make_org


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


DBT_PROJECT = {
    "dbt_project.yml": """
        name: shop
        profile: shop
        model-paths: ["models"]
        vars:
          start_date: '2024-01-01'
        models:
          shop:
            +materialized: view
            marts:
              +materialized: table
              +tags: ["mart"]
    """,
    "macros/cents.sql": """
        {% macro cents_to_dollars(col) %}({{ col }} / 100.0){% endmacro %}
    """,
    "models/staging/_sources.yml": """
        version: 2
        sources:
          - name: shop
            schema: raw
            description: The shop's production database.
            tables:
              - name: orders
                description: One row per order.
                columns:
                  - name: id
                    description: Order id.
              - name: payments
    """,
    "models/staging/_models.yml": """
        version: 2
        models:
          - name: stg_orders
            description: Orders, cleaned.  # a human wrote this
            columns:
              - name: order_id
                description: The order.
              - name: status
          - name: stg_payments
    """,
    "models/staging/stg_orders.sql": """
        {{ config(tags=['daily']) }}
        select id as order_id, status, created_at
        from {{ source('shop', 'orders') }}
        where created_at >= '{{ var("start_date") }}'
    """,
    "models/staging/stg_payments.sql": """
        select order_id, {{ cents_to_dollars('amount') }} as amount
        from {{source("shop","payments")}}
    """,
    "models/marts/fct_orders.sql": """
        {{ config(materialized='incremental', unique_key='order_id') }}
        with payments as (
            select order_id, sum(amount) as amount from {{ ref('stg_payments') }} group by 1
        )
        select o.order_id, o.status, p.amount,
            {{ dbt_utils.generate_surrogate_key(['o.order_id']) }} as sk
        from {{ ref("stg_orders") }} o
        left join payments p using (order_id)
        {% if is_incremental() %}
        where o.created_at > (select max(created_at) from {{ this }})
        {% endif %}
    """,
    "models/marts/order_report.sql": """
        {# a report over orders #}
        select * from {{ ref('fct_orders') }}
        {% if is_incremental() %} join {{ ref('stg_payments') }} using (order_id) {% endif %}
    """,
    "models/marts/broken.sql": """
        select * from {{ ref('stg_orders') }}
        {% if true %}
        where 1 = 1
    """,
    "models/marts/segments.py": """
        def model(dbt, session):
            dbt.config(materialized="table")
            orders = dbt.ref("fct_orders").df()
            return orders.groupby("status").size().reset_index()
    """,
}

EXPECTED_LINEAGE = {
    "source.shop.shop.orders": [],
    "source.shop.shop.payments": [],
    "model.shop.stg_orders": ["source.shop.shop.orders"],
    "model.shop.stg_payments": ["source.shop.shop.payments"],
    "model.shop.fct_orders": ["model.shop.stg_orders", "model.shop.stg_payments"],
    "model.shop.order_report": ["model.shop.fct_orders", "model.shop.stg_payments"],
    "model.shop.broken": ["model.shop.stg_orders"],
    "model.shop.segments": ["model.shop.fct_orders"],
}


@pytest.fixture
def dbt_project(tmp_path: Path) -> Path:
    return write(tmp_path / "shop", DBT_PROJECT)


def lineage(engine: Engine, org: OrgFixture) -> dict[str, list[str]]:
    with transaction(engine) as conn:
        objects = list_objects(conn, org.id)
    keys = {o.id: o.unique_key for o in objects}
    return {o.unique_key: sorted(keys[u] for u in o.upstream_object_ids) for o in objects}


def stored(engine: Engine, org: OrgFixture, include_removed: bool = True) -> dict[str, object]:
    with transaction(engine) as conn:
        return {
            o.unique_key: o for o in list_objects(conn, org.id, include_removed=include_removed)
        }


def test_dbt_folder_is_read_like_dbt_parse(dbt_project: Path) -> None:
    result = read_source("dbt", dbt_project, dialect="duckdb")
    objects = {o.unique_key: o for o in result.objects}
    assert {k: sorted(o.upstream_keys) for k, o in objects.items()} == EXPECTED_LINEAGE

    stg = objects["model.shop.stg_orders"]
    assert stg.description == "Orders, cleaned."
    assert [(c.name, c.description) for c in stg.columns] == [
        ("order_id", "The order."),
        ("status", None),
    ]
    assert stg.tags == ["daily"] and stg.materialization == "view"
    # rendered: source() resolved, var() from dbt_project.yml
    assert stg.compiled_code is not None
    assert "from shop.orders" in stg.compiled_code and "2024-01-01" in stg.compiled_code
    # the project's own macro renders
    payments = objects["model.shop.stg_payments"].compiled_code
    assert payments is not None and "(amount / 100.0)" in payments
    # a package macro that is not installed: raw code only, lineage still complete
    fct = objects["model.shop.fct_orders"]
    assert fct.compiled_code is None
    assert fct.properties["unknown_macros"] == ["dbt_utils"]
    assert fct.materialization == "incremental" and fct.tags == ["mart"]
    assert objects["model.shop.segments"].language == "python"
    assert objects["model.shop.segments"].materialization == "table"
    source = objects["source.shop.shop.orders"]
    assert source.object_type == "table" and source.description == "One row per order."
    assert source.properties["relation"] == "raw.orders"
    # the source's own description is not copied onto its tables
    assert objects["source.shop.shop.payments"].description is None
    # the broken file is kept, with a warning naming the file and line
    assert objects["model.shop.broken"].compiled_code is None
    broken = [w for w in result.warnings if w.path == "models/marts/broken.sql"]
    assert len(broken) == 1 and broken[0].line is not None
    assert "Jinja syntax error" in broken[0].message
    assert result.scope == "dbt:shop"


def test_dbt_manifest_is_read_with_dbt_s_own_lineage(tmp_path: Path) -> None:
    manifest = {
        "metadata": {"project_name": "shop", "adapter_type": "snowflake"},
        "nodes": {
            "model.shop.stg_orders": {
                "resource_type": "model",
                "name": "stg_orders",
                "package_name": "shop",
                "raw_code": "select * from {{ source('shop', 'orders') }}",
                "compiled_code": "select * from raw.orders",
                "language": "sql",
                "original_file_path": "models/stg_orders.sql",
                "config": {"materialized": "view"},
                "columns": {"id": {"name": "id", "description": "Order id", "data_type": None}},
                "depends_on": {"nodes": ["source.shop.shop.orders", "macro.shop.x"]},
                "description": "",
                "tags": [],
            },
            "test.shop.not_null": {"resource_type": "test", "name": "not_null"},
        },
        "sources": {
            "source.shop.shop.orders": {
                "source_name": "shop",
                "name": "orders",
                "schema": "raw",
                "identifier": "orders",
                "description": "Orders.",
                "columns": {},
            }
        },
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    result = read_source("dbt", path)
    objects = {o.unique_key: o for o in result.objects}
    assert set(objects) == {"model.shop.stg_orders", "source.shop.shop.orders"}
    stg = objects["model.shop.stg_orders"]
    assert stg.upstream_keys == ["source.shop.shop.orders"]
    assert stg.compiled_code == "select * from raw.orders" and stg.dialect == "snowflake"
    assert stg.description is None and stg.columns[0].description == "Order id"


def test_ingest_is_idempotent_and_hashes_follow_lineage(
    engine: Engine, org: OrgFixture, dbt_project: Path
) -> None:
    first = ingest_source(engine, org.id, "dbt", dbt_project)
    assert (first.added, first.changed, first.unchanged, first.removed) == (8, 0, 0, 0)
    assert lineage(engine, org) == EXPECTED_LINEAGE
    before = stored(engine, org)

    again = ingest_source(engine, org.id, "dbt", dbt_project)
    assert (again.added, again.changed, again.unchanged, again.removed) == (0, 0, 8, 0)
    after = stored(engine, org)
    assert {k: (o.content_hash, o.updated_at) for k, o in after.items()} == {  # type: ignore[attr-defined]
        k: (o.content_hash, o.updated_at)  # type: ignore[attr-defined]
        for k, o in before.items()
    }

    # editing stg_payments changes it and exactly its downstream
    model = dbt_project / "models/staging/stg_payments.sql"
    model.write_text(model.read_text() + "where amount > 0\n")
    edited = ingest_source(engine, org.id, "dbt", dbt_project)
    assert (edited.changed, edited.unchanged) == (4, 4)
    after = stored(engine, org)
    changed = {k for k in after if after[k].content_hash != before[k].content_hash}  # type: ignore[attr-defined]
    assert changed == {
        "model.shop.stg_payments",
        "model.shop.fct_orders",
        "model.shop.order_report",
        "model.shop.segments",
    }


def test_removed_models_are_marked_not_deleted_and_come_back(
    engine: Engine, org: OrgFixture, dbt_project: Path
) -> None:
    ingest_source(engine, org.id, "dbt", dbt_project)
    report_id = stored(engine, org)["model.shop.order_report"].id  # type: ignore[attr-defined]
    with transaction(engine) as conn:
        conn.execute(
            sa.text(
                "INSERT INTO metadata.object_documentation (object_id, organization_id,"
                " executive_summary, version, is_current) VALUES (:o, :g, 'kept', 1, true)"
            ),
            {"o": report_id, "g": org.id},
        )
    text = (dbt_project / "models/marts/order_report.sql").read_text()
    (dbt_project / "models/marts/order_report.sql").unlink()
    report = ingest_source(engine, org.id, "dbt", dbt_project)
    assert report.removed == 1 and report.unchanged == 7
    objects = stored(engine, org)
    assert objects["model.shop.order_report"].removed_at is not None  # type: ignore[attr-defined]
    assert "model.shop.order_report" not in stored(engine, org, include_removed=False)
    with transaction(engine) as conn:
        kept = conn.execute(
            sa.text(
                "SELECT executive_summary FROM metadata.object_documentation WHERE object_id = :o"
            ),
            {"o": report_id},
        ).scalar_one()
    assert kept == "kept"

    (dbt_project / "models/marts/order_report.sql").write_text(text)
    back = ingest_source(engine, org.id, "dbt", dbt_project)
    assert (back.added, back.changed, back.removed) == (0, 1, 0)
    restored = stored(engine, org)["model.shop.order_report"]
    assert restored.id == report_id and restored.removed_at is None  # type: ignore[attr-defined]


def test_a_non_utf8_file_is_a_warning_and_its_object_is_kept(
    engine: Engine, org: OrgFixture, dbt_project: Path
) -> None:
    ingest_source(engine, org.id, "dbt", dbt_project)
    before = stored(engine, org)["model.shop.stg_orders"]
    (dbt_project / "models/staging/stg_orders.sql").write_bytes(b"select '\xe9t\xe9' as summer\n")
    report = ingest_source(engine, org.id, "dbt", dbt_project)
    assert report.removed == 0
    [warning] = [w for w in report.warnings if w.path == "models/staging/stg_orders.sql"]
    assert warning.line == 1 and "not UTF-8" in warning.message and "0xe9" in warning.message
    after = stored(engine, org)["model.shop.stg_orders"]
    assert after.removed_at is None and after.content_hash == before.content_hash  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kind", "make_source", "message"),
    [
        ("dbt", lambda p: p / "missing", "does not exist"),
        (
            "dbt",
            lambda p: write(p / "empty", {"dbt_project.yml": "name: x\n", "models/.keep": ""}),
            "no dbt models",
        ),
        (
            "dbt",
            lambda p: write(p, {"m.json": '{"nodes": {"a": 1},'}) / "m.json",
            "not valid JSON: Expecting",
        ),
        (
            "dbt",
            lambda p: write(p, {"m.json": '{"metadata": {}}'}) / "m.json",
            "not a dbt manifest",
        ),
        (
            "dbt",
            lambda p: write(p / "noproject", {"models/a.sql": "select 1"}),
            "no dbt_project.yml",
        ),
        ("sql", lambda p: write(p / "nosql", {"readme.md": "x"}), "no .sql files"),
        ("python", lambda p: write(p / "nopy", {"a.py": "print(1)\n"}), "no pandas or PySpark"),
        (
            "postgres",
            lambda p: "postgresql://docgen:s3cret-pw@127.0.0.1:1/x",
            "cannot read PostgreSQL at",
        ),
    ],
)
def test_bad_input_is_one_clear_error_and_nothing_is_written(
    engine: Engine,
    tmp_path: Path,
    kind: str,
    make_source,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    org = make_org(engine)
    ingest_source(engine, org.id, "dbt", write(tmp_path / "shop", DBT_PROJECT))
    before = stored(engine, org)
    with pytest.raises(SourceError) as caught:
        ingest_source(engine, org.id, kind, make_source(tmp_path))
    text = str(caught.value)
    assert message in text and "\n" not in text and "s3cret-pw" not in text
    assert stored(engine, org) == before


def test_an_unknown_organization_is_not_found(engine: Engine, dbt_project: Path) -> None:
    import uuid

    with pytest.raises(NotFound):
        ingest_source(engine, uuid.uuid4(), "dbt", dbt_project)


SQL_FOLDER = {
    "customers.sql": """
        -- one row per customer with their order count
        create or replace view analytics.customers as
        with base as (select * from raw.customers),
             counts as (select customer_id, count(*) as orders from raw.orders group by 1)
        select b.*, c.orders
        from base b left join counts c on c.customer_id = b.id
        qualify row_number() over (partition by b.id order by b.updated_at desc) = 1;

        create table analytics.big_customers as
        select * from analytics.customers where orders > 10;
    """,
    "reports/vip.sql": "select id, iff(orders > 100, 'vip', 'big') as tier from big_customers\n",
    "broken.sql": "selec * frm where\n",
}


def test_sql_folder_objects_ctes_and_lineage(
    engine: Engine, org: OrgFixture, tmp_path: Path
) -> None:
    folder = write(tmp_path / "sql", SQL_FOLDER)
    result = read_source("sql", folder, dialect="snowflake", ctes=True)
    objects = {o.unique_key: o for o in result.objects}
    customers = objects["sql:analytics.customers"]
    assert customers.object_type == "view"
    assert customers.code.startswith("-- one row per customer")
    assert customers.external_upstreams == ["raw.customers", "raw.orders"]
    assert customers.upstream_keys == [
        "sql:analytics.customers::cte::base",
        "sql:analytics.customers::cte::counts",
    ]
    assert objects["sql:analytics.customers::cte::counts"].object_type == "cte"
    assert objects["sql:analytics.big_customers"].upstream_keys == ["sql:analytics.customers"]
    assert objects["sql:reports/vip.sql"].upstream_keys == ["sql:analytics.big_customers"]
    [warning] = result.warnings
    assert warning.path == "broken.sql" and warning.line == 1 and "\x1b" not in warning.message

    # relations the folder reads but does not define link to the org's other objects by name
    ingest_source(engine, org.id, "dbt", write(tmp_path / "shop", DBT_PROJECT))
    (tmp_path / "sql/raw_orders_only.sql").write_text("select * from raw.orders\n")
    report = ingest_source(engine, org.id, "sql", folder, dialect="snowflake")
    assert report.added == 5
    objects = stored(engine, org)
    only = objects["sql:raw_orders_only.sql"]
    assert only.upstream_object_ids == [objects["source.shop.shop.orders"].id]  # type: ignore[attr-defined]
    customers = objects["sql:analytics.customers"]
    assert customers.properties["external_upstreams"] == ["raw.customers"]  # type: ignore[attr-defined]


def test_sql_dialect_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unknown SQL dialect 'snowflak'"):
        read_source("sql", write(tmp_path / "s", SQL_FOLDER), dialect="snowflak")


PYTHON_FILES = {
    "etl/revenue.py": '''
        """Daily revenue from orders and refunds."""
        import pandas as pd


        def load_orders(conn):
            """Orders of the last 90 days."""
            sql = "select * from sales.orders where created_at > current_date - 90"
            return pd.read_sql(sql, conn)


        def load_refunds(spark):
            return spark.table("finance.refunds")


        def daily_revenue(conn, spark):
            orders = load_orders(conn)
            refunds = load_refunds(spark).toPandas()
            df = orders.merge(refunds, on="order_id", how="left")
            return df.groupby("day").agg(revenue=("amount", "sum"))


        def not_a_frame(x):
            return x + 1
    ''',
    "etl/spark_job.py": """
        from pyspark.sql import SparkSession, functions as F

        spark = SparkSession.builder.getOrCreate()
        events = spark.read.parquet("s3://lake/events/")
        daily = events.groupBy("day").agg(F.count("*").alias("events"))
    """,
    "etl/broken.py": "def oops(:\n",
    "utils/strings.py": "def upper(s):\n    return s.upper()\n",
}


def test_python_dataframe_code(tmp_path: Path) -> None:
    result = read_source("python", write(tmp_path / "py", PYTHON_FILES))
    objects = {o.unique_key: o for o in result.objects}
    assert set(objects) == {
        "python:etl/revenue.py:load_orders",
        "python:etl/revenue.py:load_refunds",
        "python:etl/revenue.py:daily_revenue",
        "python:etl/spark_job.py",
    }
    daily = objects["python:etl/revenue.py:daily_revenue"]
    assert daily.object_type == "dataframe" and daily.language == "python"
    assert daily.upstream_keys == [
        "python:etl/revenue.py:load_orders",
        "python:etl/revenue.py:load_refunds",
    ]
    assert daily.code.startswith("def daily_revenue(conn, spark):")
    assert objects["python:etl/revenue.py:load_orders"].external_upstreams == ["sales.orders"]
    assert objects["python:etl/revenue.py:load_orders"].description == "Orders of the last 90 days."
    assert objects["python:etl/revenue.py:load_refunds"].external_upstreams == ["finance.refunds"]
    spark_job = objects["python:etl/spark_job.py"]
    assert spark_job.external_upstreams == ["file:s3://lake/events/"]
    assert spark_job.dialect == "pyspark"
    [warning] = result.warnings
    assert warning.path == "etl/broken.py" and warning.line == 1
    assert result.kept_paths == ["etl/broken.py"]


def test_cli_ingest_and_objects_list(cli, dbt_project: Path, org: OrgFixture) -> None:  # type: ignore[no-untyped-def]
    done = cli("ingest", "dbt", str(dbt_project), "--org", org.name)
    assert done.returncode == 0, done.stderr
    assert "8 added, 0 changed, 0 unchanged, 0 removed" in done.stdout
    assert "models/marts/broken.sql:" in done.stderr

    listed = cli("objects", "list", "--org", org.name, "--json")
    rows = json.loads(listed.stdout)
    names = {r["name"]: r for r in rows}
    assert set(names) >= {"stg_orders", "fct_orders", "shop.orders"}
    assert names["fct_orders"]["materialization"] == "incremental"

    missing = cli("ingest", "dbt", str(dbt_project / "nope"), "--org", org.name)
    assert missing.returncode != 0
    assert missing.stderr.strip().count("\n") == 0 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_live_postgres_schema_with_view_chains_and_a_materialized_view(
    engine: Engine, org: OrgFixture, database_url: str
) -> None:
    import uuid

    schema = f"shop_{uuid.uuid4().hex[:8]}"
    other = f"{schema}_raw"
    with transaction(engine) as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}; CREATE SCHEMA {other}"))
        conn.execute(
            sa.text(
                f"""
                CREATE TABLE {other}.events (id int, at timestamptz);
                CREATE TABLE {schema}.customers (id int PRIMARY KEY, name text NOT NULL);
                COMMENT ON TABLE {schema}.customers IS 'People who bought at least once';
                COMMENT ON COLUMN {schema}.customers.name IS 'Full name';
                CREATE TABLE {schema}.orders (id int, customer_id int, amount numeric(12, 2));
                CREATE VIEW {schema}.customer_orders AS
                    SELECT c.id, c.name, o.amount FROM {schema}.customers c
                    JOIN {schema}.orders o ON o.customer_id = c.id;
                CREATE VIEW {schema}.big_spenders AS
                    SELECT id, name, sum(amount) AS total FROM {schema}.customer_orders
                    GROUP BY id, name HAVING sum(amount) > 1000;
                CREATE MATERIALIZED VIEW {schema}.spend_by_day AS
                    SELECT date_trunc('day', e.at) AS day, count(*) AS n
                    FROM {other}.events e JOIN {schema}.big_spenders b ON b.id = e.id GROUP BY 1;
                """
            )
        )
    try:
        report = ingest_source(engine, org.id, "postgres", database_url, schemas=[schema])
        assert (report.added, report.removed) == (5, 0)
        objects = {o.name: o for o in stored(engine, org).values()}  # type: ignore[attr-defined]
        ids = {o.id: name for name, o in objects.items()}

        def upstream(name: str) -> list[str]:
            return sorted(ids[u] for u in objects[f"{schema}.{name}"].upstream_object_ids)

        assert upstream("customer_orders") == [f"{schema}.customers", f"{schema}.orders"]
        assert upstream("big_spenders") == [f"{schema}.customer_orders"]
        assert upstream("spend_by_day") == [f"{schema}.big_spenders"]
        spend = objects[f"{schema}.spend_by_day"]
        assert spend.materialization == "materialized_view" and spend.object_type == "view"
        assert spend.properties["external_upstreams"] == [f"{other}.events"]
        assert spend.code.startswith(f"CREATE MATERIALIZED VIEW {schema}.spend_by_day AS")
        customers = objects[f"{schema}.customers"]
        assert customers.description == "People who bought at least once"
        assert [(c.name, c.data_type, c.description) for c in customers.columns] == [
            ("id", "integer", None),
            ("name", "text", "Full name"),
        ]
        assert "numeric(12,2)" in objects[f"{schema}.orders"].code

        again = ingest_source(engine, org.id, "postgres", database_url, schemas=[schema])
        assert (again.added, again.changed, again.unchanged) == (0, 0, 5)
        with transaction(engine) as conn:
            conn.execute(sa.text(f"DROP MATERIALIZED VIEW {schema}.spend_by_day"))
        gone = ingest_source(engine, org.id, "postgres", database_url, schemas=[schema])
        assert (gone.removed, gone.unchanged) == (1, 4)
        with pytest.raises(SourceError, match="has no schema nope_"):
            ingest_source(engine, org.id, "postgres", database_url, schemas=["nope_x"])
    finally:
        with transaction(engine) as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE; DROP SCHEMA {other} CASCADE"))


def test_a_synthetic_project_of_realistic_shape(
    engine: Engine, org: OrgFixture, tmp_path: Path
) -> None:
    """Jinja, package macros, incremental blocks, fan-in/fan-out and a few broken models
    (benchmarks/synthetic_dbt.py, shared with the ingestion benchmark): every model
    registered, lineage equal to the ref()/source() graph, broken ones kept with a warning."""
    from benchmarks.synthetic_dbt import generate_project

    project = generate_project(tmp_path / "big", 400, seed=7, broken_share=0.03)
    assert project.broken and project.python_models
    report = ingest_source(engine, org.id, "dbt", tmp_path / "big", dialect="snowflake")
    assert report.added >= len(project.models) + len(project.sources)
    with transaction(engine) as conn:
        objects = {o.unique_key: o for o in list_objects(conn, org.id)}
    names = {
        o.id: (f"source.{k.split('.', 2)[2]}" if k.startswith("source.") else o.name)
        for k, o in objects.items()
    }
    models = {o.name: o for o in objects.values() if o.object_type == "dbt_model"}
    assert set(models) == set(project.models)
    for name, upstream in project.models.items():
        assert sorted(names[u] for u in models[name].upstream_object_ids) == upstream, name
    # broken Jinja: a warning with the file; garbage SQL in valid Jinja is kept as written
    # (dbt itself would only fail when the warehouse runs it)
    warned = {w.path for w in report.warnings}
    assert any(models[n].source_path in warned for n in project.broken)
    for name in project.broken:
        obj = models[name]
        assert obj.source_path in warned or obj.compiled_code or obj.properties["unknown_macros"]
