select
    id as order_id,
    user_id as customer_id,
    cast(order_date as date) as order_date,
    lower(status) as status
from {{ source('shop', 'orders') }}
where cast(order_date as date) >= cast('{{ var("reporting_start_date") }}' as date)
