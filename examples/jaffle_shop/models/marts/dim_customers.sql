with orders as (
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as most_recent_order_date,
        count(*) as number_of_orders,
        sum(net_revenue) as lifetime_value
    from {{ ref('fct_orders') }}
    group by customer_id
)

select
    customers.customer_id,
    customers.full_name,
    customers.email,
    customers.signed_up_on,
    orders.first_order_date,
    orders.most_recent_order_date,
    coalesce(orders.number_of_orders, 0) as number_of_orders,
    coalesce(orders.lifetime_value, 0) as lifetime_value,
    case
        when orders.number_of_orders is null then 'prospect'
        when orders.number_of_orders = 1 then 'new'
        else 'returning'
    end as customer_type
from {{ ref('stg_customers') }} as customers
left join orders on orders.customer_id = customers.customer_id
