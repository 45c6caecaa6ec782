@herd("ecommerce")
Feature: Customer directory

  Scenario: Maintain customers
    @source("jsonl://data/customers.jsonl", contract="customer")
    @step("Normalize", fields=["email"], ops=["email"])
    @step("EnrichRegion")
    @step("ValidateContract", contract="customer")
    @step("MaskPII")
    @sink("duckdb://shop.duckdb#silver.customers", mode="upsert")
    @stream
    @requires(cpu="250m", memory="128Mi")

    Given the contract "customer"
    When a customer signs up or changes their details
    Then each customer appears once, keyed by customer_id
    Do keep silver.customers current
