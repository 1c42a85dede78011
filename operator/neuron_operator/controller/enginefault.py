"""Test-only engine faults, for the fault suite's F14 (tests/chaos/): with
NEURON_OPERATOR_ENGINE_FAULT set, planning an object whose name starts with PREFIX is made slow
or made to fail, so a test can prove that other objects do not wait for it and that no partial
Deployment appears. Inert unless the variable is set; it is read once, at start. Never set it in
a real deployment (the chart has no value for it).

- `slow=SECONDS:PREFIX`: the engine takes SECONDS longer for those objects;
- `raise:PREFIX`: the engine raises for those objects (as a bug in it would).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger("neuron_operator")


class EngineFaultInjected(RuntimeError):
    """What the engine raises under `raise:PREFIX`."""


@dataclass(frozen=True)
class EngineFault:
    prefix: str
    delay: float | None  # None: raise

    def before_plan(self, name: str) -> None:
        if not name.startswith(self.prefix):
            return
        if self.delay is None:
            raise EngineFaultInjected(f"injected engine failure for {name} (test-only setting)")
        log.warning("engine slowed by %.0f s for %s (test-only setting)", self.delay, name)
        time.sleep(self.delay)


def parse(text: str) -> EngineFault:
    """`slow=SECONDS:PREFIX` or `raise:PREFIX`; ValueError names the variable otherwise."""
    kind, _, prefix = text.partition(":")
    if kind == "raise" and prefix:
        return EngineFault(prefix, None)
    if kind.startswith("slow=") and prefix:
        try:
            delay = float(kind.removeprefix("slow="))
        except ValueError:
            delay = -1.0
        if delay >= 0:
            return EngineFault(prefix, delay)
    raise ValueError(
        f"NEURON_OPERATOR_ENGINE_FAULT={text!r}: expected slow=SECONDS:PREFIX or raise:PREFIX"
    )
