"""Prometheus metrics and the readiness endpoint, served on the metrics port.

Counters and the histogram are updated by the reconcile's caller. What the NeuronDeployments
are planned onto is a level, not an event count, so it is read from the operator's store at
scrape time: it can never drift from the objects, whatever restarts or retries happened.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from neuron_operator.controller.store import Store

REGISTRY = CollectorRegistry()

RECONCILES = Counter(
    "neuron_operator_reconciles",
    "Reconciles of NeuronDeployments by result: applied (the Deployment was created or "
    "changed), unchanged, refused (the spec cannot run; an existing Deployment was left as it "
    "was), error (API trouble; retried).",
    ["result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "neuron_operator_reconcile_duration_seconds",
    "Time one reconcile takes, API calls included.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
ACTIVE = Gauge(
    "neuron_operator_active",
    "1 when this replica is the one at work, 0 when it stands by (kopf peering pauses all "
    "replicas but one); a single replica is always active.",
    registry=REGISTRY,
)
WAITING = Gauge(
    "neuron_operator_work_queue_depth",
    "NeuronDeployments waiting for a reconcile (events of an object already waiting count "
    "once); a depth that only grows means the operator cannot keep up.",
    registry=REGISTRY,
)
API_ERRORS = Counter(
    "neuron_operator_api_errors",
    "Errors the Kubernetes API returned to the operator, by HTTP status.",
    ["code"],
    registry=REGISTRY,
)


class PlanCollector(Collector):
    """NeuronDeployments by the instance type of the plan in effect, and those whose current
    spec cannot be planned, by reason. The store must summarize with plan_summary."""

    def __init__(
        self,
        neurondeployments: Store,
        watch_lag: Callable[[], float],
        capacity_kept: Callable[[], dict[str, int]] = dict,
    ) -> None:
        """`capacity_kept`: what the capacity informers keep, by kind (none when off)."""
        self.neurondeployments = neurondeployments
        self.watch_lag = watch_lag
        self.capacity_kept = capacity_kept

    def collect(self) -> Iterable[Metric]:
        planned: Tally[str] = Tally()
        refused: Tally[str] = Tally()
        for instance_type, unplanned, *_ in self.neurondeployments.summaries():
            if instance_type:
                planned[instance_type] += 1
            if unplanned:
                refused[unplanned] += 1
        by_type = GaugeMetricFamily(
            "neuron_operator_neurondeployments_planned",
            "NeuronDeployments by the instance type of the plan in effect.",
            labels=["instance_type"],
        )
        for instance_type, count in sorted(planned.items()):
            by_type.add_metric([instance_type], count)
        yield by_type
        by_reason = GaugeMetricFamily(
            "neuron_operator_neurondeployments_unplanned",
            "NeuronDeployments whose current spec has no plan (Planned=False), by reason.",
            labels=["reason"],
        )
        for reason, count in sorted(refused.items()):
            by_reason.add_metric([reason], count)
        yield by_reason
        yield GaugeMetricFamily(
            "neuron_operator_watch_lag_seconds",
            "How long the oldest write of the operator has waited to come back on its watch "
            "(0: every write was seen). The liveness probe fails when it grows too large.",
            value=self.watch_lag(),
        )
        kept = GaugeMetricFamily(
            "neuron_operator_capacity_objects",
            "Objects the capacity informers keep, reduced to what planning needs: Neuron nodes, "
            "pods holding Neuron resources, and Karpenter NodePools.",
            labels=["kind"],
        )
        for kind, count in sorted(self.capacity_kept().items()):
            kept.add_metric([kind], count)
        yield kept


class _Handler(BaseHTTPRequestHandler):
    ready: Callable[[], bool] = staticmethod(lambda: False)

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self._reply(200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
        elif self.path == "/readyz":
            ok = self.ready()
            self._reply(200 if ok else 503, "text/plain", b"ok\n" if ok else b"starting\n")
        else:
            self._reply(404, "text/plain", b"not found\n")

    def _reply(self, code: int, content_type: str, payload: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes and probes every few seconds would drown the operator's own log


def serve(address: str, port: int, ready: Callable[[], bool]) -> ThreadingHTTPServer:
    """Serve /metrics and /readyz from a daemon thread."""
    handler = type("Handler", (_Handler,), {"ready": staticmethod(ready)})
    server = ThreadingHTTPServer((address, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def observe_reconcile(result: str, started: float) -> None:
    RECONCILES.labels(result=result).inc()
    RECONCILE_SECONDS.observe(time.perf_counter() - started)


def reconciles_done() -> float:
    """How many reconciles have finished, whatever their result (a sign of work)."""
    return sum(
        sample.value
        for metric in RECONCILES.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
