"""Operator settings: flags of `neuron-operator run`, each with an environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass

FIELD_MANAGER = "neuron-operator"


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    scheduler_name: str | None = None  # the Neuron scheduler extension's scheduler, if any
    log_format: str = "text"  # text (people) or json (machines)
    liveness_port: int = 8080
    field_manager: str = FIELD_MANAGER

    @classmethod
    def from_env(cls) -> Settings:
        namespaces = os.environ.get("NEURON_OPERATOR_NAMESPACES", "")
        return cls(
            namespaces=tuple(n.strip() for n in namespaces.split(",") if n.strip()),
            scheduler_name=os.environ.get("NEURON_OPERATOR_SCHEDULER_NAME") or None,
            log_format=os.environ.get("NEURON_OPERATOR_LOG_FORMAT", "text"),
            liveness_port=int(os.environ.get("NEURON_OPERATOR_LIVENESS_PORT", "8080")),
        )
