-- Each customer's order history in sequence, to tell first orders from returning ones.
select
    order_id,
    customer_id,
    order_date,
    status,
    amount_paid,
    row_number() over (partition by customer_id order by order_date, order_id) as order_sequence,
    lag(order_date) over (partition by customer_id order by order_date, order_id) as previous_order_date
from {{ ref('int_order_totals') }}
where status in (
    {%- for status in completed_statuses() %}'{{ status }}'{% if not loop.last %}, {% endif %}{% endfor -%}
)
