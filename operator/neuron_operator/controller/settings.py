"""Operator settings: flags of `neuron-operator run`, each with an environment variable."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from neuron_operator.controller.enginefault import EngineFault, parse

FIELD_MANAGER = "neuron-operator"
T = TypeVar("T", int, float)
D = TypeVar("D", int, float, None)


MINIMUM_POD_SECURITY_LEVELS = ("baseline", "restricted")


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    scheduler_name: str | None = None  # the Neuron scheduler extension's scheduler, if any
    # Plan against the cluster's nodes, pods and NodePools (controller/cluster_watch.py), and
    # fall back when pods cannot be scheduled. Off: plan against the catalog alone, and the
    # chart grants no cluster-wide read of nodes and pods.
    capacity_aware: bool = True
    # "namespace/name" of the ConfigMap with your prices (controller/pricing_watch.py); None:
    # the catalog's list prices.
    pricing_configmap: str | None = None
    # How pods get Neuron devices (controller/dra.py): device-plugin (extended resources), dra
    # (ResourceClaims on the families the Neuron DRA driver serves), or auto (DRA where the
    # cluster has the Neuron DeviceClass).
    device_allocation: str = "auto"
    # Images the model servers may run: registries or repositories, matched by whole path
    # parts (controller/policy.py); empty: any.
    allowed_images: tuple[str, ...] = ()
    # The lowest Pod Security level the rendered pods may meet (controller/pod_security.py):
    # baseline (every template the operator accepts meets it) or restricted.
    minimum_pod_security: str = "baseline"
    # Reconciles at once (kopf's worker threads); one object is never reconciled twice at once.
    workers: int = 8
    # Client-side pacing of every API request (controller/ratelimit.py), as client-go's QPS
    # and burst; 0 QPS: unpaced. A cap against a runaway loop rather than a pace: creating a
    # thousand objects takes about three requests each, and at 300/s the cap is above what
    # the API server on 2 cores took from one client applying them (docs/benchmarks.md).
    api_qps: float = 300.0
    api_burst: int = 600
    log_format: str = "text"  # text (people) or json (machines)
    # Where /healthz, /metrics and /readyz listen: every interface in a pod; 127.0.0.1 for an
    # operator run on a workstation or in tests.
    listen_address: str = "0.0.0.0"
    liveness_port: int = 8080  # kopf's /healthz: fails when the watches stop delivering
    metrics_port: int = 8081  # /metrics (Prometheus) and /readyz
    # A write of ours not seen on its watch for this long means the watch has stalled.
    watch_stall_seconds: float = 300.0
    # How often the operator lists what the API server holds, to check its watches delivered
    # it (controller/resync.py); read-only, metadata only.
    watch_audit_seconds: float = 60.0
    field_manager: str = FIELD_MANAGER
    # Objects whose status is behind their spec are reconciled this often, whatever kopf did
    # with their events; every object, this often (controller/resync.py).
    resync_seconds: float = 10.0
    full_resync_seconds: float = 600.0
    # High availability (controller/peering.py): the name of kopf's peering object the replicas
    # share (a KopfPeering in each watched namespace, or a ClusterKopfPeering); None runs
    # standalone, for a single replica. A replica's record lives `peering_lifetime` seconds
    # unless renewed, which bounds failover. `priority` None: by seniority (the oldest leads).
    peering: str | None = None
    peering_lifetime: int = 15
    priority: int | None = None
    # Who this replica is in the peering object: the pod's name in a cluster.
    identity: str | None = None
    # Test-only: kill the process at this crash point (controller/crashpoints.py). No flag.
    crash_at: str | None = None
    # Test-only: a slow or failing engine for some objects (controller/enginefault.py). No flag.
    engine_fault: EngineFault | None = None

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from NEURON_OPERATOR_* variables; ValueError names a variable that does not
        parse."""
        env = os.environ.get
        namespaces = env("NEURON_OPERATOR_NAMESPACES", "")
        defaults = cls()
        priority = _number("NEURON_OPERATOR_PRIORITY", None, int)
        fault = env("NEURON_OPERATOR_ENGINE_FAULT")
        return cls(
            namespaces=tuple(n.strip() for n in namespaces.split(",") if n.strip()),
            scheduler_name=env("NEURON_OPERATOR_SCHEDULER_NAME") or None,
            capacity_aware=_flag("NEURON_OPERATOR_CAPACITY_AWARE", defaults.capacity_aware),
            pricing_configmap=env("NEURON_OPERATOR_PRICING_CONFIGMAP") or None,
            device_allocation=_choice(
                "NEURON_OPERATOR_DEVICE_ALLOCATION",
                defaults.device_allocation,
                ("device-plugin", "dra", "auto"),
            ),
            allowed_images=tuple(
                i.strip() for i in env("NEURON_OPERATOR_ALLOWED_IMAGES", "").split(",") if i.strip()
            ),
            minimum_pod_security=_choice(
                "NEURON_OPERATOR_MINIMUM_POD_SECURITY",
                defaults.minimum_pod_security,
                MINIMUM_POD_SECURITY_LEVELS,
            ),
            workers=_number("NEURON_OPERATOR_WORKERS", defaults.workers, int),
            api_qps=_number("NEURON_OPERATOR_API_QPS", defaults.api_qps, float),
            api_burst=_number("NEURON_OPERATOR_API_BURST", defaults.api_burst, int),
            log_format=env("NEURON_OPERATOR_LOG_FORMAT", defaults.log_format),
            listen_address=env("NEURON_OPERATOR_LISTEN_ADDRESS", defaults.listen_address),
            liveness_port=_number("NEURON_OPERATOR_LIVENESS_PORT", defaults.liveness_port, int),
            metrics_port=_number("NEURON_OPERATOR_METRICS_PORT", defaults.metrics_port, int),
            watch_stall_seconds=_number(
                "NEURON_OPERATOR_WATCH_STALL_SECONDS", defaults.watch_stall_seconds, float
            ),
            watch_audit_seconds=_number(
                "NEURON_OPERATOR_WATCH_AUDIT_SECONDS", defaults.watch_audit_seconds, float
            ),
            resync_seconds=_number(
                "NEURON_OPERATOR_RESYNC_SECONDS", defaults.resync_seconds, float
            ),
            full_resync_seconds=_number(
                "NEURON_OPERATOR_FULL_RESYNC_SECONDS", defaults.full_resync_seconds, float
            ),
            peering=env("NEURON_OPERATOR_PEERING") or None,
            peering_lifetime=_number(
                "NEURON_OPERATOR_PEERING_LIFETIME", defaults.peering_lifetime, int
            ),
            priority=priority,
            identity=env("POD_NAME") or None,
            crash_at=env("NEURON_OPERATOR_CRASH_AT") or None,
            engine_fault=parse(fault) if fault else None,
        )

    def overridden(self, **flags: Any) -> Settings:
        """These settings with every flag that was given (not None) taking precedence."""
        given = {key: value for key, value in flags.items() if value is not None}
        if "namespaces" in given:
            given["namespaces"] = tuple(given["namespaces"])
        return dataclasses.replace(self, **given)


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if text not in allowed:
        raise ValueError(f"{name}={text!r}: not one of {', '.join(allowed)}")
    return text


def _flag(name: str, default: bool) -> bool:
    text = os.environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name}={text!r}: not true or false")


def _number(name: str, default: D, kind: Callable[[str], T]) -> T | D:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: not a number ({kind.__name__})") from None
