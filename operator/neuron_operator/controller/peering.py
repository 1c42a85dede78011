"""Which of several operator replicas works: kopf peering, and our view of it.

With more than one replica, kopf's peering keeps exactly one of them active: each replica
writes a record (priority, lifetime, last seen) into a shared KopfPeering or ClusterKopfPeering
object every few seconds, and pauses its watches while a live record with a priority at least
its own is there (kopf/_core/engines/peering.py, `process_peering_event`). A replica that dies
stops renewing its record; the others resume once it expires, so failover takes at most the
record's lifetime.

kopf pauses only its watches and handlers. Our resync thread runs beside them, so it must pause
too, or a standby replica would reconcile from a store that stopped receiving events. kopf
does not expose its paused state, so the resync reads the peering object and applies the same
rule (`is_active`), which is what this module holds, without any client.

Priorities go by seniority: the replica that started first has the highest, so a replica that
starts (a rolling update, a restart) waits as a standby and never preempts the one at work;
two replicas started in the same millisecond differ by a random tiebreak.
"""

from __future__ import annotations

import datetime
import random
import time
from collections.abc import Mapping
from typing import Any

# kopf treats a record without a lifetime as 60 s old at most (kopf's Peer default).
KOPF_DEFAULT_LIFETIME = 60
# Below 2**53, so the number survives any JSON parser on the way.
_EPOCH_MS_CEILING = 2**42  # year 2109


def seniority_priority(now: float | None = None, tiebreak: int | None = None) -> int:
    """A priority that is higher the earlier the replica started."""
    started_ms = int((time.time() if now is None else now) * 1000)
    rest = random.randrange(1024) if tiebreak is None else tiebreak
    return (_EPOCH_MS_CEILING - started_ms) * 1024 + rest


def _alive(record: Mapping[str, Any], now: datetime.datetime) -> bool:
    """As kopf's Peer sees it; a record it could not read counts as alive (pausing is safe)."""
    try:
        lifetime = float(record.get("lifetime", KOPF_DEFAULT_LIFETIME))
        lastseen = datetime.datetime.fromisoformat(str(record["lastseen"]))
    except (KeyError, TypeError, ValueError):
        return True
    if lastseen.tzinfo is None:
        lastseen = lastseen.replace(tzinfo=datetime.UTC)
    return lastseen + datetime.timedelta(seconds=lifetime) > now


def is_active(
    peering: Mapping[str, Any] | None,
    identity: str,
    priority: int,
    now: datetime.datetime,
) -> bool:
    """Whether kopf lets this replica work, judged from the peering object: its own record is
    there and alive (kopf, with peering mandatory, starts paused until it has seen it), and no
    other live record has a priority as high or higher (kopf pauses even for an equal one)."""
    records = (peering or {}).get("status") or {}
    if not isinstance(records, Mapping):
        return False
    own = records.get(identity)
    if not isinstance(own, Mapping) or not _alive(own, now):
        return False
    for other, record in records.items():
        if other == identity or not isinstance(record, Mapping) or not _alive(record, now):
            continue  # a dead record: kopf ignores it (and cleans it away)
        try:
            theirs = int(record.get("priority", 0))
        except (TypeError, ValueError):
            theirs = 0
        if theirs >= priority:
            return False
    return True
