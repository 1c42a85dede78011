"""Your prices: the operator-level pricing settings, as a ConfigMap's `pricing.yaml` holds them.

Real teams pay their own prices (Savings Plans, Spot, private pricing), and some instance types
(trn2) have no public on-demand price at all, so the cost objective could never choose them.
These settings replace the catalog's list prices for planning; every plan says where each price
came from (`Option.priceSource`).

    source: our 2026 private pricing     # how plans name these prices
    capacityType: spot                   # or on-demand; unset: no constraint
    instanceTypes:
      trn2.48xlarge: {onDemand: 35.76, spot: 14.30}
      inf2.xlarge: {onDemand: 0.70}
    discounts:                           # a Savings Plan or discount, per family: × on-demand
      inf2: 0.72
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum

from pydantic import Field, model_validator

from neuron_operator.api.v1alpha1 import ApiModel

PRICING_KEY = "pricing.yaml"  # the ConfigMap's key


class CapacityType(StrEnum):
    ON_DEMAND = "on-demand"
    SPOT = "spot"


class TypePrice(ApiModel):
    on_demand: float | None = Field(default=None, gt=0, description="USD per hour, on-demand.")
    spot: float | None = Field(default=None, gt=0, description="USD per hour, Spot.")


class PricingSettings(ApiModel):
    source: str | None = Field(
        default=None, max_length=200, description="How plans name these prices."
    )
    capacity_type: CapacityType | None = Field(
        default=None,
        description=(
            "spot: plan with Spot prices and require Karpenter's karpenter.sh/capacity-type=spot "
            "nodes; on-demand: on-demand prices (discounts applied), on-demand nodes required. "
            "Unset: on-demand prices, no constraint on the nodes."
        ),
    )
    instance_types: dict[str, TypePrice] = Field(
        default_factory=dict, description="Prices per instance type, e.g. trn2.48xlarge."
    )
    discounts: dict[str, float] = Field(
        default_factory=dict,
        description="Per family (inf1, inf2, trn1, trn1n, trn2): a factor on on-demand prices.",
    )

    @model_validator(mode="after")
    def _factors_are_discounts(self) -> PricingSettings:
        for family, factor in self.discounts.items():
            if not 0 < factor <= 1:
                raise ValueError(
                    f"discounts.{family}: {factor} is not a discount factor; give the share of "
                    "the on-demand price you pay, e.g. 0.72 for 28 % off"
                )
        return self

    def fingerprint(self) -> str:
        """Changes whenever the prices do: plans are made again then."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]
