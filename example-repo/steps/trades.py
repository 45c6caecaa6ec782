"""User steps of the trading repository.

Imported only inside a slice process, never by the control plane.
"""

from __future__ import annotations

from runink import step

_FIELDS = ("symbol", "side", "quantity", "price", "currency", "trader_email", "traded_at")


@step("DecodeTrade")
def decode_trade(record: dict, params: dict) -> dict:
    """Split the desk feed's pipe-separated payload into typed trade fields."""
    parts = record["payload"].split("|")
    if len(parts) != len(_FIELDS):
        raise ValueError(f"payload has {len(parts)} fields, expected {len(_FIELDS)}")
    trade = dict(zip(_FIELDS, parts, strict=True))
    quantity = int(trade["quantity"])
    price = float(trade["price"])
    return {
        "trade_id": record["trade_id"],
        "symbol": trade["symbol"],
        "side": trade["side"],
        "quantity": quantity,
        "price": price,
        "notional": round(quantity * price, 2),
        "currency": trade["currency"],
        "trader_email": trade["trader_email"],
        "traded_at": trade["traded_at"],
    }


_REGIONS = {"US": "americas", "CA": "americas", "BR": "americas", "DE": "emea", "FR": "emea",
            "GB": "emea", "JP": "apac", "SG": "apac", "AU": "apac"}


@step("EnrichRegion")
def enrich_region(record: dict) -> dict:
    """Add the sales region of the customer's country."""
    return {**record, "region": _REGIONS.get(record.get("country", ""), "other")}
