"""Observability: Prometheus metrics (``runink_*``) and structured logs."""
