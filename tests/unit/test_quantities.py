"""Kubernetes-style quantities."""

from __future__ import annotations

import pytest

from runink.quantities import QuantityError, parse_cpu, parse_memory


@pytest.mark.parametrize(
    ("text", "millis"), [("2", 2000), ("500m", 500), ("0.25", 250), (1.5, 1500), ("1500m", 1500)]
)
def test_cpu_parses_to_millicores(text: str | float, millis: int) -> None:
    assert parse_cpu(text) == millis


@pytest.mark.parametrize(
    ("text", "size"),
    [("256Mi", 256 * 2**20), ("4Gi", 4 * 2**30), ("1G", 10**9), ("1000", 1000), (2048, 2048)],
)
def test_memory_parses_to_bytes(text: str | int, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["two", "0", "0.0001", "-1", "5 m", True])
def test_bad_cpu_says_what_is_expected(text: str | bool) -> None:
    with pytest.raises(QuantityError, match="cpu"):
        parse_cpu(text)


@pytest.mark.parametrize("text", ["lots", "4GB", "0", "0.5", "1.5Ki3"])
def test_bad_memory_says_what_is_expected(text: str) -> None:
    with pytest.raises(QuantityError, match="memory"):
        parse_memory(text)
