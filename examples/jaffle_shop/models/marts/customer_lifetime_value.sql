-- Lifetime value per signup cohort: how much customers who joined in a month spend over time.
select
    date_trunc('month', signed_up_on) as signup_month,
    count(*) as customers,
    sum(case when number_of_orders > 0 then 1 else 0 end) as customers_who_bought,
    round(avg(lifetime_value), 2) as average_lifetime_value,
    round(sum(lifetime_value), 2) as cohort_revenue
from {{ ref('dim_customers') }}
group by 1
