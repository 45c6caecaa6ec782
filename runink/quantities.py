"""Resource quantities in Kubernetes notation: ``cpu: "500m"``, ``memory: 256Mi``."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m)?$")


class QuantityError(ValueError):
    """A quantity that does not parse; the message says what was expected."""


def parse_cpu(value: str | int | float) -> int:
    """CPU quantity -> millicores: ``"2"`` -> 2000, ``"500m"`` -> 500, ``0.25`` -> 250."""
    text = str(value).strip()
    match = _CPU.match(text)
    if not match or isinstance(value, bool):
        raise QuantityError(
            f'invalid cpu quantity {value!r}: expected cores ("2", "0.5") or millicores ("500m")'
        )
    number = Decimal(match.group(1))
    millis = number if match.group(2) else number * 1000
    if millis != millis.to_integral_value():
        raise QuantityError(f"invalid cpu quantity {value!r}: finer than one millicore")
    if millis <= 0:
        raise QuantityError(f"invalid cpu quantity {value!r}: must be more than zero")
    return int(millis)


def parse_memory(value: str | int) -> int:
    """Memory quantity -> bytes: ``"256Mi"`` -> 268435456, ``"1G"`` -> 10**9."""
    text = str(value).strip()
    match = _MEMORY.match(text)
    if not match or isinstance(value, bool):
        raise QuantityError(
            f"invalid memory quantity {value!r}: expected bytes with an optional suffix "
            '(Ki, Mi, Gi, Ti or k, M, G, T), e.g. "256Mi"'
        )
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"invalid memory quantity {value!r}") from None
    suffix = match.group(2)
    factor = _BINARY.get(suffix or "") or _DECIMAL.get(suffix or "") or 1
    total = number * factor
    if total != total.to_integral_value():
        raise QuantityError(f"invalid memory quantity {value!r}: not a whole number of bytes")
    if total <= 0:
        raise QuantityError(f"invalid memory quantity {value!r}: must be more than zero")
    return int(total)
