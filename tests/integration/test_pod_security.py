"""The Pod Security level the operator reports, held to the API server's PodSecurity admission
(issue 14, point 2): the same pods are created (dry run) in namespaces that enforce each level,
and the operator's NeuronDeployments run, or are refused with admission's words, in them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from conftest import fresh_namespace
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from tests.kube import condition, create_ndep, get_ndep, neurondeployment, wait_until

from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.controller.pod_security import Level, assess
from neuron_operator.controller.reconcile import decide
from neuron_operator.controller.settings import Settings

pytestmark = pytest.mark.cluster

NON_ROOT = {"runAsNonRoot": True, "runAsUser": 10001}
MODEL = {
    "model": {"family": "cnn", "parameters": "25M"},
    "overrides": {"instanceType": "inf2.xlarge", "coresPerReplica": 1, "replicas": 1},
}


def server(**fields: Any) -> dict[str, Any]:
    return {"name": "server", "image": "registry.example/server:1", **fields}


def rendered(template: dict[str, Any]) -> dict[str, Any]:
    """The pod template the operator renders for `template`."""
    body = {
        "metadata": {"name": "m", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {**MODEL, "template": template},
    }
    decision = decide(body, NeuronDeploymentStatus(), Settings())
    assert decision.desired is not None, decision.verdict.message
    pod: dict[str, Any] = decision.desired["spec"]["template"]
    return pod


def raw(spec: dict[str, Any]) -> dict[str, Any]:
    """A pod template as given, for what the operator's policy refuses before rendering."""
    return {"spec": spec}


CASES: dict[str, dict[str, Any]] = {
    # What the operator renders.
    "rendered root": rendered({"spec": {"containers": [server()]}}),
    "rendered non-root": rendered(
        {"spec": {"securityContext": NON_ROOT, "containers": [server()]}}
    ),
    "rendered non-root, port 80": rendered(
        {
            "spec": {
                "securityContext": NON_ROOT,
                "containers": [
                    server(securityContext={"capabilities": {"add": ["NET_BIND_SERVICE"]}})
                ],
            }
        }
    ),
    "rendered non-root, escalation allowed": rendered(
        {
            "spec": {
                "securityContext": NON_ROOT,
                "containers": [server(securityContext={"allowPrivilegeEscalation": True})],
            }
        }
    ),
    "rendered non-root, capabilities kept": rendered(
        {
            "spec": {
                "securityContext": NON_ROOT,
                "containers": [server(securityContext={"capabilities": {"drop": []}})],
            }
        }
    ),
    "rendered non-root, nfs volume": rendered(
        {
            "spec": {
                "securityContext": NON_ROOT,
                "containers": [server()],
                "volumes": [{"name": "data", "nfs": {"server": "nfs.example", "path": "/"}}],
            }
        }
    ),
    "rendered non-root sidecar, root container": rendered(
        {
            "spec": {
                "containers": [
                    server(securityContext={"runAsNonRoot": True, "runAsUser": 10001}),
                    {"name": "proxy", "image": "registry.example/proxy:1"},
                ]
            }
        }
    ),
    "rendered non-root, user 0": rendered(
        {
            "spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": 0},
                "containers": [server()],
            }
        }
    ),
    "rendered root, own user namespace": rendered(
        {"spec": {"hostUsers": False, "containers": [server()]}}
    ),
    "rendered user 0, own user namespace": rendered(
        {
            "spec": {
                "hostUsers": False,
                "securityContext": {"runAsUser": 0},
                "containers": [server()],
            }
        }
    ),
    # What the operator refuses; the assessment must still be right.
    "raw baseline capability": raw(
        {"containers": [server(securityContext={"capabilities": {"add": ["CHOWN"]}})]}
    ),
    "raw privileged": raw({"containers": [server(securityContext={"privileged": True})]}),
    "raw SYS_ADMIN": raw(
        {"containers": [server(securityContext={"capabilities": {"add": ["SYS_ADMIN"]}})]}
    ),
    "raw host network": raw({"hostNetwork": True, "containers": [server()]}),
    "raw host port": raw(
        {"containers": [server(ports=[{"containerPort": 8080, "hostPort": 8080}])]}
    ),
    "raw host path": raw(
        {
            "containers": [server()],
            "volumes": [{"name": "h", "hostPath": {"path": "/var/lib"}}],
        }
    ),
    "raw unconfined seccomp": raw(
        {"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": [server()]}
    ),
    "raw unsafe sysctl": raw(
        {
            "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "65536"}]},
            "containers": [server()],
        }
    ),
    "raw unmasked proc, otherwise restricted": raw(
        {
            "hostUsers": False,
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                server(
                    securityContext={
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "procMount": "Unmasked",
                    }
                )
            ],
        }
    ),
    "raw unmasked proc, own user namespace": raw(
        {"hostUsers": False, "containers": [server(securityContext={"procMount": "Unmasked"})]}
    ),
}


@pytest.fixture(scope="module")
def enforcing(kube: Any) -> Iterator[dict[Level, str]]:
    """A namespace enforcing each level (at `latest`)."""
    core = client.CoreV1Api(kube)
    made = []
    found: dict[Level, str] = {}
    try:
        for level in Level:
            spaces = fresh_namespace(kube, wait_for_pods=False)
            name = next(spaces)
            made.append(spaces)
            labels = {
                "pod-security.kubernetes.io/enforce": level.value,
                "pod-security.kubernetes.io/enforce-version": "latest",
            }
            core.patch_namespace(name, {"metadata": {"labels": labels}})
            found[level] = name
        yield found
    finally:
        for spaces in made:
            next(spaces, None)


def admitted(kube: Any, namespace: str, template: dict[str, Any]) -> bool:
    """Whether the API server admits a pod of `template` into `namespace` (dry run)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "probe-", **copy.deepcopy(template.get("metadata") or {})},
        "spec": copy.deepcopy(template["spec"]),
    }
    pod["metadata"].pop("labels", None)
    try:
        client.CoreV1Api(kube).create_namespaced_pod(namespace, pod, dry_run="All")  # type: ignore[arg-type]
    except ApiException as error:
        if error.status == 403 and "violates PodSecurity" in (error.body or ""):
            return False
        raise AssertionError(f"the API server refused the pod otherwise: {error.body}") from None
    return True


@pytest.mark.parametrize("case", list(CASES))
def test_the_level_is_the_one_admission_enforces(
    kube: Any, enforcing: dict[Level, str], case: str
) -> None:
    template = CASES[case]
    level = assess(template).level
    for enforced, namespace in enforcing.items():
        expected = level.rank >= enforced.rank
        assert admitted(kube, namespace, template) == expected, (
            f"{case}: assessed {level}, namespace enforcing {enforced} "
            f"{'refused' if expected else 'admitted'} it"
        )


def test_the_cases_cover_every_level() -> None:
    assert {assess(t).level for t in CASES.values()} == set(Level)


def _status(kube: Any, namespace: str, name: str) -> dict[str, Any] | None:
    body = get_ndep(kube, namespace, name)
    return body if body and (body.get("status") or {}).get("podSecurity") else None


def test_the_operators_pods_run_where_their_level_is_enforced(
    kube: Any, enforcing: dict[Level, str], operator: Any
) -> None:
    strict = enforcing[Level.RESTRICTED]
    root = {**MODEL, "template": {"spec": {"containers": [server()]}}}
    user = {
        **MODEL,
        "template": {"spec": {"securityContext": NON_ROOT, "containers": [server()]}},
    }
    create_ndep(kube, strict, neurondeployment("root", root))
    create_ndep(kube, strict, neurondeployment("user", user))
    create_ndep(kube, enforcing[Level.BASELINE], neurondeployment("root", root))

    def ready(namespace: str, name: str) -> dict[str, Any] | None:
        body = get_ndep(kube, namespace, name)
        return body if condition(body, "Ready").get("status") == "True" else None

    def refused() -> dict[str, Any] | None:
        body = get_ndep(kube, strict, "root")
        found = condition(body, "Ready")
        return body if found.get("reason") == "PodCreationFailed" else None

    body = wait_until("the root pods refused in the restricted namespace", refused, 90)
    assert body["status"]["podSecurity"]["level"] == "baseline"
    assert "violates PodSecurity" in condition(body, "Ready")["message"]
    assert "runAsNonRoot" in condition(body, "Ready")["message"]
    body = wait_until("the non-root pods Ready", partial(ready, strict, "user"), 90)
    assert body["status"]["podSecurity"] == {"level": "restricted", "unmet": []}
    body = wait_until(
        "the root pods Ready where baseline is enforced",
        partial(ready, enforcing[Level.BASELINE], "root"),
        90,
    )
    assert body["status"]["podSecurity"]["level"] == "baseline"
