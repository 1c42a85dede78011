"""The Neuron scheduler extension's part on the real API server: a plan whose pods need
side-by-side cores, with no scheduler extension configured (the operator under test has none),
is flagged by the ContiguousCores condition and a warning event; a one-core plan is not."""

from __future__ import annotations

from typing import Any

from tests.kube import condition, create_ndep, events_for, get_ndep, neurondeployment, wait_until

SERVER = {"spec": {"containers": [{"name": "server", "image": "registry.k8s.io/pause:3.10"}]}}
MODEL = {"family": "cnn", "parameters": "25.6M", "gflopsPerInference": 8.2}


def test_a_plan_needing_contiguous_cores_without_the_extension_is_flagged(
    kube: Any, namespace: str, operator: Any
) -> None:
    spread = {
        "model": MODEL,
        "overrides": {"instanceType": "inf2.48xlarge", "coresPerReplica": 4, "replicas": 1},
        "template": SERVER,
    }
    single = {**spread, "overrides": {"instanceType": "inf2.xlarge", "replicas": 1}}
    create_ndep(kube, namespace, neurondeployment("spread", spread))
    create_ndep(kube, namespace, neurondeployment("single", single))
    found = wait_until(
        "ContiguousCores on spread",
        lambda: condition(get_ndep(kube, namespace, "spread"), "ContiguousCores"),
    )
    assert (found["status"], found["reason"]) == ("False", "NoNeuronScheduler")
    assert "4 aws.amazon.com/neuroncore on inf2.48xlarge" in found["message"]
    warnings = wait_until(  # events are posted after the status is written
        "the NoNeuronScheduler event",
        lambda: [
            e for e in events_for(kube, namespace, "spread") if e["reason"] == "NoNeuronScheduler"
        ],
    )
    assert [e["type"] for e in warnings] == ["Warning"]
    wait_until(
        "single planned",
        lambda: condition(get_ndep(kube, namespace, "single"), "Planned").get("status") == "True",
    )
    assert condition(get_ndep(kube, namespace, "single"), "ContiguousCores") == {}
