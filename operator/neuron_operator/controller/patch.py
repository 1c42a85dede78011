"""JSON merge patches (RFC 7386): the smallest patch that turns one document into another.

A merge patch merges nested objects, so a key that must disappear has to be nulled at the
depth where it lives; nulling only top-level keys leaves nested leftovers behind, and a status
that never matches what the reconcile wants is re-sent on every trigger. Lists are replaced
whole, as the RFC says. Pure: no client, no I/O.
"""

from __future__ import annotations

from typing import Any


def merge_patch(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """The patch that makes `current` equal `desired` when applied as a merge patch; empty when
    they are already equal. `desired` must hold no nulls (a null in a merge patch deletes)."""
    patch: dict[str, Any] = {key: None for key in current if key not in desired}
    for key, value in desired.items():
        old = current.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            nested = merge_patch(old, value)
            if nested:
                patch[key] = nested
        elif key not in current or old != value:
            patch[key] = value
    return patch
