"""Reconciles asked for later: a fallback's wait running out, a retry's backoff, a pod that
started waiting for a node.

One thread waits for whichever is due next and hands it to a small pool. A timer thread per
object (as this was) cost a thread each: an operator restarted in front of 1,000 objects ran
422 threads and 327 MiB (21 threads since). A heap entry per object costs bytes, and the
pool bounds how many rechecks reach the API server at once.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

Key = tuple[str, str]
# A little late rather than early: the wait asked for must have passed when the recheck runs.
LATE = 0.5


class Rechecks:
    """At most one pending recheck per object: the earliest asked for wins."""

    def __init__(self, workers: int = 4) -> None:
        self._workers = workers
        self._wake = threading.Condition()
        # key -> (due, sequence) of its pending recheck; the heap may hold superseded entries,
        # which are skipped because their sequence is no longer the key's.
        self._pending: dict[Key, tuple[float, int]] = {}
        self._heap: list[tuple[float, int, Key, Callable[[str, str], None]]] = []
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def at(self, key: Key, seconds: float, run: Callable[[str, str], None]) -> None:
        """Call `run(*key)` in `seconds` (a little later), unless one is due sooner."""
        due = time.monotonic() + max(0.0, seconds) + LATE
        with self._wake:
            pending = self._pending.get(key)
            if pending is not None and pending[0] <= due:
                return
            sequence = next(self._sequence)
            self._pending[key] = (due, sequence)
            heapq.heappush(self._heap, (due, sequence, key, run))
            if self._thread is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="recheck")
                self._thread = threading.Thread(target=self._loop, name="rechecks", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _next_due(self) -> tuple[Key, Callable[[str, str], None]]:
        """Wait for the next recheck due, and take it off the heap (holding `_wake`)."""
        while True:
            if not self._heap:
                self._wake.wait()
                continue
            due, sequence, key, run = self._heap[0]
            if self._pending.get(key) != (due, sequence):
                heapq.heappop(self._heap)  # superseded by a sooner one, or cancelled
                continue
            wait = due - time.monotonic()
            if wait > 0:
                self._wake.wait(wait)
                continue
            heapq.heappop(self._heap)
            del self._pending[key]
            return key, run

    def _loop(self) -> None:
        while True:
            with self._wake:
                key, run = self._next_due()
                pool = self._pool
            if pool is not None:
                pool.submit(run, *key)

    def cancel(self) -> None:
        """Forget every pending recheck (one already handed to the pool still runs)."""
        with self._wake:
            self._pending.clear()
            self._heap.clear()

    def __len__(self) -> int:
        with self._wake:
            return len(self._pending)
