"""JSON for the API traffic: what the informers read, what the client writes and reads back,
and what the store keeps. orjson, because decoding and encoding that traffic was a quarter of
the operator's CPU in `make bench` with the standard library (py-spy, 1,000 objects at once).

Hashes that are stored on objects (controller/drift.py) keep the standard library's bytes, so
that an upgrade of this module never changes them."""

from __future__ import annotations

from typing import Any

import orjson


def loads(data: bytes | str) -> Any:
    """Raises orjson.JSONDecodeError, a json.JSONDecodeError (so a ValueError)."""
    return orjson.loads(data)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return orjson.dumps(value)
