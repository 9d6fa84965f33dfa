select
    date_trunc('month', o.order_date) as revenue_month,
    p.product_type,
    count(distinct o.order_id) as orders,
    sum(i.line_total) as gross_item_revenue,
    sum(case when o.status = 'returned' then i.line_total else 0 end) as refunded_revenue,
    sum(i.line_total) - sum(case when o.status = 'returned' then i.line_total else 0 end) as net_revenue
from {{ ref('fct_orders') }} as o
join {{ ref('stg_order_items') }} as i on i.order_id = o.order_id
join {{ ref('stg_products') }} as p on p.product_id = i.product_id
group by 1, 2
