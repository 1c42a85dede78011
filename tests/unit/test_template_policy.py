"""B6: no pod template, however built, gets a forbidden setting into the rendered Deployment.

Random templates mix benign settings with every setting the baseline Pod Security Standard
forbids (plus the operator's own rules: another service account, nodeName, token projections).
The checker below is written from the standard's text, independently of controller/policy.py:
for every template, either the reconcile refuses it or the Deployment it would apply has none.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.controller.policy import image_allowed
from neuron_operator.controller.reconcile import decide
from neuron_operator.controller.settings import Settings

BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip


def hazards(pod: dict[str, Any]) -> list[str]:
    """Forbidden settings in a pod template, by the baseline standard's list."""
    found = []
    spec = pod.get("spec") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            found.append(key)
    if spec.get("serviceAccountName") not in (None, "", "default"):
        found.append("serviceAccountName")
    if spec.get("nodeName"):
        found.append("nodeName")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            found.append("hostPath")
        if any(
            "serviceAccountToken" in s for s in (volume.get("projected") or {}).get("sources") or []
        ):
            found.append("projected token")
    contexts = [("pod", spec.get("securityContext") or {})]
    for kind in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(kind) or []:
            context = container.get("securityContext") or {}
            contexts.append((container.get("name", "?"), context))
            if context.get("privileged"):
                found.append("privileged")
            added = set((context.get("capabilities") or {}).get("add") or [])
            if added - BASELINE_CAPABILITIES or added - {"NET_BIND_SERVICE"}:
                found.append("capabilities")
            if context.get("procMount", "Default") != "Default":
                found.append("procMount")
            if any(p.get("hostPort") for p in container.get("ports") or []):
                found.append("hostPort")
    for _, context in contexts:
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            found.append("seccomp")
        if (context.get("appArmorProfile") or {}).get("type") == "Unconfined":
            found.append("apparmor")
        selinux = context.get("seLinuxOptions") or {}
        if selinux.get("type") and not selinux["type"].startswith("container_"):
            found.append("selinux type")
        if selinux.get("user") or selinux.get("role"):
            found.append("selinux user/role")
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            found.append("hostProcess")
    for sysctl in (spec.get("securityContext") or {}).get("sysctls") or []:
        if not sysctl["name"].startswith(("net.ipv4.ip_local_port_range", "kernel.shm_rmid")):
            found.append("sysctl")
    for key, value in ((pod.get("metadata") or {}).get("annotations") or {}).items():
        if (
            key.startswith("container.apparmor.security.beta.kubernetes.io/")
            and value == "unconfined"
        ):
            found.append("apparmor annotation")
    return found


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | value


def security_contexts(pod: bool) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {
        "seccompProfile": maybe(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["RuntimeDefault", "Unconfined", "Localhost"])}
            )
        ),
        "appArmorProfile": maybe(
            st.fixed_dictionaries({"type": st.sampled_from(["RuntimeDefault", "Unconfined"])})
        ),
        "seLinuxOptions": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "type": st.sampled_from(["container_t", "spc_t", ""]),
                    "user": st.sampled_from(["", "root"]),
                    "role": st.sampled_from(["", "sysadm_r"]),
                },
            )
        ),
        "windowsOptions": maybe(st.fixed_dictionaries({"hostProcess": st.booleans()})),
        "runAsNonRoot": maybe(st.booleans()),
    }
    if pod:
        fields["sysctls"] = maybe(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(
                            ["net.ipv4.ip_local_port_range", "kernel.msgmax", "net.core.somaxconn"]
                        ),
                        "value": st.just("1"),
                    }
                ),
                max_size=2,
            )
        )
    else:
        fields["privileged"] = maybe(st.booleans())
        fields["allowPrivilegeEscalation"] = maybe(st.booleans())
        fields["procMount"] = maybe(st.sampled_from(["Default", "Unmasked"]))
        fields["capabilities"] = maybe(
            st.fixed_dictionaries(
                {
                    "add": st.lists(
                        st.sampled_from(["NET_BIND_SERVICE", "SYS_ADMIN", "CHOWN", "NET_RAW"]),
                        max_size=2,
                    ),
                    "drop": st.just(["ALL"]),
                }
            )
        )
    return st.fixed_dictionaries({}, optional=fields).map(
        lambda d: {k: v for k, v in d.items() if v is not None}
    )


def containers(name: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"name": st.just(name), "image": st.just("server:1")},
        optional={
            "securityContext": security_contexts(pod=False),
            "ports": st.lists(
                st.fixed_dictionaries(
                    {"containerPort": st.just(8080)},
                    optional={"hostPort": st.sampled_from([0, 8080])},
                ),
                max_size=2,
            ),
        },
    )


VOLUMES = st.sampled_from(
    [
        {"name": "cache", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": "/"}},
        {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
        {"name": "config", "configMap": {"name": "c"}},
    ]
)


@st.composite
def templates(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [draw(containers("server"))]}
    if draw(st.booleans()):
        spec["containers"].append(draw(containers("sidecar")))
    if draw(st.booleans()):
        spec["initContainers"] = [draw(containers("init"))]
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if draw(st.integers(0, 5)) == 0:
            spec[key] = draw(st.booleans())
    if draw(st.integers(0, 5)) == 0:
        spec["serviceAccountName"] = draw(st.sampled_from(["default", "admin", ""]))
    if draw(st.integers(0, 8)) == 0:
        spec["nodeName"] = "node-1"
    if draw(st.booleans()):
        spec["securityContext"] = draw(security_contexts(pod=True))
    if draw(st.booleans()):
        spec["volumes"] = draw(st.lists(VOLUMES, max_size=2, unique_by=lambda v: str(v["name"])))
    template: dict[str, Any] = {"spec": spec}
    if draw(st.integers(0, 5)) == 0:
        template["metadata"] = {
            "annotations": {
                "container.apparmor.security.beta.kubernetes.io/server": draw(
                    st.sampled_from(["unconfined", "runtime/default"])
                )
            }
        }
    return template


MODEL = {
    "model": {"family": "cnn", "parameters": "25M"},
    "overrides": {"instanceType": "inf2.xlarge", "replicas": 1},
}
seen = {"refused": 0, "rendered": 0}


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(templates())
def test_no_forbidden_setting_reaches_the_rendered_deployment(template: dict[str, Any]) -> None:
    body = {
        "metadata": {"name": "m", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {**MODEL, "template": template},
    }
    decision = decide(body, NeuronDeploymentStatus(), Settings())
    if decision.desired is None:
        seen["refused"] += 1
        assert decision.verdict.reason == "TemplateNotAllowed"
        assert hazards(template), f"refused a harmless template: {decision.verdict.message}"
        return
    seen["rendered"] += 1
    rendered = decision.desired["spec"]["template"]
    assert hazards(rendered) == [], template


def test_the_generator_makes_both_kinds() -> None:
    """The property above is only worth something if both branches ran many times."""
    assert seen["refused"] > 100 and seen["rendered"] > 100, seen


ALLOWED = ("registry.example.com/ml", "public.ecr.aws/neuron/")


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("registry.example.com/ml", True),
        ("registry.example.com/ml/bert:1", True),
        ("registry.example.com/ml:2", True),
        ("registry.example.com/ml@sha256:" + "0" * 64, True),
        ("public.ecr.aws/neuron/vllm:0.9", True),
        ("registry.example.com/mlx/bert:1", False),
        ("registry.example.com.evil.io/ml/bert:1", False),
        ("registry.example.com/m", False),
        ("docker.io/library/busybox", False),
        ("", False),
    ],
)
def test_images_are_allowed_by_whole_path_parts(image: str, allowed: bool) -> None:
    assert image_allowed(image, ALLOWED) is allowed


def test_an_image_outside_the_allowlist_is_refused_naming_the_container() -> None:
    template = {
        "spec": {
            "initContainers": [{"name": "fetch", "image": "registry.example.com/ml/fetch:1"}],
            "containers": [
                {"name": "server", "image": "registry.example.com/ml/bert:1"},
                {"name": "sidecar", "image": "docker.io/evil/miner:1"},
            ],
        }
    }
    body = {
        "metadata": {"name": "m", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {**MODEL, "template": template},
    }
    refused = decide(body, NeuronDeploymentStatus(), Settings(allowed_images=ALLOWED))
    assert refused.desired is None and refused.verdict.reason == "ImageNotAllowed"
    assert "spec.template.spec.containers[1].image" in refused.verdict.message
    assert "containers[0]" not in refused.verdict.message
    assert "initContainers" not in refused.verdict.message
    # No allowlist: any image.
    assert decide(body, NeuronDeploymentStatus(), Settings()).desired is not None
