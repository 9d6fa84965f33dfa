with source as (
    select * from {{ source('shop', 'customers') }}
),

renamed as (
    select
        id as customer_id,
        initcap(trim(first_name)) || ' ' || initcap(trim(last_name)) as full_name,
        lower(trim(email)) as email,
        cast(created_at as date) as signed_up_on
    from source
)

select * from renamed
