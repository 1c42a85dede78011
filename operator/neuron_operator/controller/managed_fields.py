"""The fields of a Deployment the operator created with a POST, handed to its applies.

A create is an Update in the object's managed fields: the operator's field manager owns every
field it set, under operation Update. Server-side apply removes a field that an applier stops
setting only when no manager owns it any more, and that Update entry would keep owning it. So
before the first apply to such a Deployment its Update entry becomes (or joins) the manager's
Apply entry, as kubectl's csaupgrade does for objects once applied client-side. Pure: the
caller reads the object and writes the entries back.
"""

from __future__ import annotations

from typing import Any


def created_not_applied(deployment: dict[str, Any] | None, manager: str) -> bool:
    """Whether `manager` owns fields of the object as an Update (its create), outside any
    subresource: the full managed fields or the store's digest of them."""
    entries = ((deployment or {}).get("metadata") or {}).get("managedFields") or []
    return any(
        e.get("manager") == manager and e.get("operation") == "Update" and not e.get("subresource")
        for e in entries
    )


def union(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Two fieldsV1 sets as one (each is a tree of `f:`/`k:`/`v:`/`i:` keys, `{}` leaves)."""
    merged = dict(left)
    for key, value in right.items():
        merged[key] = union(merged[key], value) if key in merged else value
    return merged


def adopted(entries: list[dict[str, Any]], manager: str, at: str) -> list[dict[str, Any]] | None:
    """`entries` with `manager`'s Update entries (no subresource) folded into its Apply entry,
    stamped `at`; None when there is nothing to fold."""
    updates = [
        e
        for e in entries
        if e.get("manager") == manager
        and e.get("operation") == "Update"
        and not e.get("subresource")
    ]
    if not updates:
        return None
    applies = [
        e
        for e in entries
        if e.get("manager") == manager
        and e.get("operation") == "Apply"
        and not e.get("subresource")
    ]
    fields: dict[str, Any] = {}
    for entry in [*applies, *updates]:
        fields = union(fields, entry.get("fieldsV1") or {})
    first = (applies or updates)[0]
    apply_entry = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": first.get("apiVersion"),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        "time": at,
    }
    folded = [e for e in entries if not any(e is f for f in [*updates, *applies])]
    return [*folded, apply_entry]
