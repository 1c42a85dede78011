"""`neuron-operator run`: settings from flags over environment, then kopf."""

from __future__ import annotations

import dataclasses

import kopf

from neuron_operator.controller import handlers
from neuron_operator.controller.settings import Settings


def run(
    namespaces: list[str] | None,
    scheduler_name: str | None,
    log_format: str | None,
    liveness_port: int | None,
) -> int:
    settings = Settings.from_env()
    if namespaces:
        settings = dataclasses.replace(settings, namespaces=tuple(namespaces))
    if scheduler_name:
        settings = dataclasses.replace(settings, scheduler_name=scheduler_name)
    if log_format:
        settings = dataclasses.replace(settings, log_format=log_format)
    if liveness_port is not None:
        settings = dataclasses.replace(settings, liveness_port=liveness_port)
    handlers.configure(settings)
    kopf.configure(
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
        verbose=False,
    )
    kopf.run(
        standalone=True,  # one replica (Recreate); no peering CRDs needed
        clusterwide=not settings.namespaces,
        namespaces=list(settings.namespaces),
        liveness_endpoint=f"http://0.0.0.0:{settings.liveness_port}/healthz",
    )
    return 0
