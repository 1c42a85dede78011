"""The objects waiting for a reconcile, by key, and the threads that reconcile them.

kopf's event handlers only record each event in a store and add its object's key here, so kopf
lets go of the event's body at once. They used to reconcile in kopf's own threads: with a
thousand objects listed at a restart or created at once, kopf held every body queued behind
the few threads reconciling (31 MiB of parsed JSON at the peak of a restart in front of 1,000
objects, and a heap that stayed at the high-water mark). Here a waiting object costs its key.

As client-go's workqueue: a key waits at most once (events for an object that is already
waiting become one reconcile, which reads the newest version from the store), and is
reconciled by one thread at a time; an event that arrives while its object is reconciled
queues the key once more, to run after.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

Key = tuple[str, str]

log = logging.getLogger("neuron_operator")


class WorkQueue:
    """Keys in the order they were first added, each run by `run(*key)` on one of `workers`
    threads (started with the first key)."""

    def __init__(
        self,
        run: Callable[[str, str], None],
        workers: int,
        depth: Callable[[int], None] = lambda _: None,
    ) -> None:
        self._run = run
        self._workers = max(1, workers)
        self._depth = depth  # told the number waiting whenever it changes (a metric)
        self._ready = threading.Condition()
        self._waiting: deque[Key] = deque()
        self._queued: set[Key] = set()
        self._running: set[Key] = set()
        self._again: set[Key] = set()  # added while running: once more when it is done
        self._threads: list[threading.Thread] = []
        self._stopped = False

    def add(self, key: Key) -> None:
        with self._ready:
            if self._stopped:
                return
            if key in self._running:
                self._again.add(key)
                return
            if key in self._queued:
                return
            self._queued.add(key)
            self._waiting.append(key)
            self._depth(len(self._waiting))
            if not self._threads:
                self._threads = [
                    threading.Thread(target=self._work, name=f"reconcile-{i}", daemon=True)
                    for i in range(self._workers)
                ]
                for thread in self._threads:
                    thread.start()
            self._ready.notify()

    def clear(self) -> None:
        """Forget the keys waiting (the reconciles under way finish)."""
        with self._ready:
            self._waiting.clear()
            self._queued.clear()
            self._again.clear()
            self._depth(0)

    def stop(self) -> None:
        """No more keys are taken; the reconciles under way finish."""
        self.clear()
        with self._ready:
            self._stopped = True
            self._ready.notify_all()

    def holds(self, key: Key) -> bool:
        """Whether the key waits or is being reconciled: a reconcile of it is due anyway."""
        with self._ready:
            return key in self._queued or key in self._running

    def __len__(self) -> int:
        with self._ready:
            return len(self._waiting)

    def _take(self) -> Key | None:
        with self._ready:
            while not self._waiting and not self._stopped:
                self._ready.wait()
            if self._stopped:
                return None
            key = self._waiting.popleft()
            self._queued.discard(key)
            self._running.add(key)
            self._depth(len(self._waiting))
            return key

    def _done(self, key: Key) -> None:
        with self._ready:
            self._running.discard(key)
            if key in self._again and not self._stopped:
                self._again.discard(key)
                self._queued.add(key)
                self._waiting.append(key)
                self._depth(len(self._waiting))
                self._ready.notify()

    def _work(self) -> None:
        while (key := self._take()) is not None:
            try:
                self._run(*key)
            except Exception:  # one object's failure must not stop the thread
                log.exception("reconcile of %s/%s failed", *key)
            finally:
                self._done(key)
