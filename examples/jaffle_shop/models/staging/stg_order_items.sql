select
    id as order_item_id,
    order_id,
    product_id,
    quantity,
    {{ cents_to_dollars('unit_price_cents') }} as unit_price,
    quantity * {{ cents_to_dollars('unit_price_cents') }} as line_total
from {{ source("shop", "order_items") }}
where quantity > 0
