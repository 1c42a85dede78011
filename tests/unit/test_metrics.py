"""Metrics read from the operator's store: what is planned where, and what cannot run."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from neuron_operator.controller.digest import plan_summary
from neuron_operator.controller.metrics import PlanCollector
from neuron_operator.controller.store import Store


def ndep(name: str, version: int, instance_type: str | None, planned: str, reason: str) -> Any:
    status: dict[str, Any] = {
        "conditions": [{"type": "Planned", "status": planned, "reason": reason}]
    }
    if instance_type:
        status["plan"] = {"instanceType": instance_type}
    metadata = {"namespace": "ml", "name": name, "resourceVersion": str(version)}
    return {"metadata": metadata, "status": status}


def scrape(store: Store, lag: float = 0.0) -> str:
    registry = CollectorRegistry()
    registry.register(PlanCollector(store, lambda: lag))
    return generate_latest(registry).decode()


def test_planned_by_instance_type_and_unplanned_by_reason() -> None:
    store = Store(summarize=plan_summary)
    store.observe(ndep("a", 1, "inf2.xlarge", "True", "Planned"))
    store.observe(ndep("b", 2, "inf2.xlarge", "True", "Planned"))
    store.observe(ndep("c", 3, "trn1.32xlarge", "True", "Planned"))
    # Edited into a spec that cannot run: still counted where it runs, and as unplanned.
    store.observe(ndep("d", 4, "inf1.xlarge", "False", "ModelTooLarge"))
    store.observe(ndep("e", 5, None, "False", "InvalidSpec"))
    text = scrape(store, lag=2.5)
    assert 'neuron_operator_neurondeployments_planned{instance_type="inf2.xlarge"} 2.0' in text
    assert 'neuron_operator_neurondeployments_planned{instance_type="trn1.32xlarge"} 1.0' in text
    assert 'neuron_operator_neurondeployments_planned{instance_type="inf1.xlarge"} 1.0' in text
    assert 'neuron_operator_neurondeployments_unplanned{reason="ModelTooLarge"} 1.0' in text
    assert 'neuron_operator_neurondeployments_unplanned{reason="InvalidSpec"} 1.0' in text
    assert "neuron_operator_watch_lag_seconds 2.5" in text


def test_a_deleted_object_is_no_longer_counted() -> None:
    store = Store(summarize=plan_summary)
    store.observe(ndep("a", 1, "inf2.xlarge", "True", "Planned"))
    store.forget(ndep("a", 2, "inf2.xlarge", "True", "Planned"))
    assert "instance_type=" not in scrape(store)


def test_api_errors_are_counted_by_status_and_classified() -> None:
    from kubernetes.client.exceptions import ApiException

    from neuron_operator.controller.errors import Forbidden, TransientError, UserError
    from neuron_operator.controller.kube import classify
    from neuron_operator.controller.metrics import REGISTRY

    def count(code: str) -> float:
        value = REGISTRY.get_sample_value("neuron_operator_api_errors_total", {"code": code})
        return value or 0.0

    before = count("409"), count("422"), count("403"), count("network")
    assert isinstance(classify(ApiException(status=409, reason="Conflict")), TransientError)
    assert isinstance(classify(ApiException(status=422, reason="Invalid")), UserError)
    assert isinstance(classify(ApiException(status=409, reason="Conflict")), TransientError)
    assert isinstance(classify(ApiException(status=403, reason="Forbidden")), Forbidden)
    assert isinstance(classify(ConnectionResetError("reset by peer")), TransientError)
    after = count("409"), count("422"), count("403"), count("network")
    assert after == (before[0] + 2, before[1] + 1, before[2] + 1, before[3] + 1)
