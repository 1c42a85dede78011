"""The catalog with your prices (api/pricing.py) in place of its list prices. Pure.

For each instance type, in order: Spot (capacityType spot) is the Spot price given, or unknown;
on-demand is the price given, else the catalog's list price, times the family's discount. Each
type says where its price came from, and the plans say it with every option.
"""

from __future__ import annotations

import dataclasses
import hashlib

from neuron_operator.api.pricing import CapacityType, PricingSettings
from neuron_operator.sizing.catalog import Catalog, InstanceType


class PricingError(ValueError):
    """Settings that name what the catalog lacks."""


def _check_names(catalog: Catalog, settings: PricingSettings) -> None:
    known_types = {i.name for i in catalog.instances}
    unknown = sorted(set(settings.instance_types) - known_types)
    if unknown:
        raise PricingError(
            f"instanceTypes: {', '.join(unknown)} not in the catalog "
            f"(known: {', '.join(sorted(known_types))})"
        )
    unknown = sorted(set(settings.discounts) - set(catalog.families))
    if unknown:
        raise PricingError(
            f"discounts: {', '.join(unknown)} not an instance family "
            f"(known: {', '.join(catalog.families)})"
        )


def _priced(instance: InstanceType, settings: PricingSettings, origin: str) -> InstanceType:
    given = settings.instance_types.get(instance.name)
    if settings.capacity_type == CapacityType.SPOT:
        price = given.spot if given else None
        source = (
            f"{origin}: spot {price}"
            if price is not None
            else f"no spot price for {instance.name} in {origin}"
        )
        return dataclasses.replace(instance, price_per_hour=price, price_source=source)
    base, source = instance.price_per_hour, instance.price_source
    if given is not None and given.on_demand is not None:
        base, source = given.on_demand, f"{origin}: on-demand {given.on_demand}"
    factor = settings.discounts.get(instance.family)
    if factor is not None and base is not None:
        source = f"{source} × {instance.family} discount {factor} ({origin})"
        base = round(base * factor, 6)
    return dataclasses.replace(instance, price_per_hour=base, price_source=source)


def priced(catalog: Catalog, settings: PricingSettings, origin: str) -> Catalog:
    """The catalog with these prices; `origin` names where they came from (the ConfigMap, and
    the settings' own `source`). Raises PricingError naming an unknown type or family."""
    _check_names(catalog, settings)
    where = f"{origin} ({settings.source})" if settings.source else origin
    return Catalog(
        version=catalog.version,
        instances=tuple(_priced(i, settings, where) for i in catalog.instances),
        pricing=settings.fingerprint(),
        capacity_type=settings.capacity_type.value if settings.capacity_type else None,
    )


def ignored(catalog: Catalog, origin: str, why: str) -> Catalog:
    """The catalog's list prices, each saying why your prices were not used: a pricing setting
    that cannot be read is an administrator's mistake, and every plan shows it."""
    return Catalog(
        version=catalog.version,
        instances=tuple(
            dataclasses.replace(i, price_source=f"{i.price_source}; {origin} ignored: {why}")
            for i in catalog.instances
        ),
        pricing="unreadable-" + hashlib.sha256(why.encode()).hexdigest()[:8],
    )
