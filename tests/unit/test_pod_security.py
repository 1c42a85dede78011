"""The Pod Security level of the rendered pods (issue 14, point 2): each requirement of each
level, what status and the Planned condition say, and the operator's minimum. That the rules
are the API server's is tests/integration/test_pod_security.py's to show."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.fakes import FakeKube
from tests.helpers import example_spec

from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.controller.pod_security import Level, assess
from neuron_operator.controller.reconcile import decide, reconcile
from neuron_operator.controller.settings import Settings

NON_ROOT = {"runAsNonRoot": True, "runAsUser": 10001}


def restricted_pod() -> dict[str, Any]:
    """A pod template that meets restricted, as the operator renders one with runAsNonRoot."""
    context = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return {
        "spec": {
            "securityContext": {**NON_ROOT, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [{"name": "init", "securityContext": copy.deepcopy(context)}],
            "containers": [{"name": "s", "securityContext": copy.deepcopy(context)}],
            "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}],
        }
    }


def test_a_restricted_pod_is_restricted() -> None:
    found = assess(restricted_pod())
    assert found.level == Level.RESTRICTED
    assert found.unmet == ()


def _set(pod: dict[str, Any], path: str, value: Any) -> None:
    target: Any = pod["spec"]
    *parents, leaf = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    if value is None:
        target.pop(leaf, None)
    else:
        target[leaf] = value


# Each breaks one restricted requirement and nothing of baseline: the pod is baseline, and the
# field named is the one changed.
BELOW_RESTRICTED = [
    ("securityContext.runAsNonRoot", None, "containers[0].securityContext.runAsNonRoot"),
    ("securityContext.runAsNonRoot", False, "spec.securityContext.runAsNonRoot"),
    (
        "containers.0.securityContext.runAsNonRoot",
        False,
        "containers[0].securityContext.runAsNonRoot",
    ),
    ("securityContext.runAsUser", 0, "spec.securityContext.runAsUser"),
    (
        "initContainers.0.securityContext.runAsUser",
        0,
        "initContainers[0].securityContext.runAsUser",
    ),
    ("containers.0.securityContext.allowPrivilegeEscalation", None, "allowPrivilegeEscalation"),
    ("initContainers.0.securityContext.allowPrivilegeEscalation", True, "initContainers[0]"),
    ("securityContext.seccompProfile", None, "seccompProfile.type"),
    ("containers.0.securityContext.capabilities", {"drop": ["NET_RAW"]}, "capabilities.drop"),
    (
        "containers.0.securityContext.capabilities",
        {"drop": ["ALL"], "add": ["CHOWN"]},
        "capabilities.add",
    ),
    ("volumes", [{"name": "data", "nfs": {"server": "s", "path": "/"}}], "volumes[0]"),
]


@pytest.mark.parametrize(("path", "value", "named"), BELOW_RESTRICTED)
def test_each_restricted_requirement(path: str, value: Any, named: str) -> None:
    pod = restricted_pod()
    _set(pod, path, value)
    found = assess(pod)
    assert found.level == Level.BASELINE
    assert any(named in u.field for u in found.unmet), found.unmet
    assert all(u.level == Level.RESTRICTED for u in found.unmet)


def test_a_container_seccomp_profile_stands_in_for_the_pods() -> None:
    pod = restricted_pod()
    del pod["spec"]["securityContext"]["seccompProfile"]
    for container in [*pod["spec"]["containers"], *pod["spec"]["initContainers"]]:
        container["securityContext"]["seccompProfile"] = {
            "type": "Localhost",
            "localhostProfile": "p",
        }
    assert assess(pod).level == Level.RESTRICTED


BELOW_BASELINE = [
    ("hostNetwork", True),
    ("hostPID", True),
    ("containers.0.securityContext.privileged", True),
    ("containers.0.securityContext.capabilities", {"add": ["SYS_ADMIN"], "drop": ["ALL"]}),
    ("containers.0.securityContext.procMount", "Unmasked"),
    ("containers.0.ports", [{"containerPort": 80, "hostPort": 80}]),
    ("volumes", [{"name": "h", "hostPath": {"path": "/"}}]),
    ("securityContext.seccompProfile", {"type": "Unconfined"}),
    ("securityContext.seLinuxOptions", {"type": "spc_t"}),
    ("securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}]),
    ("containers.0.securityContext.appArmorProfile", {"type": "Unconfined"}),
    ("containers.0.securityContext.windowsOptions", {"hostProcess": True}),
]


@pytest.mark.parametrize(("path", "value"), BELOW_BASELINE)
def test_each_baseline_requirement(path: str, value: Any) -> None:
    pod = restricted_pod()
    _set(pod, path, value)
    found = assess(pod)
    assert found.level == Level.PRIVILEGED
    assert found.unmet and all(u.level == Level.BASELINE for u in found.unmet)


def test_baseline_capabilities_stay_baseline() -> None:
    pod = restricted_pod()
    _set(pod, "containers.0.securityContext.capabilities", {"drop": ["ALL"], "add": ["CHOWN"]})
    assert assess(pod).level == Level.BASELINE


BODY = {"metadata": {"name": "m", "namespace": "ml", "uid": "1", "generation": 1}}


def decided(spec: dict[str, Any], settings: Settings | None = None) -> Any:
    return decide({**BODY, "spec": spec}, NeuronDeploymentStatus(), settings or Settings())


@pytest.mark.parametrize(
    "name",
    [
        "bert-base",
        "bert-large-training",
        "llama-3-8b",
        "llama-3.1-405b",
        "resnet50",
        "stable-diffusion",
    ],
)
def test_every_example_meets_baseline_and_restricted_once_it_runs_as_a_user(name: str) -> None:
    spec = example_spec(name)
    spec["template"]["spec"].get("securityContext", {}).pop("runAsNonRoot", None)
    root = decided(spec)
    assert root.pod_security is not None
    assert root.pod_security.level == "baseline"
    assert any("runAsNonRoot" in u for u in root.pod_security.unmet)
    spec["template"]["spec"]["securityContext"] = {
        **spec["template"]["spec"].get("securityContext", {}),
        **NON_ROOT,
    }
    user = decided(spec)
    assert user.pod_security is not None
    assert (user.pod_security.level, user.pod_security.unmet) == ("restricted", [])


def test_the_operators_minimum_refuses_a_template_below_it_naming_the_fields() -> None:
    spec = example_spec("bert-base")
    spec["template"]["spec"].pop("securityContext", None)
    strict = Settings(minimum_pod_security="restricted")
    refused = decided(spec, strict)
    assert not refused.verdict.planned and refused.desired is None
    assert refused.verdict.reason == "PodSecurityBelowMinimum"
    assert (
        "spec.template.spec.containers[0].securityContext.runAsNonRoot" in refused.verdict.message
    )
    assert "below the operator's minimum (restricted)" in refused.verdict.message
    spec["template"]["spec"]["securityContext"] = NON_ROOT
    assert decided(spec, strict).verdict.planned
    # The default minimum is baseline: the same root template runs.
    spec["template"]["spec"].pop("securityContext")
    assert decided(spec).verdict.planned


def test_a_running_workload_keeps_running_when_the_minimum_refuses_its_new_spec() -> None:
    spec = example_spec("bert-base")
    spec["template"]["spec"]["securityContext"] = NON_ROOT
    kube = FakeKube({**copy.deepcopy(BODY), "spec": spec})
    strict = Settings(minimum_pod_security="restricted")
    reconcile(kube, copy.deepcopy(kube.body), None, strict, lambda _: None, lambda: "t")
    assert kube.body["status"]["podSecurity"] == {"level": "restricted", "unmet": []}
    running = copy.deepcopy(kube.deployment)
    # The user drops runAsNonRoot: the new spec is refused, the Deployment stays as it was.
    kube.body["spec"]["template"]["spec"].pop("securityContext")
    kube.body["metadata"]["generation"] = 2
    kube.calls.clear()
    reconcile(
        kube,
        copy.deepcopy(kube.body),
        copy.deepcopy(kube.deployment),
        strict,
        lambda _: None,
        lambda: "t",
    )
    assert "apply_deployment" not in kube.writes()
    assert kube.deployment == running
    planned = next(c for c in kube.body["status"]["conditions"] if c["type"] == "Planned")
    assert (planned["status"], planned["reason"]) == ("False", "PodSecurityBelowMinimum")
    assert "still running" in planned["message"]
    assert kube.body["status"]["podSecurity"]["level"] == "restricted"  # the pods that run


def test_the_setting_reads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURON_OPERATOR_MINIMUM_POD_SECURITY", "restricted")
    assert Settings.from_env().minimum_pod_security == "restricted"
    monkeypatch.setenv("NEURON_OPERATOR_MINIMUM_POD_SECURITY", "strict")
    with pytest.raises(ValueError, match="NEURON_OPERATOR_MINIMUM_POD_SECURITY"):
        Settings.from_env()


def test_a_pod_in_its_own_user_namespace_need_not_run_as_a_user() -> None:
    """As the API server relaxes it (the integration test's finding): root in a user namespace
    is not the node's root."""
    pod = restricted_pod()
    pod["spec"]["securityContext"] = {"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}}
    assert assess(pod).level == Level.BASELINE
    pod["spec"]["hostUsers"] = False
    assert assess(pod).level == Level.RESTRICTED
    _set(pod, "containers.0.securityContext.procMount", "Unmasked")
    assert assess(pod).level == Level.BASELINE  # Unmasked is allowed, but never restricted
