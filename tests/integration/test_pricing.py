"""Your prices on the real API server: a pricing ConfigMap (read through the chart's RBAC,
that one ConfigMap only) changes what the operator chooses, each plan says where its price came
from, and plans are made again when the prices change or go."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from conftest import OPERATOR_NAMESPACE, PRICING_CONFIGMAP
from tests.kube import (
    Cluster,
    create_ndep,
    events_for,
    get_deployment,
    get_ndep,
    neurondeployment,
    wait_until,
)

LLAMA: dict[str, Any] = {
    "model": {"family": "transformer-decoder", "parameters": "8B", "sequenceLength": 2048},
    "objective": "cost",
    "template": {
        "spec": {"containers": [{"name": "server", "image": "registry.k8s.io/pause:3.10"}]}
    },
}


def status_plan(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = ((get_ndep(kube, namespace, name) or {}).get("status") or {}).get(
        "plan"
    ) or {}
    return found


@pytest.fixture
def no_prices(cluster: Cluster) -> Iterator[None]:
    """Whatever a test sets, the ConfigMap is gone afterwards."""
    yield
    cluster.run("delete", "configmap", PRICING_CONFIGMAP, f"-n={OPERATOR_NAMESPACE}", check=False)


def test_a_pricing_configmap_changes_the_choice_and_its_removal_changes_it_back(
    cluster: Cluster, kube: Any, namespace: str, operator: Any, no_prices: None
) -> None:
    create_ndep(kube, namespace, neurondeployment("llama", LLAMA))
    listed = wait_until("a plan", lambda: status_plan(kube, namespace, "llama"))
    assert listed["instanceType"] == "inf2.xlarge"
    assert listed["priceSource"].startswith("catalog list price")
    assert "pricing" not in listed

    # trn2 has no public price: with one, the cost objective may choose it.
    settings = {"source": "our EDP", "instanceTypes": {"trn2.3xlarge": {"onDemand": 1.0}}}
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": PRICING_CONFIGMAP, "namespace": OPERATOR_NAMESPACE},
        "data": {"pricing.yaml": yaml.safe_dump(settings)},
    }
    cluster.run("apply", "-f", "-", stdin=yaml.safe_dump(configmap))

    def on(instance_type: str) -> dict[str, Any] | None:
        plan = status_plan(kube, namespace, "llama")
        return plan if plan.get("instanceType") == instance_type else None

    ours = wait_until("the plan at our prices", lambda: on("trn2.3xlarge"), timeout=60)
    assert ours["priceSource"] == (
        f"pricing ConfigMap {OPERATOR_NAMESPACE}/{PRICING_CONFIGMAP} (our EDP): on-demand 1.0"
    )
    assert ours["estimate"]["hourlyCost"] == 1.0
    deployment = get_deployment(kube, namespace, "llama")
    assert deployment is not None
    assert '"trn2.3xlarge"' in str(deployment["spec"]["template"]["spec"]["affinity"]).replace(
        "'", '"'
    )
    wait_until(  # events are posted after the status is written
        "the PlanChanged event",
        lambda: "PlanChanged" in [e["reason"] for e in events_for(kube, namespace, "llama")],
    )

    # The prices go: the list prices are back, and with them the first choice.
    cluster.run("delete", "configmap", PRICING_CONFIGMAP, f"-n={OPERATOR_NAMESPACE}")
    back = wait_until("the plan at list prices", lambda: on("inf2.xlarge"), timeout=60)
    assert back["priceSource"].startswith("catalog list price")


def test_an_unreadable_configmap_is_named_in_every_plan(
    cluster: Cluster, kube: Any, namespace: str, operator: Any, no_prices: None
) -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": PRICING_CONFIGMAP, "namespace": OPERATOR_NAMESPACE},
        "data": {"pricing.yaml": "discounts: {inf2: 1.5}"},
    }
    cluster.run("apply", "-f", "-", stdin=yaml.safe_dump(configmap))
    create_ndep(kube, namespace, neurondeployment("llama", LLAMA))

    def named() -> dict[str, Any] | None:
        plan = status_plan(kube, namespace, "llama")
        return plan if "ignored" in plan.get("priceSource", "") else None

    plan = wait_until("a plan naming the bad setting", named, timeout=60)
    assert "discounts.inf2: 1.5 is not a discount factor" in plan["priceSource"]
    assert plan["instanceType"] == "inf2.xlarge"  # at list prices
