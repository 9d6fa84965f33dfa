select
    id as product_id,
    name as product_name,
    case
        when category in ('jaffle', 'toastie') then 'food'
        when category in ('coffee', 'tea', 'juice') then 'drink'
        else 'other'
    end as product_type,
    {{ cents_to_dollars('price_cents') }} as price
from {{ source('shop', 'products') }}
