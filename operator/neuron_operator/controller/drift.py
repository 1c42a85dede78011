"""Bounded answers to someone who keeps changing what the operator sets on a Deployment.

Reverting drift at once is right when a person scales a Deployment by hand; against another
controller that flips a field back on every update it is a write war at API-server speed, and
each round rolls the pods. So reverts of drift (not applies of a new plan) are spaced: the
first at once, then at least 10 s apart, doubling to at most 60 s while the fight goes on; two
minutes after the last revert with no new change the fight is over. Meanwhile the object's
`Degraded` condition names who is fighting, from the Deployment's managedFields.

Telling drift from a new plan: the rendered Deployment carries a hash of itself in an
annotation; when the cluster's copy carries the hash of what we would apply now, what differs
was changed by someone else. Pure: no client, no clock (callers pass `now`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

HASH_ANNOTATION = "neuron.dev/desired-hash"
Key = tuple[str, str]


def desired_hash(desired: dict[str, Any]) -> str:
    """A stable digest of a rendered Deployment (without the annotation that carries it)."""
    text = json.dumps(desired, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def with_hash(desired: dict[str, Any]) -> dict[str, Any]:
    metadata = desired["metadata"]
    annotations = {**(metadata.get("annotations") or {}), HASH_ANNOTATION: desired_hash(desired)}
    return {**desired, "metadata": {**metadata, "annotations": annotations}}


def is_drift(deployment: dict[str, Any], desired: dict[str, Any]) -> bool:
    """Whether `deployment` was last applied by us from this same `desired` (with_hash'ed), so
    that any difference is someone else's doing."""
    ours = (desired["metadata"].get("annotations") or {}).get(HASH_ANNOTATION)
    theirs = ((deployment.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
    return ours is not None and ours == theirs


def other_writers(deployment: dict[str, Any], field_manager: str) -> list[str]:
    """Managers other than us that wrote the Deployment's spec, most recent first."""
    entries = [
        e
        for e in (deployment.get("metadata") or {}).get("managedFields") or []
        if e.get("manager") != field_manager
        and not e.get("subresource")
        and e.get("spec", "f:spec" in (e.get("fieldsV1") or {}))
    ]
    entries.sort(key=lambda e: str(e.get("time") or ""), reverse=True)
    return [str(e.get("manager")) for e in entries]


@dataclass
class _Fight:
    last: float
    rounds: int


@dataclass
class DriftGuard:
    """When the next revert of drift may go out, per object."""

    first_interval: float = 10.0
    max_interval: float = 60.0
    forgive_after: float = 120.0
    _fights: dict[Key, _Fight] = field(default_factory=dict)

    def wait(self, key: Key, now: float) -> float:
        """Seconds until a revert of `key` may be sent (0: now)."""
        fight = self._fights.get(key)
        if fight is None or now - fight.last >= self.forgive_after:
            return 0.0
        return max(0.0, fight.last + self.interval(key, now) - now)

    def interval(self, key: Key, now: float) -> float:
        """The spacing of reverts the fight over `key` has reached."""
        rounds = max(1, self.rounds(key, now))
        return float(min(self.max_interval, self.first_interval * 2 ** (rounds - 1)))

    def reverted(self, key: Key, now: float) -> int:
        """Record a revert; returns how many in a row this fight has seen."""
        fight = self._fights.get(key)
        if fight is None or now - fight.last >= self.forgive_after:
            fight = _Fight(now, 0)
        fight.last, fight.rounds = now, fight.rounds + 1
        self._fights[key] = fight
        return fight.rounds

    def rounds(self, key: Key, now: float) -> int:
        fight = self._fights.get(key)
        if fight is not None and now - fight.last >= self.forgive_after:
            del self._fights[key]  # over: nothing kept for objects left in peace
            fight = None
        return 0 if fight is None else fight.rounds

    def forget(self, key: Key) -> None:
        self._fights.pop(key, None)
