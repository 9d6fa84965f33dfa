{#- The order statuses that count as a sale: returned orders are refunded later. -#}
{% macro completed_statuses() -%}
    {{ return(['shipped', 'completed', 'return_pending', 'returned']) }}
{%- endmacro %}
