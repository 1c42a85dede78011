"""Memory is trimmed once after each burst of work, never while idle."""

from __future__ import annotations

import threading

from tests.kube import wait_until

from neuron_operator.controller.memory import _malloc_trim, start_trimming


def test_this_platform_can_trim() -> None:
    trim = _malloc_trim()
    assert trim is not None  # glibc, as in the operator's image (python:3.11-slim)
    trim()


def test_one_trim_after_work_and_none_while_idle() -> None:
    work = [0]
    trims: list[int] = []
    trimmed = threading.Event()

    def trim() -> None:
        trims.append(work[0])
        trimmed.set()

    assert start_trimming(lambda: work[0], interval=0.02, trim=trim)
    work[0] = 5  # some reconciles
    assert trimmed.wait(timeout=10)
    assert trims == [5]
    trimmed.clear()
    # Idle: several more idle periods pass with nothing to give back.
    assert not trimmed.wait(timeout=0.2)
    assert trims == [5]
    work[0] = 9  # more work is trimmed after too
    wait_until("a second trim", lambda: len(trims) == 2, timeout=10, interval=0.01)
    assert trims == [5, 9]
