"""Your prices on the real API server: a pricing ConfigMap (read through the chart's RBAC,
that one ConfigMap only) changes what the operator chooses, each plan says where its price came
from, and plans are made again when the prices change or go."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import yaml
from conftest import OPERATOR_NAMESPACE, PRICING_CONFIGMAP
from kubernetes import client
from tests.kube import (
    Cluster,
    condition,
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


def planned(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    return condition(get_ndep(kube, namespace, name), "Planned")


def test_new_prices_move_a_compiled_pin_within_its_shapes_and_hold_a_shape_change(
    cluster: Cluster, kube: Any, namespace: str, operator: Any, no_prices: None
) -> None:
    """Two copies of one model: `pinned` says its artifact's shapes (spec.compiled), `llama`
    does not. A price change makes a bigger size cheapest: `pinned` moves to it with its tensor
    parallel degree and batch; `llama` would move to other shapes, so it keeps running until the
    user acknowledges them; the prices going back moves each again the same way."""
    create_ndep(kube, namespace, neurondeployment("llama", LLAMA))
    pinned_spec = {**LLAMA, "compiled": {"tensorParallelDegree": 2, "batchSize": 8}}
    create_ndep(kube, namespace, neurondeployment("pinned", pinned_spec))
    for name in ("llama", "pinned"):
        listed = wait_until(f"{name}'s plan", partial(status_plan, kube, namespace, name))
        assert listed["instanceType"] == "inf2.xlarge"
        assert listed["parallelism"]["degree"] == 2 and listed["batchSize"] == 8
        assert listed["priceSource"].startswith("catalog list price")
        assert "pricing" not in listed

    settings = {"source": "our EDP", "instanceTypes": {"inf2.24xlarge": {"onDemand": 0.2}}}
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": PRICING_CONFIGMAP, "namespace": OPERATOR_NAMESPACE},
        "data": {"pricing.yaml": yaml.safe_dump(settings)},
    }
    cluster.run("apply", "-f", "-", stdin=yaml.safe_dump(configmap))

    def on(name: str, instance_type: str) -> dict[str, Any] | None:
        plan = status_plan(kube, namespace, name)
        return plan if plan.get("instanceType") == instance_type else None

    moved = wait_until("pinned at our prices", lambda: on("pinned", "inf2.24xlarge"), timeout=60)
    assert moved["parallelism"]["degree"] == 2 and moved["batchSize"] == 8  # the pin held
    assert moved["priceSource"] == (
        f"pricing ConfigMap {OPERATOR_NAMESPACE}/{PRICING_CONFIGMAP} (our EDP): on-demand 0.2"
    )
    assert planned(kube, namespace, "pinned")["status"] == "True"
    wait_until(  # events are posted after the status is written
        "the PlanChanged event",
        lambda: "PlanChanged" in [e["reason"] for e in events_for(kube, namespace, "pinned")],
    )

    held = wait_until(
        "llama held for a recompile",
        lambda: (lambda c: c if c.get("reason") == "RecompileRequired" else None)(
            planned(kube, namespace, "llama")
        ),
        timeout=60,
    )
    assert status_plan(kube, namespace, "llama")["instanceType"] == "inf2.xlarge"
    deployment = get_deployment(kube, namespace, "llama")
    assert deployment is not None and "inf2.xlarge" in str(deployment["spec"]["template"])
    asked = re.search(r"neuron\.dev/recompiled-for=([^\s);]+)", held["message"])
    assert asked is not None
    annotate(kube, namespace, "llama", asked.group(1))
    acknowledged = wait_until("llama acknowledged", lambda: on("llama", "inf2.24xlarge"))
    assert f"tp={acknowledged['parallelism']['degree']}" in asked.group(1)

    # The prices go: the pin moves back; llama's shapes would change again, and are held.
    cluster.run("delete", "configmap", PRICING_CONFIGMAP, f"-n={OPERATOR_NAMESPACE}")
    back = wait_until("pinned at list prices", lambda: on("pinned", "inf2.xlarge"), timeout=60)
    assert back["priceSource"].startswith("catalog list price")
    wait_until(
        "llama held again",
        lambda: planned(kube, namespace, "llama").get("reason") == "RecompileRequired",
        timeout=60,
    )
    assert status_plan(kube, namespace, "llama")["instanceType"] == "inf2.24xlarge"


def annotate(kube: Any, namespace: str, name: str, value: str) -> None:
    client.CustomObjectsApi(kube).patch_namespaced_custom_object(
        "neuron.dev",
        "v1alpha1",
        namespace,
        "neurondeployments",
        name,
        {"metadata": {"annotations": {"neuron.dev/recompiled-for": value}}},
    )


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
