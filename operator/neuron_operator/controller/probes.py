"""The model server's probes: readiness and liveness where the template gives none, and how
long it may take to start, from its plan (a startup probe). Pure.

Readiness and liveness: a server that declares a port but no probe gets a TCP check of that
port (the first one declared): ready once it accepts connections, restarted when it stops. The
operator cannot know a server's health path, so it checks only what every server does; a
template's own probes always win, and a container that declares no port gets none.

Startup:

A Neuron server loads its weights into device memory, and compiles the model first unless it is
handed a compiled artifact; for large models both take minutes (Neuron's serving samples allow
many minutes before the first ready). A liveness probe that starts checking at once kills such a
server before it has loaded, again and again. Kubernetes' answer is a startup probe: liveness
and readiness wait until it succeeds. So where the template probes the model server (a
liveness or readiness probe) and gives no startup probe, the operator adds one with the same
check, allowed as long as the plan says loading (and compiling) can take:

    budget = BASE + weights / LOAD_BYTES_PER_SECOND (+ weights × COMPILE_SECONDS_PER_GIB unless
             spec.compiled.uri names a compiled artifact)

The rates are deliberately slow (an EBS or S3 read into host memory, then into the device; a
neuronx-cc compile of a large graph), so a healthy server is never killed: a startup probe
that allows too long costs nothing once the server is up, as it stops at the first success. A
template's own startupProbe always wins.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from neuron_operator.api.plan import PlanRecord
from neuron_operator.sizing.catalog import GIB

BASE_SECONDS = 120  # the container, the runtime, the server's own start
LOAD_BYTES_PER_SECOND = 100e6  # weights from storage through host memory into the device
COMPILE_SECONDS_PER_GIB = 60  # neuronx-cc, per GiB of weights, when nothing is precompiled
PERIOD_SECONDS = 10
READINESS_PERIOD_SECONDS = 10
LIVENESS_PERIOD_SECONDS = 20
FAILURE_THRESHOLD = 3
TIMEOUT_SECONDS = 5


def port_probes(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The readinessProbe and livenessProbe to add to `container`: a TCP check of its first
    declared port, for each it lacks; none when it declares no port."""
    ports = container.get("ports") or []
    if not ports:
        return {}
    first = ports[0]
    check = {"tcpSocket": {"port": first.get("name") or first["containerPort"]}}
    periods = {
        "readinessProbe": READINESS_PERIOD_SECONDS,
        "livenessProbe": LIVENESS_PERIOD_SECONDS,
    }
    return {
        kind: {
            **copy.deepcopy(check),
            "periodSeconds": period,
            "failureThreshold": FAILURE_THRESHOLD,
            "timeoutSeconds": TIMEOUT_SECONDS,
        }
        for kind, period in periods.items()
        if not container.get(kind)
    }


def startup_seconds(plan: PlanRecord, precompiled: bool) -> int:
    """Seconds the server of `plan` may take to become ready (one replica's pod)."""
    weights_gib = plan.memory.weights_gib if plan.memory is not None else 0.0
    seconds = BASE_SECONDS + weights_gib * GIB / LOAD_BYTES_PER_SECOND
    if not precompiled:
        seconds += weights_gib * COMPILE_SECONDS_PER_GIB
    return math.ceil(seconds)


def startup_probe(
    container: dict[str, Any], plan: PlanRecord, precompiled: bool
) -> dict[str, Any] | None:
    """The startup probe to add to `container`, or None: it has one, or it is not probed."""
    if container.get("startupProbe"):
        return None
    probed = container.get("livenessProbe") or container.get("readinessProbe")
    if not probed:
        return None
    check = {
        k: copy.deepcopy(v)
        for k, v in probed.items()
        if k in ("httpGet", "tcpSocket", "exec", "grpc")
    }
    if not check:
        return None
    budget = startup_seconds(plan, precompiled)
    return {
        **check,
        "periodSeconds": PERIOD_SECONDS,
        "failureThreshold": math.ceil(budget / PERIOD_SECONDS),
        "timeoutSeconds": probed.get("timeoutSeconds", TIMEOUT_SECONDS),
    }
