"""The training renderers (controller/training.py): an Indexed Job of whole nodes with their
EFA, the rendezvous environment torchrun and the Neuron runtime read, and the headless Service
worker 0 is found by."""

from __future__ import annotations

from typing import Any

from neuron_operator.controller.render import shared_memory_mib
from neuron_operator.controller.training import (
    COMPLETION_INDEX,
    render_job,
    render_workers_service,
)
from neuron_operator.sizing import plan

BODY = {"metadata": {"name": "bert", "namespace": "ml", "uid": "u", "generation": 1}}
TEMPLATE: dict[str, Any] = {
    "spec": {
        "containers": [
            {
                "name": "trainer",
                "image": "t:1",
                "env": [{"name": "MASTER_PORT", "value": "1"}, {"name": "EPOCHS", "value": "3"}],
                "resources": {"requests": {"memory": "100Gi"}},
            }
        ]
    }
}
ON_TRN1_32XL = {
    "workload": "training",
    "model": {"family": "transformer-encoder", "parameters": "340M", "sequenceLength": 128},
    "overrides": {"instanceType": "trn1.32xlarge", "replicas": 64, "coresPerReplica": 1},
    "objective": "throughput",
}


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_a_run_is_an_indexed_job_of_whole_nodes_with_their_efa() -> None:
    chosen = plan(ON_TRN1_32XL)
    assert chosen.nodes == 2
    job = render_job(BODY, TEMPLATE, chosen, run=3, backoff_limit=1)
    assert job["metadata"]["name"] == "bert-run3"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u"
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    assert spec["backoffLimit"] == 1
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["subdomain"] == "bert-workers"
    (worker,) = pod["containers"]
    resources = worker["resources"]
    for table in (resources["requests"], resources["limits"]):
        assert table["aws.amazon.com/neuron"] == "16"  # all of trn1.32xlarge's devices
        assert table["vpc.amazonaws.com/efa"] == "8"  # and all its EFA interfaces
        assert "aws.amazon.com/neuroncore" not in table
    assert resources["requests"]["memory"] == "100Gi"  # the user's figure wins
    assert {"name": "dshm", "mountPath": "/dev/shm"} in worker["volumeMounts"]
    (shm,) = [v for v in pod["volumes"] if v["name"] == "dshm"]
    assert shm["emptyDir"]["medium"] == "Memory"
    assert (
        shm["emptyDir"]["sizeLimit"]
        == f"{shared_memory_mib(worker['resources']['limits']['memory'])}Mi"
    )
    found = env(worker)
    assert found["MASTER_ADDR"] == "bert-run3-0.bert-workers"
    assert found["MASTER_PORT"] == "29500"  # the rendezvous port is ours, not the template's
    assert (found["WORLD_SIZE"], found["NNODES"], found["NPROC_PER_NODE"]) == ("2", "2", "32")
    assert found["NODE_RANK"] == {"fieldRef": {"fieldPath": COMPLETION_INDEX}}
    assert found["NEURON_RT_ROOT_COMM_ID"] == "bert-run3-0.bert-workers:62128"
    assert (found["FI_PROVIDER"], found["FI_EFA_USE_DEVICE_RDMA"]) == ("efa", "1")
    assert found["EPOCHS"] == "3"
    assert spec["template"]["metadata"]["labels"]["neuron.dev/run"] == "3"
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][-1]["values"] == ["trn1.32xlarge"]


def test_a_size_without_efa_gets_neither_efa_nor_its_environment() -> None:
    # One node: a run across trn1.2xlarge nodes is refused (no EFA, test_training_sizing.py).
    small = {**ON_TRN1_32XL, "overrides": {"instanceType": "trn1.2xlarge", "replicas": 2}}
    job = render_job(BODY, TEMPLATE, plan(small), run=1, backoff_limit=0)
    assert job["spec"]["completions"] == 1
    (worker,) = job["spec"]["template"]["spec"]["containers"]
    assert "vpc.amazonaws.com/efa" not in worker["resources"]["requests"]
    assert "FI_PROVIDER" not in env(worker)
    assert worker["resources"]["requests"]["aws.amazon.com/neuron"] == "1"


def test_the_headless_service_selects_the_runs_pods_even_before_they_are_ready() -> None:
    service = render_workers_service(BODY, run=3)
    assert service["metadata"]["name"] == "bert-workers"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == {"batch.kubernetes.io/job-name": "bert-run3"}
