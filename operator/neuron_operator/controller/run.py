"""`neuron-operator run`: settings from flags over environment, then kopf."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from typing import Any, cast

import kopf

from neuron_operator.controller import handlers  # noqa: F401  (registers kopf's handlers)
from neuron_operator.controller.peering import seniority_priority
from neuron_operator.controller.runtime import Runtime
from neuron_operator.controller.settings import Settings


def quieten_kopf_objects() -> None:
    """kopf logs "Handler '…' succeeded." for every watch event of every object: with 1,000
    objects, most of the log, and a record built and formatted for each (4 % of the CPU at
    creation, when a filter still dropped them). Its per-object lines below WARNING say
    nothing the operator's own log (`neuron_operator`) and events do not; its warnings and
    errors are kept."""
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def with_peer_identity(settings: Settings) -> Settings:
    """A replica's identity and priority, decided once as it starts: its identity is the pod's
    name (or host and process outside a cluster), its priority by seniority unless given."""
    if settings.peering is None:
        return settings
    return dataclasses.replace(
        settings,
        identity=settings.identity or f"{socket.gethostname()}/{os.getpid()}",
        priority=settings.priority if settings.priority is not None else seniority_priority(),
    )


def run(settings: Settings) -> int:
    settings = with_peer_identity(settings)
    kopf.configure(
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
        verbose=False,
    )
    quieten_kopf_objects()
    kopf.run(
        # One replica runs standalone; several share a peering object, where kopf keeps all
        # but one paused (peering is mandatory then: a replica starts paused until it knows).
        standalone=settings.peering is None,
        peering_name=settings.peering,
        priority=settings.priority,
        # kopf's Identity is a NewType of str that kopf does not export.
        identity=cast(Any, settings.identity),
        clusterwide=not settings.namespaces,
        namespaces=list(settings.namespaces),
        liveness_endpoint=f"http://{settings.listen_address}:{settings.liveness_port}/healthz",
        # What the operator keeps, in kopf's memo (every handler gets it).
        memo=kopf.Memo(runtime=Runtime(settings)),
    )
    return 0
