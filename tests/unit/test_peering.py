"""Which replica works: our reading of kopf's peering rule, and priorities by seniority."""

from __future__ import annotations

import datetime
from typing import Any

from neuron_operator.controller.peering import is_active, seniority_priority

NOW = datetime.datetime(2026, 11, 30, 12, 0, 0, tzinfo=datetime.UTC)


def record(priority: int, seconds_ago: float = 1.0, lifetime: int = 15) -> dict[str, Any]:
    lastseen = NOW - datetime.timedelta(seconds=seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": lastseen.isoformat()}


def peering(**records: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "status": records}


def test_the_highest_live_priority_is_active_and_the_other_stands_by() -> None:
    shared = peering(a=record(200), b=record(100))
    assert is_active(shared, "a", 200, NOW)
    assert not is_active(shared, "b", 100, NOW)


def test_an_equal_priority_pauses_both_as_kopf_does() -> None:
    shared = peering(a=record(100), b=record(100))
    assert not is_active(shared, "a", 100, NOW)
    assert not is_active(shared, "b", 100, NOW)


def test_a_dead_higher_record_no_longer_blocks() -> None:
    shared = peering(a=record(200, seconds_ago=16), b=record(100))
    assert is_active(shared, "b", 100, NOW)
    assert not is_active(peering(a=record(200, seconds_ago=14), b=record(100)), "b", 100, NOW)


def test_a_record_kopf_wrote_on_graceful_exit_is_dead_at_once() -> None:
    shared = peering(a=record(200, seconds_ago=0, lifetime=0), b=record(100))
    assert is_active(shared, "b", 100, NOW)


def test_without_its_own_live_record_a_replica_is_not_active_yet() -> None:
    assert not is_active(peering(), "a", 100, NOW)
    assert not is_active(None, "a", 100, NOW)
    assert not is_active(peering(a=record(100, seconds_ago=20)), "a", 100, NOW)


def test_a_record_without_a_readable_time_counts_as_alive() -> None:
    odd = {"priority": 300, "lastseen": "yesterday"}
    assert not is_active(peering(a=record(100), x=odd), "a", 100, NOW)
    assert not is_active(peering(a=record(100), x={"priority": 300}), "a", 100, NOW)


def test_the_replica_that_started_first_has_the_higher_priority() -> None:
    first = seniority_priority(now=1_800_000_000.000, tiebreak=1023)
    second = seniority_priority(now=1_800_000_000.001, tiebreak=0)
    assert first > second
    # The same millisecond: the tiebreak decides.
    assert seniority_priority(now=1.0, tiebreak=5) != seniority_priority(now=1.0, tiebreak=6)
    assert 0 < second < 2**53
