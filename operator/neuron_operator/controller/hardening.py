"""Secure defaults for the pods the operator renders, each set only where the template leaves
the field unset (yours always win). Pure.

- pod `automountServiceAccountToken: false`: a model server does not call the Kubernetes API,
  and a mounted token is a credential for whoever gets into the container;
- pod `seccompProfile: RuntimeDefault`: the container runtime's syscall filter;
- every container and init container: `allowPrivilegeEscalation: false` and capabilities
  `drop: [ALL]`.

Checked against Neuron's device access before applying them (docs/operator.md, "Secure
defaults"): the device plugin hands a pod its `/dev/neuronN` nodes as devices of the container
(the device cgroup and the node, as `docker run --device` does), so the container needs no
privilege and no capability; the Neuron driver's ioctls and mmap check none (aws-neuron-driver,
neuron_cdev.c: access is the device node's file mode). Its syscalls (open, ioctl, mmap) are in
the runtime's default seccomp profile. EFA's memory registration is bounded by RLIMIT_MEMLOCK,
which the EKS accelerated AMIs set unlimited for containerd; CAP_IPC_LOCK would only bypass
that limit. None of the four defaults breaks device access, so all four are applied.

Not defaulted: `runAsNonRoot` (Neuron's Deep Learning Containers and vLLM's images run as root;
the kubelet refuses to start them with it; set it when your image runs as a user, and the pods
meet the restricted level) and `readOnlyRootFilesystem` (servers write compile caches and
temporary files where the operator cannot know).
"""

from __future__ import annotations

from typing import Any

# Ephemeral containers are added to running pods, never part of a template.
CONTAINER_KINDS = ("initContainers", "containers")


def with_secure_defaults(pod_spec: dict[str, Any]) -> None:
    """The four defaults above, in place, wherever `pod_spec` leaves them unset."""
    pod_spec.setdefault("automountServiceAccountToken", False)
    pod_security = pod_spec.setdefault("securityContext", {})
    pod_security.setdefault("seccompProfile", {"type": "RuntimeDefault"})
    for kind in CONTAINER_KINDS:
        for container in pod_spec.get(kind) or []:
            security = container.setdefault("securityContext", {})
            security.setdefault("allowPrivilegeEscalation", False)
            capabilities = security.setdefault("capabilities", {})
            capabilities.setdefault("drop", ["ALL"])
