# Trades: decode the desk feed, enforce the contract, mask PII, land in the warehouse.
@herd("finance")
Feature: Trade lifecycle
  Trades arrive from the desk feed as pipe-separated payloads. Risk needs them
  decoded, validated against the trade contract, and free of trader e-mails.

  Scenario: Validate trades
    @source("jsonl://data/trades.jsonl", contract="trade_raw")
    @step("DecodeTrade")
    @step("ValidateContract", contract="trade")
    @step("MaskPII", fields=["trader_email"], method="redact")
    @sink("duckdb://warehouse.duckdb#silver.trades", mode="upsert")
    @sink("jsonl://out/large_trades.jsonl", when="record.notional > 1000000")
    @dlq("jsonl://dlq/trades.jsonl")
    @schedule(cron="*/5 * * * *")
    @requires(cpu="500m", memory="256Mi")
    @slo(dlq_ratio=0.01, freshness="2h")
    @golden("golden/trades/validate")

    Given the contract "trade"
    When trade events arrive
    Then `record.notional > 0`
    And every trade has a positive notional
    Do store valid trades in silver.trades

  Scenario: Daily exposure
    @source("duckdb://warehouse.duckdb#silver.trades", contract="trade")
    @step("Filter", when="record.currency in ['USD', 'EUR']")
    @step("Aggregate", by=["symbol", "currency"], metrics={trades: "count()", notional: "sum(notional)"})
    @sink("duckdb://warehouse.duckdb#gold.exposure", mode="replace")
    @schedule(cron="0 18 * * 1-5")
    @requires(cpu="250m", memory="128Mi")

    Given the validated trades in silver.trades
    When the trading day closes
    Then exposure is summed per symbol and currency
    Do publish gold.exposure for the risk report
