{{ config(tags=['finance']) }}

select
    id as payment_id,
    order_id,
    payment_method,
    {{ cents_to_dollars('amount_cents') }} as amount
from {{ source('shop', 'payments') }}
where status = 'success'
