"""Objects for benchmarks, inserted in bulk (thousands in a second)."""

from __future__ import annotations

import json
import uuid
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from docgen.db.engine import transaction

STAGING = """\
select
    id as {name}_id,
    customer_id,
    cast(amount as numeric(12, 2)) / 100 as amount,
    status,
    created_at
from raw.{source}
where status <> 'deleted'
"""

MART = """\
with base as (
    select * from {upstream}
    where status = 'completed' and amount > 0
),
by_customer as (
    select customer_id, count(*) as orders, sum(amount) as revenue,
        min(created_at) as first_order_at, max(created_at) as last_order_at
    from base
    group by customer_id
),
final as (
    select
        customer_id, orders, revenue, first_order_at, last_order_at,
        case when revenue >= 1000 then 'vip' when revenue >= 100 then 'regular'
             else 'occasional' end as segment,
        rank() over (order by revenue desc) as revenue_rank
    from by_customer
)
select * from final
"""


def seed_objects(
    engine: Engine, organization_id: UUID, count: int, *, staging_share: float = 0.5
) -> list[UUID]:
    """`count` dbt-like models: staging models over raw tables, marts over staging ones."""
    staging_count = max(1, int(count * staging_share))
    rows = []
    ids = [uuid.uuid4() for _ in range(count)]
    for index, object_id in enumerate(ids):
        if index < staging_count:
            name = f"stg_source_{index:05d}"
            code = STAGING.format(name=f"s{index}", source=f"table_{index % 97}")
            upstream: list[UUID] = []
        else:
            parent = ids[index % staging_count]
            name = f"fct_metric_{index:05d}"
            code = MART.format(upstream=f"stg_source_{index % staging_count:05d}")
            upstream = [parent]
        rows.append(
            {
                "id": object_id,
                "org": organization_id,
                "name": name,
                "key": f"model.bench.{name}",
                "code": code,
                "up": upstream,
                "hash": uuid.uuid4().hex,
                "cols": json.dumps([{"name": "customer_id", "data_type": "bigint"}]),
            }
        )
    with transaction(engine) as conn:
        conn.execute(
            sa.text(
                "INSERT INTO metadata.objects (id, organization_id, object_type, name, unique_key,"
                " code, language, dialect, upstream_object_ids, content_hash, columns,"
                " materialization, source_kind) VALUES (:id, :org, 'dbt_model', :name, :key,"
                " :code, 'sql', 'postgres', :up, :hash, CAST(:cols AS jsonb), 'table', 'manual')"
            ),
            rows,
        )
    return ids
