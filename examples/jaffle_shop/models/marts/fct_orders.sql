{{ config(materialized='incremental', unique_key='order_id') }}

with orders as (
    select * from {{ ref('int_order_totals') }}
),

sequence as (
    select order_id, order_sequence from {{ ref('int_customer_orders') }}
)

select
    orders.order_id,
    orders.customer_id,
    orders.order_date,
    orders.status,
    orders.item_count,
    orders.items_total,
    orders.amount_paid,
    case when orders.status = 'returned' then 0 else orders.amount_paid end as net_revenue,
    orders.credit_card_amount > 0 as paid_by_card,
    coalesce(sequence.order_sequence > 1, false) as is_returning_customer
from orders
left join sequence on sequence.order_id = orders.order_id
{% if is_incremental() %}
where orders.order_date >= (select max(order_date) - interval '3 days' from {{ this }})
{% endif %}
