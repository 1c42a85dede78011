"""`neuron-operator run`: settings from flags over environment, then kopf."""

from __future__ import annotations

import kopf

from neuron_operator.controller import handlers
from neuron_operator.controller.settings import Settings


def run(settings: Settings) -> int:
    handlers.configure(settings)
    kopf.configure(
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
        verbose=False,
    )
    kopf.run(
        standalone=True,  # one replica (Recreate); no peering CRDs needed
        clusterwide=not settings.namespaces,
        namespaces=list(settings.namespaces),
        liveness_endpoint=f"http://{settings.listen_address}:{settings.liveness_port}/healthz",
    )
    return 0
