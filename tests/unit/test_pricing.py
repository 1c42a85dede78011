"""Your prices (api/pricing.py, sizing/pricing.py, controller/pricing_watch.py): they replace
the list prices, each plan says where its price came from, Spot maps to Karpenter's capacity
type on the pods, a type without a public price becomes choosable, and bad settings are named
and ignored rather than half-used."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from pydantic import ValidationError

from neuron_operator.api.pricing import PricingSettings
from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.controller.pricing_watch import catalog_with, read_pricing
from neuron_operator.controller.reconcile import decide
from neuron_operator.controller.settings import Settings
from neuron_operator.controller.status import compute_status, status_document
from neuron_operator.sizing import plan
from neuron_operator.sizing.catalog import load_catalog
from neuron_operator.sizing.pricing import PricingError, priced

LLAMA: dict[str, Any] = {
    "model": {"family": "transformer-decoder", "parameters": "8B", "sequenceLength": 2048},
    "objective": "cost",
    "template": {"spec": {"containers": [{"name": "server", "image": "s:1"}]}},
}
ORIGIN = "pricing ConfigMap ops/prices"


def with_prices(raw: dict[str, Any]) -> Any:
    return priced(load_catalog(), PricingSettings.model_validate(raw), ORIGIN)


def test_a_price_for_trn2_lets_the_cost_objective_choose_it() -> None:
    listed = plan(LLAMA)
    assert not str(listed.instance_type).startswith("trn2")
    unpriced = {
        r.instance_type: r for r in listed.rejections() if r.instance_type.startswith("trn2")
    }
    assert {r.reason for r in unpriced.values()} == {"PriceUnknown"}
    assert "pricing ConfigMap" in unpriced["trn2.3xlarge"].message  # says how to fix it
    catalog = with_prices(
        {"source": "our EDP", "instanceTypes": {"trn2.3xlarge": {"onDemand": 1.0}}}
    )
    ours = plan(LLAMA, catalog)
    assert ours.instance_type == "trn2.3xlarge"
    assert ours.price_source == f"{ORIGIN} (our EDP): on-demand 1.0"
    assert ours.pricing == catalog.pricing is not None
    assert listed.price_source is not None
    assert listed.price_source.startswith("catalog list price, on-demand us-east-1, as of 20")


def test_a_family_discount_scales_on_demand_and_says_so() -> None:
    listed = plan(LLAMA)
    assert listed.estimate is not None and listed.estimate.hourly_cost is not None
    ours = plan(LLAMA, with_prices({"discounts": {"inf2": 0.5}}))
    assert ours.instance_type == listed.instance_type == "inf2.xlarge"
    assert ours.estimate is not None and ours.estimate.hourly_cost is not None
    assert ours.estimate.hourly_cost == pytest.approx(listed.estimate.hourly_cost * 0.5)
    assert ours.price_source is not None and "× inf2 discount 0.5" in ours.price_source


def test_spot_prices_plan_only_types_with_one_and_require_spot_nodes() -> None:
    catalog = with_prices(
        {"capacityType": "spot", "instanceTypes": {"trn1.2xlarge": {"spot": 0.4}}}
    )
    ours = plan(LLAMA, catalog)
    assert (ours.instance_type, ours.capacity_type) == ("trn1.2xlarge", "spot")
    rejected = {r.instance_type: r for r in ours.rejections()}
    assert rejected["inf2.xlarge"].reason == "PriceUnknown"
    assert "no spot price for inf2.xlarge" in rejected["inf2.xlarge"].message
    body = {
        "metadata": {"name": "l", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": LLAMA,
    }
    decision = decide(body, NeuronDeploymentStatus(), Settings(), catalog=catalog)
    assert decision.desired is not None
    terms = decision.desired["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert all(
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}
        in term["matchExpressions"]
        for term in terms
    )


def test_new_prices_make_the_plan_again_the_same_prices_keep_it() -> None:
    body = {
        "metadata": {"name": "l", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": LLAMA,
    }
    first = decide(body, NeuronDeploymentStatus(), Settings())
    assert first.plan_in_effect is not None
    status = NeuronDeploymentStatus.model_validate(
        status_document(
            compute_status(
                body, NeuronDeploymentStatus(), first.verdict, first.plan_in_effect, None, "t"
            )
        )
    )
    again = decide(copy.deepcopy(body), status, Settings())
    assert again.plan_in_effect == first.plan_in_effect.record()  # as the status keeps it
    cheap_trn2 = with_prices({"instanceTypes": {"trn2.3xlarge": {"onDemand": 1.0}}})
    repriced = decide(copy.deepcopy(body), status, Settings(), catalog=cheap_trn2)
    # trn2's NeuronCore-v3 needs the model compiled again: held until the user says it is.
    assert repriced.verdict.reason == "RecompileRequired"
    assert repriced.plan_in_effect == first.plan_in_effect.record() and repriced.desired is None
    asked = re.search(r"neuron\.dev/recompiled-for=([^\s);]+)", repriced.verdict.message)
    assert asked is not None and "neuroncore=v3" in asked.group(1)
    body["metadata"]["annotations"] = {"neuron.dev/recompiled-for": asked.group(1)}
    acknowledged = decide(copy.deepcopy(body), status, Settings(), catalog=cheap_trn2)
    assert acknowledged.plan_in_effect is not None
    assert acknowledged.plan_in_effect.instance_type == "trn2.3xlarge"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"instanceTypes": {"trn9.huge": {"onDemand": 1}}}, "instanceTypes: trn9.huge not in"),
        ({"discounts": {"p5": 0.5}}, "discounts: p5 not an instance family"),
    ],
)
def test_names_the_catalog_lacks_are_refused_by_name(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(PricingError, match=problem):
        with_prices(raw)


def test_a_factor_that_is_no_discount_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"discounts\.inf2: 1\.3 is not a discount factor"):
        PricingSettings.model_validate({"discounts": {"inf2": 1.3}})


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "it has no key pricing.yaml"),
        ({"pricing.yaml": "instanceTypes: [unclosed"}, "pricing.yaml is not YAML"),
        ({"pricing.yaml": "capacityType: reserved"}, "pricing.yaml.capacityType"),
        ({"pricing.yaml": "discounts: {p5: 0.5}"}, "discounts: p5 not an instance family"),
    ],
)
def test_an_unreadable_configmap_leaves_list_prices_that_say_why(
    data: dict[str, str], problem: str
) -> None:
    catalog = catalog_with(read_pricing({"data": data}), ORIGIN, load_catalog())
    assert catalog.pricing is not None and catalog.pricing.startswith("unreadable-")
    instance = catalog.get("inf2.xlarge")
    assert instance is not None and instance.price_per_hour == 0.7582
    assert f"{ORIGIN} ignored: " in instance.price_source
    assert problem in instance.price_source


def test_no_configmap_is_the_list_prices() -> None:
    assert catalog_with(None, ORIGIN, load_catalog()) is load_catalog()
