-- What each order is worth: item totals against what was actually paid.
with items as (
    select
        order_id,
        count(*) as item_count,
        sum(line_total) as items_total
    from {{ ref('stg_order_items') }}
    group by order_id
),

payments as (
    select
        order_id,
        {% for method in ['credit_card', 'bank_transfer', 'gift_card'] -%}
        sum(case when payment_method = '{{ method }}' then amount else 0 end) as {{ method }}_amount,
        {% endfor -%}
        sum(amount) as amount_paid
    from {{ ref('stg_payments') }}
    group by order_id
)

select
    o.order_id,
    o.customer_id,
    o.order_date,
    o.status,
    coalesce(i.item_count, 0) as item_count,
    coalesce(i.items_total, 0) as items_total,
    coalesce(p.credit_card_amount, 0) as credit_card_amount,
    coalesce(p.bank_transfer_amount, 0) as bank_transfer_amount,
    coalesce(p.gift_card_amount, 0) as gift_card_amount,
    coalesce(p.amount_paid, 0) as amount_paid
from {{ ref('stg_orders') }} as o
left join items as i on i.order_id = o.order_id
left join payments as p on p.order_id = o.order_id
