"""What a NeuronDeployment's pod template may not ask for.

The operator creates the pods with its own rights, so a template must not borrow more than
its author could get directly: nothing the baseline Pod Security Standard forbids (host
namespaces, privileged containers, added capabilities, host paths and ports, unconfined
seccomp or AppArmor, custom SELinux types, unmasked /proc, unsafe sysctls, Windows host
processes), and no other service account's identity, node pinning or token projection.
Namespaces that enforce a stricter level refuse the pods themselves (Ready says so).
Pure: no client.

Source: https://kubernetes.io/docs/concepts/security/pod-security-standards/ (baseline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PREFIX = "spec.template"
# Baseline allows a default set; we allow only what a model server may need.
ALLOWED_CAPABILITIES = {"NET_BIND_SERVICE"}
ALLOWED_SELINUX_TYPES = {
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
CONTAINER_KINDS = ("containers", "initContainers", "ephemeralContainers")


@dataclass(frozen=True)
class TemplateProblem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _security_context_problems(path: str, security: dict[str, Any]) -> list[TemplateProblem]:
    """Rules shared by the pod's and each container's securityContext."""
    problems = []
    if ((security.get("seccompProfile") or {}).get("type")) == "Unconfined":
        problems.append(
            TemplateProblem(f"{path}.seccompProfile.type", "Unconfined is not allowed; omit it")
        )
    if ((security.get("appArmorProfile") or {}).get("type")) == "Unconfined":
        problems.append(
            TemplateProblem(f"{path}.appArmorProfile.type", "Unconfined is not allowed; omit it")
        )
    selinux = security.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in ALLOWED_SELINUX_TYPES:
        problems.append(
            TemplateProblem(f"{path}.seLinuxOptions.type", "only the container_* types are allowed")
        )
    for key in ("user", "role"):
        if selinux.get(key):
            problems.append(
                TemplateProblem(f"{path}.seLinuxOptions.{key}", "setting it is not allowed")
            )
    if (security.get("windowsOptions") or {}).get("hostProcess"):
        problems.append(
            TemplateProblem(f"{path}.windowsOptions.hostProcess", "host processes are not allowed")
        )
    return problems


def _container_problems(path: str, container: dict[str, Any]) -> list[TemplateProblem]:
    security = container.get("securityContext") or {}
    problems = _security_context_problems(f"{path}.securityContext", security)
    if security.get("privileged"):
        problems.append(
            TemplateProblem(
                f"{path}.securityContext.privileged",
                "privileged containers are not allowed; remove it",
            )
        )
    added = set((security.get("capabilities") or {}).get("add") or []) - ALLOWED_CAPABILITIES
    if added:
        problems.append(
            TemplateProblem(
                f"{path}.securityContext.capabilities.add",
                f"{', '.join(sorted(added))} not allowed; only NET_BIND_SERVICE may be added",
            )
        )
    if security.get("procMount") not in (None, "Default"):
        problems.append(
            TemplateProblem(f"{path}.securityContext.procMount", "only Default is allowed")
        )
    for index, port in enumerate(container.get("ports") or []):
        if port.get("hostPort"):
            problems.append(
                TemplateProblem(
                    f"{path}.ports[{index}].hostPort", "host ports are not allowed; use a Service"
                )
            )
    return problems


def _pod_problems(spec: dict[str, Any]) -> list[TemplateProblem]:
    path = f"{PREFIX}.spec"
    problems = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(
                TemplateProblem(f"{path}.{key}", "host namespaces are not allowed; remove it")
            )
    for key in ("serviceAccountName", "serviceAccount"):
        if spec.get(key) not in (None, "", "default"):
            problems.append(
                TemplateProblem(
                    f"{path}.{key}",
                    "pods run as the namespace's default service account; another service "
                    "account's token is not handed out through a NeuronDeployment",
                )
            )
    if spec.get("nodeName"):
        problems.append(TemplateProblem(f"{path}.nodeName", "the operator places pods; remove it"))
    security = spec.get("securityContext") or {}
    problems += _security_context_problems(f"{path}.securityContext", security)
    for index, sysctl in enumerate(security.get("sysctls") or []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(
                TemplateProblem(
                    f"{path}.securityContext.sysctls[{index}]",
                    f"{sysctl.get('name')} is not a safe sysctl",
                )
            )
    for index, volume in enumerate(spec.get("volumes") or []):
        if "hostPath" in volume:
            problems.append(
                TemplateProblem(
                    f"{path}.volumes[{index}].hostPath", "hostPath volumes are not allowed"
                )
            )
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "serviceAccountToken" in source:
                problems.append(
                    TemplateProblem(
                        f"{path}.volumes[{index}].projected",
                        "service account token projections are not allowed",
                    )
                )
    for kind in CONTAINER_KINDS:
        for index, container in enumerate(spec.get(kind) or []):
            problems += _container_problems(f"{path}.{kind}[{index}]", container)
    return problems


def template_problems(template: dict[str, Any] | None) -> list[TemplateProblem]:
    """Why the pod template cannot be run as given; empty when it can."""
    if not template or not (template.get("spec") or {}).get("containers"):
        return [
            TemplateProblem(
                f"{PREFIX}.spec.containers", "at least one container (the model server) is required"
            )
        ]
    problems = _pod_problems(template["spec"])
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    for key, value in annotations.items():
        if key.startswith(APPARMOR_ANNOTATION) and value == "unconfined":
            problems.append(
                TemplateProblem(
                    f"{PREFIX}.metadata.annotations[{key}]", "unconfined is not allowed"
                )
            )
    return problems


def image_allowed(image: str, allowed: tuple[str, ...]) -> bool:
    """Whether `image` is one of `allowed` or under one: an entry matches whole path parts
    ("registry.example.com/ml" allows "registry.example.com/ml/bert:1", not
    "registry.example.com/mlx/bert:1" or "registry.example.com.evil.io/x")."""
    for entry in allowed:
        if image == entry:
            return True
        if image.startswith(entry) and (entry.endswith("/") or image[len(entry)] in "/:@"):
            return True
    return False


def image_problems(
    template: dict[str, Any] | None, allowed: tuple[str, ...]
) -> list[TemplateProblem]:
    """Containers whose image is outside the operator's allowlist (none when it is empty)."""
    if not allowed:
        return []
    spec = (template or {}).get("spec") or {}
    return [
        TemplateProblem(
            f"{PREFIX}.spec.{kind}[{index}].image",
            f"{container.get('image')!r} is not in the allowed images "
            f"({', '.join(allowed)}); use an image from them",
        )
        for kind in CONTAINER_KINDS
        for index, container in enumerate(spec.get(kind) or [])
        if not image_allowed(str(container.get("image") or ""), allowed)
    ]
