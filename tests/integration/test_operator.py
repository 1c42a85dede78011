"""The operator against a real API server (the local control plane), running as a subprocess."""

from __future__ import annotations

import copy
import json
import re
import urllib.error
import urllib.request
from functools import partial
from typing import Any

import yaml
from conftest import LIVENESS_PORT, METRICS_PORT
from kubernetes import client
from tests.kube import (
    Cluster,
    condition,
    create_ndep,
    events_for,
    get_deployment,
    get_ndep,
    neurondeployment,
    node_instance_type,
    patch_ndep_spec,
    pods,
    wait_until,
)

from neuron_operator.sizing import plan

SERVER: dict[str, Any] = {
    "spec": {"containers": [{"name": "server", "image": "registry.k8s.io/pause:3.10"}]}
}
RESNET: dict[str, Any] = {
    "model": {"family": "cnn", "parameters": "25.6M", "gflopsPerInference": 8.2},
    "overrides": {"instanceType": "inf2.xlarge", "replicas": 1},
    "template": SERVER,
}
INFEASIBLE: dict[str, Any] = {  # decoders are not a good fit for Inf1
    "model": {"family": "transformer-decoder", "parameters": "7B"},
    "constraints": {"instanceFamilies": ["inf1"]},
    "template": SERVER,
}


def ndep_condition(kube: Any, namespace: str, name: str, kind: str, status: str) -> dict[str, Any]:
    found = condition(get_ndep(kube, namespace, name), kind)
    return found if found.get("status") == status else {}


def ready(kube: Any, namespace: str, name: str) -> dict[str, Any] | None:
    body = get_ndep(kube, namespace, name)
    generation = (body or {}).get("metadata", {}).get("generation")
    found = condition(body, "Ready")
    if found.get("status") == "True" and found.get("observedGeneration") == generation:
        return body
    return None


def running_pods(kube: Any, namespace: str, name: str, count: int) -> list[dict[str, Any]]:
    found = [
        p
        for p in pods(kube, namespace, f"neuron.dev/neurondeployment={name}")
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]
    return found if len(found) == count else []


def test_apply_creates_a_placed_deployment_and_becomes_ready(
    kube: Any, namespace: str, operator: Any
) -> None:
    create_ndep(kube, namespace, neurondeployment("resnet", RESNET))
    body = wait_until(
        "NeuronDeployment resnet Ready", partial(ready, kube, namespace, "resnet"), timeout=90
    )
    expected = plan(RESNET)
    status_plan = body["status"]["plan"]
    assert status_plan["instanceType"] == expected.instance_type == "inf2.xlarge"
    assert status_plan["coresPerReplica"] == expected.cores_per_replica
    assert status_plan["catalogVersion"] == expected.catalog_version
    assert body["status"]["readySummary"] == "1/1"

    deployment = get_deployment(kube, namespace, "resnet")
    assert deployment is not None
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == (
        "NeuronDeployment",
        "resnet",
        True,
    )
    pod_spec = deployment["spec"]["template"]["spec"]
    server = pod_spec["containers"][0]
    cores = str(expected.cores_per_replica)
    assert server["resources"]["limits"]["aws.amazon.com/neuroncore"] == cores
    assert server["resources"]["requests"]["aws.amazon.com/neuroncore"] == cores
    assert {"cpu", "memory"} <= server["resources"]["requests"].keys()
    term = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert {
        "key": "node.kubernetes.io/instance-type",
        "operator": "In",
        "values": ["inf2.xlarge"],
    } in term["nodeSelectorTerms"][0]["matchExpressions"]
    assert {
        "key": "aws.amazon.com/neuron",
        "operator": "Exists",
        "effect": "NoSchedule",
    } in pod_spec["tolerations"]
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["NEURON_RT_NUM_CORES"] == cores
    assert env["NEURON_PLAN_BATCH_SIZE"] == str(expected.batch_size)

    [pod] = running_pods(kube, namespace, "resnet", 1)
    assert node_instance_type(kube, pod["spec"]["nodeName"]) == "inf2.xlarge"
    # Its creation is no news to whoever created it: the status says it, and no event is
    # posted (issue 15: one write fewer per object and change).
    assert events_for(kube, namespace, "resnet") == []


def test_a_model_update_rolls_out_the_new_plan(kube: Any, namespace: str, operator: Any) -> None:
    create_ndep(kube, namespace, neurondeployment("resnet", RESNET))
    wait_until("first plan Ready", partial(ready, kube, namespace, "resnet"), timeout=90)
    patch_ndep_spec(kube, namespace, "resnet", {"overrides": {"instanceType": "trn1.2xlarge"}})
    body = wait_until("new plan Ready", partial(ready, kube, namespace, "resnet"), timeout=90)
    assert body["status"]["plan"]["instanceType"] == "trn1.2xlarge"
    [pod] = wait_until(
        "one pod on the new node type",
        partial(running_pods, kube, namespace, "resnet", 1),
        timeout=60,
    )
    assert node_instance_type(kube, pod["spec"]["nodeName"]) == "trn1.2xlarge"
    reasons = [e["reason"] for e in events_for(kube, namespace, "resnet")]
    assert "PlanChanged" in reasons and "DeploymentUpdated" in reasons


def test_an_infeasible_spec_is_explained_and_creates_nothing(
    kube: Any, namespace: str, operator: Any
) -> None:
    create_ndep(kube, namespace, neurondeployment("llm", INFEASIBLE))
    planned = wait_until(
        "Planned=False", partial(ndep_condition, kube, namespace, "llm", "Planned", "False")
    )
    assert planned["reason"] == "ArchitectureNotAGoodFit"
    assert "allow inf2 or trn1" in planned["message"]
    assert get_deployment(kube, namespace, "llm") is None
    warnings = [e for e in events_for(kube, namespace, "llm") if e["type"] == "Warning"]
    assert any(e["reason"] == "ArchitectureNotAGoodFit" for e in warnings)


def test_an_infeasible_edit_leaves_the_running_deployment_untouched(
    kube: Any, namespace: str, operator: Any
) -> None:
    create_ndep(kube, namespace, neurondeployment("resnet", RESNET))
    before = wait_until("Ready", partial(ready, kube, namespace, "resnet"), timeout=90)
    deployment_before = get_deployment(kube, namespace, "resnet")
    assert deployment_before is not None

    patch_ndep_spec(kube, namespace, "resnet", {"overrides": {"instanceType": "inf2.96xlarge"}})
    planned = wait_until(
        "Planned=False", partial(ndep_condition, kube, namespace, "resnet", "Planned", "False")
    )
    assert planned["reason"] == "UnknownInstanceType"
    assert "not applied" in planned["message"] and "still running" in planned["message"]
    after = get_ndep(kube, namespace, "resnet")
    assert after is not None
    assert after["status"]["plan"] == before["status"]["plan"]
    assert condition(after, "Ready")["reason"] == "NotPlanned"
    deployment_after = get_deployment(kube, namespace, "resnet")
    assert deployment_after is not None
    assert deployment_after["metadata"]["generation"] == deployment_before["metadata"]["generation"]
    assert deployment_after["spec"] == deployment_before["spec"]
    assert running_pods(kube, namespace, "resnet", 1), "the old pods keep serving"


def test_the_api_server_rejects_an_invalid_spec_naming_the_field(
    cluster: Cluster, namespace: str, crd_installed: None
) -> None:
    bad = copy.deepcopy(RESNET)
    bad["model"]["family"] = "banana"
    code, output = cluster.attempt(
        "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(neurondeployment("bad", bad))
    )
    assert code != 0
    assert "spec.model.family" in output and "banana" in output


def test_drift_is_reverted_and_others_labels_are_left_alone(
    kube: Any, namespace: str, operator: Any
) -> None:
    create_ndep(kube, namespace, neurondeployment("resnet", RESNET))
    wait_until("Ready", partial(ready, kube, namespace, "resnet"), timeout=90)
    apps = client.AppsV1Api(kube)
    apps.patch_namespaced_deployment(
        "resnet",
        namespace,
        {
            "metadata": {"labels": {"team": "search"}, "annotations": {"owner": "ml-platform"}},
            "spec": {"replicas": 3},
        },
    )

    def reverted() -> dict[str, Any] | None:
        deployment = get_deployment(kube, namespace, "resnet")
        return deployment if deployment and deployment["spec"]["replicas"] == 1 else None

    deployment = wait_until("replicas reverted to the plan's 1", reverted)
    assert deployment["metadata"]["labels"]["team"] == "search"
    assert deployment["metadata"]["annotations"]["owner"] == "ml-platform"


def test_a_deleted_deployment_is_recreated(kube: Any, namespace: str, operator: Any) -> None:
    create_ndep(kube, namespace, neurondeployment("resnet", RESNET))
    wait_until("Ready", partial(ready, kube, namespace, "resnet"), timeout=90)
    first = get_deployment(kube, namespace, "resnet")
    assert first is not None
    client.AppsV1Api(kube).delete_namespaced_deployment("resnet", namespace)

    def recreated() -> dict[str, Any] | None:
        deployment = get_deployment(kube, namespace, "resnet")
        if deployment and deployment["metadata"]["uid"] != first["metadata"]["uid"]:
            return deployment
        return None

    wait_until("the Deployment to be recreated", recreated)
    wait_until("Ready again", partial(ready, kube, namespace, "resnet"), timeout=90)


def test_deleting_the_neurondeployment_garbage_collects_its_deployment(
    kube: Any, namespace: str, operator: Any
) -> None:
    create_ndep(kube, namespace, neurondeployment("resnet", RESNET))
    wait_until("Deployment exists", partial(get_deployment, kube, namespace, "resnet"))
    client.CustomObjectsApi(kube).delete_namespaced_custom_object(
        "neuron.dev", "v1alpha1", namespace, "neurondeployments", "resnet"
    )
    wait_until(
        "the Deployment to be garbage-collected",
        lambda: get_deployment(kube, namespace, "resnet") is None,
        timeout=60,
    )


def test_a_forbidden_template_is_refused_with_the_field_named(
    kube: Any, namespace: str, operator: Any
) -> None:
    spec = copy.deepcopy(RESNET)
    spec["template"]["spec"]["hostNetwork"] = True
    spec["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    create_ndep(kube, namespace, neurondeployment("sneaky", spec))
    planned = wait_until(
        "Planned=False", partial(ndep_condition, kube, namespace, "sneaky", "Planned", "False")
    )
    assert planned["reason"] == "TemplateNotAllowed"
    assert "spec.template.spec.hostNetwork" in planned["message"]
    assert "spec.template.spec.containers[0].securityContext.privileged" in planned["message"]
    assert get_deployment(kube, namespace, "sneaky") is None


def test_events_are_posted_once_per_change_not_per_retry(
    kube: Any, namespace: str, operator: Any
) -> None:
    create_ndep(kube, namespace, neurondeployment("resnet", RESNET))
    wait_until("Ready", partial(ready, kube, namespace, "resnet"), timeout=90)
    # Several reconciles happen as the Deployment's status moves; the decision does not change.
    counts: dict[str, int] = {}
    for event in events_for(kube, namespace, "resnet"):
        counts[event["reason"]] = counts.get(event["reason"], 0) + int(event.get("count") or 1)
    assert counts == {}  # a creation posts none (above)
    # A change posts once: the plan moved, and the Deployment with it.
    patch_ndep_spec(kube, namespace, "resnet", {"overrides": {"instanceType": "trn1.2xlarge"}})
    wait_until("new plan Ready", partial(ready, kube, namespace, "resnet"), timeout=90)

    def posted() -> dict[str, int] | None:
        found: dict[str, int] = {}
        for event in events_for(kube, namespace, "resnet"):
            found[event["reason"]] = found.get(event["reason"], 0) + int(event.get("count") or 1)
        return found if {"PlanChanged", "DeploymentUpdated"} <= set(found) else None

    counts = wait_until("the change's events (posted in the background)", posted)
    assert counts["PlanChanged"] == 1
    assert counts["DeploymentUpdated"] == 1


def test_kubectl_get_shows_the_plan_and_scale_pins_replicas(
    cluster: Cluster, kube: Any, namespace: str, operator: Any
) -> None:
    create_ndep(kube, namespace, neurondeployment("resnet", RESNET))
    wait_until("Ready", partial(ready, kube, namespace, "resnet"), timeout=90)
    table = cluster.run("get", "ndep", "-n", namespace)
    header, row = table.splitlines()[:2]
    assert header.split() == [
        "NAME",
        "INSTANCE",
        "CORES/REPLICA",
        "REPLICAS",
        "COST/H",
        "READY",
        "AGE",
    ]
    assert row.split()[:6] == [
        "resnet",
        "inf2.xlarge",
        str(plan(RESNET).cores_per_replica),
        "1/1",
        "0.7582",
        "True",
    ]
    cluster.run("scale", "ndep/resnet", "-n", namespace, "--replicas=2")

    def scaled() -> dict[str, Any] | None:
        deployment = get_deployment(kube, namespace, "resnet")
        return deployment if deployment and deployment["spec"]["replicas"] == 2 else None

    wait_until("the Deployment scaled to 2", scaled)
    body = get_ndep(kube, namespace, "resnet")
    assert body is not None and body["spec"]["overrides"]["replicas"] == 2


def test_kubectl_neuron_explain_shows_the_live_plan(
    cluster: Cluster, kube: Any, namespace: str, operator: Any
) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    create_ndep(kube, namespace, neurondeployment("resnet", RESNET))
    wait_until("Ready", partial(ready, kube, namespace, "resnet"), timeout=90)
    env = {**os.environ, "KUBECTL": str(cluster.kubectl), "KUBECONFIG": str(cluster.kubeconfig)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "kubectl-neuron"), "explain", "resnet", "-n", namespace],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "NeuronDeployment resnet" in done.stdout
    assert "inf2.xlarge" in done.stdout and "Rejected" in done.stdout
    assert "Ready      True" in done.stdout
    # The template leaves runAsNonRoot to the image: baseline, and what restricted needs.
    assert "Pod Security: its pods meet the baseline level" in done.stdout
    assert "spec.template.spec.containers[0].securityContext.runAsNonRoot" in done.stdout


def _http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _sample(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def test_metrics_readiness_and_liveness_endpoints(kube: Any, namespace: str, operator: Any) -> None:
    create_ndep(kube, namespace, neurondeployment("observed", RESNET))
    create_ndep(kube, namespace, neurondeployment("unplannable", INFEASIBLE))
    wait_until(
        "NeuronDeployment observed Ready", partial(ready, kube, namespace, "observed"), timeout=90
    )
    wait_until(
        "unplannable to be refused",
        partial(ndep_condition, kube, namespace, "unplannable", "Planned", "False"),
    )
    metrics_url = f"http://127.0.0.1:{METRICS_PORT}"
    code, text = _http_get(f"{metrics_url}/metrics")
    assert code == 200
    assert _sample(text, "neuron_operator_active") == 1  # standalone: always the one at work
    assert _sample(text, 'neuron_operator_reconciles_total{result="applied"}') >= 1
    assert _sample(text, 'neuron_operator_reconciles_total{result="refused"}') >= 1
    assert _sample(text, "neuron_operator_reconcile_duration_seconds_count") >= 2
    planned = 'neuron_operator_neurondeployments_planned{instance_type="inf2.xlarge"}'
    assert _sample(text, planned) >= 1
    reason = condition(get_ndep(kube, namespace, "unplannable"), "Planned")["reason"]
    assert _sample(text, f'neuron_operator_neurondeployments_unplanned{{reason="{reason}"}}') >= 1
    assert _http_get(f"{metrics_url}/readyz")[0] == 200
    code, health = _http_get(f"http://127.0.0.1:{LIVENESS_PORT}/healthz")
    assert code == 200, health
    assert json.loads(health)["watch"]["watchLagSeconds"] < 60


def test_logs_are_json_lines_naming_the_object(operator: Any) -> None:
    """Every line is one JSON object; every line about a NeuronDeployment or Deployment (kopf's
    per-object logger and ours) carries its namespace and name."""
    lines = operator.log.read_text(errors="replace").splitlines()
    records = [json.loads(line) for line in lines]
    about_objects = [r for r in records if r.get("object")]
    assert about_objects
    for record in about_objects:
        assert record["object"].get("namespace") and record["object"].get("name"), record
    announced = [r for r in about_objects if "DeploymentCreated" in r.get("message", "")]
    assert announced, "the operator's own decisions are logged with their object too"


def test_the_chart_rbac_sufficed_for_everything_above(operator: Any) -> None:
    """Runs last in this module: the operator (authenticated as the chart's ServiceAccount)
    was never refused by the API server's authorization."""
    log = operator.log.read_text(errors="replace")
    # Authorization refusals name the user; a namespace being deleted also answers 403, and
    # the tests delete theirs.
    refusals = re.findall(r'forbidden: User "[^"]+" cannot [^\n]*', log)
    assert not refusals, "\n".join(refusals[:5])
