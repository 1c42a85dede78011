"""Which Pod Security Standard level a rendered pod meets: `restricted`, `baseline` or
`privileged`, and what keeps it from the next one. Pure.

The rules are the Pod Security Standards' as Kubernetes' PodSecurity admission applies them at
`latest` (https://kubernetes.io/docs/concepts/security/pod-security-standards/); the
integration test (tests/integration/test_pod_security.py) holds this module to what the API
server's admission does with the same pods in namespaces that enforce each level. Paths are
the NeuronDeployment's (`spec.template.spec...`): the operator adds no container, so the
indices are the template's own.

A pod in a user namespace (`hostUsers: false`) is relaxed as the API server relaxes it (the
integration test found this on Kubernetes 1.36, against the notes we started from): its
containers' root is not the node's, so restricted does not ask for runAsNonRoot or a non-zero
runAsUser, and baseline allows an Unmasked /proc.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

PREFIX = "spec.template"


class Level(StrEnum):
    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return list(Level).index(self)


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
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}
BASELINE_SELINUX_TYPES = {
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
}
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
# Keys of a volume that are not its source.
VOLUME_FIELDS = {"name"}
CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class Unmet:
    """A requirement of `level` the pod does not meet."""

    level: Level
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class Assessment:
    level: Level  # the highest level the pod meets
    unmet: tuple[Unmet, ...]  # what keeps it from the next level (none at restricted)


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in CONTAINER_KINDS:
        for index, container in enumerate(spec.get(kind) or []):
            yield f"{PREFIX}.spec.{kind}[{index}]", container


def _contexts(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The pod's securityContext and each container's, with their paths."""
    yield f"{PREFIX}.spec.securityContext", spec.get("securityContext") or {}
    for path, container in _containers(spec):
        yield f"{path}.securityContext", container.get("securityContext") or {}


def _own_users(spec: dict[str, Any]) -> bool:
    """Whether the pod runs in a user namespace of its own."""
    return spec.get("hostUsers") is False


def baseline_unmet(spec: dict[str, Any], annotations: dict[str, str]) -> Iterator[Unmet]:
    """What in a pod spec (and its template's annotations) the baseline level forbids."""

    def unmet(field: str, message: str) -> Unmet:
        return Unmet(Level.BASELINE, field, message)

    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            yield unmet(f"{PREFIX}.spec.{key}", "host namespaces are not allowed; remove it")
    for path, context in _contexts(spec):
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            yield unmet(f"{path}.windowsOptions.hostProcess", "host processes are not allowed")
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            yield unmet(f"{path}.seccompProfile.type", "Unconfined is not allowed; omit it")
        apparmor = (context.get("appArmorProfile") or {}).get("type")
        if apparmor not in (None, "RuntimeDefault", "Localhost"):
            yield unmet(f"{path}.appArmorProfile.type", f"{apparmor} is not allowed; omit it")
        selinux = context.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in BASELINE_SELINUX_TYPES:
            yield unmet(f"{path}.seLinuxOptions.type", "only the container_* types are allowed")
        for key in ("user", "role"):
            if selinux.get(key):
                yield unmet(f"{path}.seLinuxOptions.{key}", "setting it is not allowed")
    for index, sysctl in enumerate((spec.get("securityContext") or {}).get("sysctls") or []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield unmet(
                f"{PREFIX}.spec.securityContext.sysctls[{index}]",
                f"{sysctl.get('name')} is not a safe sysctl",
            )
    for index, volume in enumerate(spec.get("volumes") or []):
        if "hostPath" in volume:
            yield unmet(
                f"{PREFIX}.spec.volumes[{index}].hostPath", "hostPath volumes are not allowed"
            )
    for path, container in _containers(spec):
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            yield unmet(
                f"{path}.securityContext.privileged",
                "privileged containers are not allowed; remove it",
            )
        added = set((context.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            yield unmet(
                f"{path}.securityContext.capabilities.add",
                f"{', '.join(sorted(added))} are beyond the baseline set",
            )
        if context.get("procMount") not in (None, "Default") and not _own_users(spec):
            yield unmet(f"{path}.securityContext.procMount", "only Default is allowed")
        for index, port in enumerate(container.get("ports") or []):
            if port.get("hostPort"):
                yield unmet(
                    f"{path}.ports[{index}].hostPort", "host ports are not allowed; use a Service"
                )
    for key, value in annotations.items():
        if key.startswith(APPARMOR_ANNOTATION) and not (
            value == "runtime/default" or value.startswith("localhost/")
        ):
            yield unmet(f"{PREFIX}.metadata.annotations[{key}]", f"{value} is not allowed")


def _restricted(spec: dict[str, Any]) -> Iterator[Unmet]:
    def unmet(field: str, message: str) -> Unmet:
        return Unmet(Level.RESTRICTED, field, message)

    for index, volume in enumerate(spec.get("volumes") or []):
        kinds = set(volume) - VOLUME_FIELDS
        if not kinds <= RESTRICTED_VOLUMES:
            kind = ", ".join(sorted(kinds - RESTRICTED_VOLUMES))
            yield unmet(f"{PREFIX}.spec.volumes[{index}]", f"{kind} volumes are not allowed")
    pod = spec.get("securityContext") or {}
    pod_path = f"{PREFIX}.spec.securityContext"
    root_allowed = _own_users(spec)
    if pod.get("runAsUser") == 0 and not root_allowed:
        yield unmet(f"{pod_path}.runAsUser", "must not be 0")
    if pod.get("runAsNonRoot") is False and not root_allowed:
        yield unmet(f"{pod_path}.runAsNonRoot", "must not be false")
    pod_seccomp = (pod.get("seccompProfile") or {}).get("type")
    for path, container in _containers(spec):
        context = container.get("securityContext") or {}
        here = f"{path}.securityContext"
        if context.get("allowPrivilegeEscalation") is not False:
            yield unmet(f"{here}.allowPrivilegeEscalation", "must be false")
        if context.get("procMount") not in (None, "Default"):  # even in a user namespace
            yield unmet(f"{here}.procMount", "only Default is allowed")
        non_root = context.get("runAsNonRoot")
        implicit_root = non_root is None and pod.get("runAsNonRoot") is not True
        if not root_allowed and (non_root is False or implicit_root):
            yield unmet(
                f"{here}.runAsNonRoot",
                "must be true, here or in the pod's securityContext (when the image runs as a "
                "non-root user), or the pod must run in a user namespace (hostUsers: false)",
            )
        if context.get("runAsUser") == 0 and not root_allowed:
            yield unmet(f"{here}.runAsUser", "must not be 0")
        seccomp = (context.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost") and not (
            seccomp is None and pod_seccomp in ("RuntimeDefault", "Localhost")
        ):
            yield unmet(f"{here}.seccompProfile.type", "must be RuntimeDefault or Localhost")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            yield unmet(f"{here}.capabilities.drop", "must include ALL")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            yield unmet(
                f"{here}.capabilities.add",
                f"{', '.join(sorted(added))} not allowed; only NET_BIND_SERVICE",
            )


def assess(pod_template: dict[str, Any]) -> Assessment:
    """The level the pods of `pod_template` (as rendered) meet, and what keeps them from the
    next one."""
    spec = pod_template.get("spec") or {}
    annotations = (pod_template.get("metadata") or {}).get("annotations") or {}
    baseline = tuple(baseline_unmet(spec, annotations))
    if baseline:
        return Assessment(Level.PRIVILEGED, baseline)
    restricted = tuple(_restricted(spec))
    if restricted:
        return Assessment(Level.BASELINE, restricted)
    return Assessment(Level.RESTRICTED, ())


def meets(assessment: Assessment, minimum: Level) -> bool:
    return assessment.level.rank >= minimum.rank
