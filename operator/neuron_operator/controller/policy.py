"""What a NeuronDeployment's pod template may not ask for.

The operator creates the pods with its own rights, so a template must not borrow more than
its author could get directly: nothing the baseline Pod Security Standard forbids (host
namespaces, privileged containers, added capabilities, host paths and ports, unconfined
seccomp or AppArmor, custom SELinux types, unmasked /proc, unsafe sysctls, Windows host
processes; controller/pod_security.py has the rules), no capability beyond NET_BIND_SERVICE,
and no other service account's identity, node pinning or token projection. Namespaces that
enforce a stricter level refuse the pods themselves (Ready says so), and the operator's
minimum level setting can refuse them first. Pure: no client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neuron_operator.controller.pod_security import CONTAINER_KINDS, PREFIX, baseline_unmet

# Baseline allows a default set; we allow only what a model server may need.
ALLOWED_CAPABILITIES = {"NET_BIND_SERVICE"}


@dataclass(frozen=True)
class TemplateProblem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _capability_problems(spec: dict[str, Any]) -> list[TemplateProblem]:
    problems = []
    for kind in CONTAINER_KINDS:
        for index, container in enumerate(spec.get(kind) or []):
            security = container.get("securityContext") or {}
            added = set((security.get("capabilities") or {}).get("add") or [])
            if added - ALLOWED_CAPABILITIES:
                problems.append(
                    TemplateProblem(
                        f"{PREFIX}.spec.{kind}[{index}].securityContext.capabilities.add",
                        f"{', '.join(sorted(added - ALLOWED_CAPABILITIES))} not allowed; only "
                        "NET_BIND_SERVICE may be added",
                    )
                )
    return problems


def _pod_problems(spec: dict[str, Any], annotations: dict[str, str]) -> list[TemplateProblem]:
    path = f"{PREFIX}.spec"
    problems = [
        TemplateProblem(unmet.field, unmet.message)
        for unmet in baseline_unmet(spec, annotations)
        if not unmet.field.endswith(".capabilities.add")  # ours is stricter, below
    ]
    problems += _capability_problems(spec)
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
    for index, volume in enumerate(spec.get("volumes") or []):
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "serviceAccountToken" in source:
                problems.append(
                    TemplateProblem(
                        f"{path}.volumes[{index}].projected",
                        "service account token projections are not allowed",
                    )
                )
    return problems


def template_problems(template: dict[str, Any] | None) -> list[TemplateProblem]:
    """Why the pod template cannot be run as given; empty when it can."""
    if not template or not (template.get("spec") or {}).get("containers"):
        return [
            TemplateProblem(
                f"{PREFIX}.spec.containers", "at least one container (the model server) is required"
            )
        ]
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    return _pod_problems(template["spec"], annotations)


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
