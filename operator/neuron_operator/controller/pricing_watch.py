"""Your prices, read from the ConfigMap the chart names (`pricing.configMap`), kept by an
informer on that one object, and turned into the catalog the engine plans with.

Absent, the catalog's list prices apply. Unreadable (not YAML, a field that does not parse, a
type the catalog lacks), the list prices apply too, and every plan says why in its
`priceSource`. Any change to the ConfigMap changes the catalog's pricing fingerprint, and each
NeuronDeployment is planned again (reconcile.py `plan_stands`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import yaml
from kubernetes import client
from pydantic import ValidationError

from neuron_operator.api.errors import format_validation_error
from neuron_operator.api.pricing import PRICING_KEY, PricingSettings
from neuron_operator.controller.informer import Informer
from neuron_operator.sizing.catalog import Catalog, load_catalog
from neuron_operator.sizing.pricing import PricingError, ignored, priced


class Read(NamedTuple):
    settings: PricingSettings | None
    problem: str | None


def read_pricing(configmap: dict[str, Any]) -> Read:
    """The settings in a ConfigMap's pricing.yaml, or what is wrong with them."""
    text = (configmap.get("data") or {}).get(PRICING_KEY)
    if text is None:
        return Read(None, f"it has no key {PRICING_KEY}")
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        return Read(None, f"{PRICING_KEY} is not YAML: {error}")
    try:
        return Read(PricingSettings.model_validate(raw), None)
    except ValidationError as error:
        return Read(None, format_validation_error(error, PRICING_KEY).replace("\n", "; "))


def catalog_with(read: Read | None, origin: str, base: Catalog) -> Catalog:
    """The catalog to plan with, given what the ConfigMap held (None: there is none)."""
    if read is None:
        return base
    if read.settings is None:
        return ignored(base, origin, str(read.problem))
    try:
        return priced(base, read.settings, origin)
    except PricingError as error:
        return ignored(base, origin, f"{PRICING_KEY}: {error}")


class PricingWatch:
    """The ConfigMap `namespace/name`; `changed()` is told when it changes (its thread)."""

    def __init__(self, api: client.ApiClient, reference: str, changed: Callable[[], None]) -> None:
        namespace, _, name = reference.partition("/")
        if not namespace or not name:
            raise ValueError(f"pricing ConfigMap {reference!r}: give it as namespace/name")
        self.key = (namespace, name)
        self.origin = f"pricing ConfigMap {reference}"
        self.informer: Informer[Read] = Informer(
            api,
            f"/api/v1/namespaces/{namespace}/configmaps",
            read_pricing,
            field_selector=f"metadata.name={name}",
            changed=lambda *_: changed(),
        )
        self._built: tuple[int, Catalog] | None = None

    def start(self) -> None:
        self.informer.start()

    def stop(self) -> None:
        self.informer.stop()

    def synced(self) -> bool:
        return self.informer.served is not None

    def catalog(self) -> Catalog:
        version = self.informer.version
        if self._built is None or self._built[0] != version:
            read = self.informer.get(self.key)
            self._built = (version, catalog_with(read, self.origin, load_catalog()))
        return self._built[1]
