"""Kubernetes resource quantities ("2Gi", "500m", "16") as exact numbers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

_SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}


def quantity(value: Any) -> Decimal | None:
    """The quantity's value, or None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            try:
                return Decimal(text[: -len(suffix)]) * Decimal(str(_SUFFIXES[suffix]))
            except InvalidOperation:
                return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None
