"""Objects for tests that do not need a whole ingested project."""

from __future__ import annotations

import uuid
from uuid import UUID

from sqlalchemy.engine import Engine

from docgen.db import objects
from docgen.db.engine import transaction
from tests.conftest import OrgFixture

ORDERS_SQL = """\
with orders as (
    select * from raw.orders where status = 'completed' and amount > 0
),
payments as (
    select order_id, sum(amount) as amount_paid from raw.payments group by order_id
),
final as (
    select
        o.order_id,
        o.customer_id,
        p.amount_paid,
        case when p.amount_paid >= 100 then 'large' else 'small' end as order_size,
        row_number() over (partition by o.customer_id order by o.ordered_at) as order_number
    from orders o
    left join payments p on o.order_id = p.order_id
)
select * from final
"""


def make_object(
    engine: Engine,
    org: OrgFixture,
    name: str | None = None,
    code: str = ORDERS_SQL,
    *,
    upstream: list[UUID] | None = None,
    object_type: str = "dbt_model",
    language: str = "sql",
    columns: list[dict[str, str]] | None = None,
    description: str | None = None,
) -> objects.DataObject:
    name = name or f"fct_orders_{uuid.uuid4().hex[:6]}"
    with transaction(engine) as conn:
        return objects.insert_object(
            conn,
            org.id,
            name=name,
            unique_key=f"model.test.{name}",
            object_type=object_type,
            code=code,
            language=language,
            dialect="postgres" if language == "sql" else None,
            columns=columns or [],
            upstream_object_ids=upstream or [],
            description=description,
            content_hash=uuid.uuid4().hex,
            materialization="table",
            source_kind="manual",
        )


def make_chain(engine: Engine, org: OrgFixture, count: int) -> list[objects.DataObject]:
    """`count` objects, each reading the previous one (a staging -> mart chain)."""
    made: list[objects.DataObject] = []
    for index in range(count):
        upstream = [made[-1].id] if made else []
        source = made[-1].name if made else "raw.orders"
        code = (
            ORDERS_SQL
            if index % 3 == 0
            else f"select order_id, customer_id, amount from {source} where amount > {index}"
        )
        made.append(
            make_object(
                engine, org, f"model_{index:03d}_{uuid.uuid4().hex[:4]}", code, upstream=upstream
            )
        )
    return made
