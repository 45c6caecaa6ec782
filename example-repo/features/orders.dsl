@herd("ecommerce")
Feature: Order intake
  Orders from the web shop, cleaned and deduplicated before fulfilment sees them.

  Scenario: Clean orders
    @source("jsonl://data/orders.jsonl")
    @step("Normalize", fields=["status", "currency"], ops=["trim", "lower"])
    @step("Rename", mapping={"total": "amount"})
    @step("Normalize", fields=["currency"], ops=["upper"])
    @step("Dedupe", keys=["order_id"])
    @step("ValidateContract", contract="order")
    @step("MaskPII", fields=["shipping_email"], method="redact")
    @assert("record.amount >= 0")
    @sink("duckdb://shop.duckdb#silver.orders", mode="upsert")
    @dlq("jsonl://dlq/orders.jsonl")
    @requires(cpu="250m", memory="128Mi")
    @slo(dlq_ratio=0.05, freshness="30m")
    @golden("golden/orders/clean")

    Given the contract "order"
    When orders are placed in the shop
    Then `record.status in ['placed', 'paid', 'shipped', 'cancelled']`
    But duplicates of an order are dropped
    Do store orders in silver.orders
