"""Marketing segments: customers grouped by how recently and how much they buy."""


def model(dbt, session):
    dbt.config(materialized="table")
    customers = dbt.ref("dim_customers").df()

    def segment(row):
        if row["number_of_orders"] == 0:
            return "prospect"
        if row["lifetime_value"] >= 500:
            return "vip"
        if row["number_of_orders"] >= 3:
            return "loyal"
        return "occasional"

    customers["segment"] = customers.apply(segment, axis=1)
    return customers[["customer_id", "segment", "lifetime_value", "number_of_orders"]]
