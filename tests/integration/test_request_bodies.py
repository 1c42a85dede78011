"""The operator's request bodies on the real API server (controller/kube.py sends them encoded
by controller/codec.py, around the client's own encoder): a create (JSON), a JSON patch and a
server-side apply (YAML's content type) each arrive whole, text outside ASCII included."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.kube import get_deployment

from neuron_operator.controller.errors import TransientError
from neuron_operator.controller.kube import Kube

WORDS = "Größe ✓ — 模型 🚀"


def deployment(namespace: str, note: str) -> dict[str, Any]:
    labels = {"app": "bodies"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bodies", "namespace": namespace, "annotations": {"note": note}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "server", "image": "s:1"}]},
            },
        },
    }


def adopt_created_fields(ours: Kube, namespace: str) -> None:
    """The patch is preconditioned on the version it read; the Deployment controller writes
    the new Deployment's status meanwhile, and the operator retries then: so does the test."""
    for _ in range(50):
        try:
            ours.adopt_created_fields(namespace, "bodies")
            return
        except TransientError:
            time.sleep(0.1)
    pytest.fail("the Deployment kept changing under adopt_created_fields for 5 s")


def test_create_patch_and_apply_bodies_arrive_whole(kube: Any, namespace: str) -> None:
    ours = Kube(kube, "bodies-test")

    created = ours.create_deployment(deployment(namespace, WORDS))
    assert created["metadata"]["annotations"]["note"] == WORDS  # the answer, decoded
    adopt_created_fields(ours, namespace)  # a JSON patch of managedFields
    adopted = get_deployment(kube, namespace, "bodies") or {}
    ours_now = [e for e in adopted["metadata"]["managedFields"] if e["manager"] == "bodies-test"]
    assert [e["operation"] for e in ours_now] == ["Apply"]  # was the create's Update
    applied = ours.apply_deployment(deployment(namespace, WORDS + " (applied)"))

    live = get_deployment(kube, namespace, "bodies") or {}
    assert live["metadata"]["annotations"]["note"] == WORDS + " (applied)"
    assert live["metadata"]["resourceVersion"] == applied["metadata"]["resourceVersion"]
