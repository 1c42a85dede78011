"""Dynamic Resource Allocation for Neuron devices (Neuron SDK deploy/eks/dra.rst). Pure.

Since Neuron 2.28, Trainium2 nodes on Kubernetes 1.34 or later can run the Neuron DRA driver
instead of the device plugin: there, pods ask for devices through a ResourceClaim, not the
`aws.amazon.com/neuroncore` extended resource, and the scheduler itself places connected
devices (no scheduler extension). The driver publishes its devices in ResourceSlices under the
DeviceClass `neuron.aws.com`, with the attributes the claims select on: `instanceType`,
`neuronDriverVersion`, and the connected groups `resource.aws.com/devicegroup{1,4,8,16}_id`.
A claim's opaque `NeuronConfig` sets the Logical NeuronCore size per workload.

A plan on such nodes gets a ResourceClaimTemplate with the device count, connected group and
LNC it needs, and its pods claim from it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from neuron_operator.api.plan import NEURON_DEVICE_RESOURCE, NEURONCORE_RESOURCE, PlanRecord
from neuron_operator.controller.capacity import DRA_SERVED
from neuron_operator.controller.render import owner_reference, standard_labels
from neuron_operator.sizing.catalog import InstanceType

DRIVER = DEVICE_CLASS = "neuron.aws.com"
RESOURCE_API = "resource.k8s.io/v1"
CLAIM = "neurons"  # the claim's name in the pod, and its request's name
# The families whose nodes the Neuron DRA driver serves (its prerequisites: Trn2, K8s 1.34+).
DRA_FAMILIES = DRA_SERVED
CONNECTED_GROUPS = (4, 8, 16)  # resource.aws.com/devicegroup{N}_id; a single device needs none


class Mode:
    DEVICE_PLUGIN = "device-plugin"
    DRA = "dra"
    AUTO = "auto"  # DRA where the cluster has the Neuron DeviceClass
    ALL = (DEVICE_PLUGIN, DRA, AUTO)


def dra_families(mode: str, device_class_present: bool) -> frozenset[str]:
    """The instance families whose plans claim devices through DRA."""
    if mode == Mode.DRA or (mode == Mode.AUTO and device_class_present):
        return DRA_FAMILIES
    return frozenset()


def devices_claimed(plan: PlanRecord, instance: InstanceType) -> int:
    """Whole devices a replica claims: DRA allocates devices, never a share of one."""
    return max(
        1,
        plan.devices_per_replica or -(-(plan.cores_per_replica or 1) // instance.cores_per_device),
    )


def claim_template(
    body: dict[str, Any], plan: PlanRecord, instance: InstanceType
) -> dict[str, Any]:
    """The ResourceClaimTemplate a replica claims its devices from. Named after its content: a
    template's spec cannot change, so a new plan gets a new one (the old one goes with the
    NeuronDeployment)."""
    count = devices_claimed(plan, instance)
    request: dict[str, Any] = {
        "deviceClassName": DEVICE_CLASS,
        "allocationMode": "ExactCount",
        "count": count,
        "selectors": [
            {
                "cel": {
                    "expression": f"device.attributes['{DRIVER}'].instanceType == '{instance.name}'"
                }
            }
        ],
    }
    devices: dict[str, Any] = {"requests": [{"name": CLAIM, "exactly": request}]}
    if count in CONNECTED_GROUPS:
        devices["constraints"] = [
            {"requests": [CLAIM], "matchAttribute": f"resource.aws.com/devicegroup{count}_id"}
        ]
    # The catalog counts Trainium2 cores at the LNC its figures assume (2 physical per logical):
    # the runtime must use the same, whatever the node's default.
    devices["config"] = [
        {
            "requests": [CLAIM],
            "opaque": {
                "driver": DRIVER,
                "parameters": {
                    "apiVersion": f"{DRIVER}/v1",
                    "kind": "NeuronConfig",
                    "logicalNeuronCore": instance.physical_cores_per_core,
                },
            },
        }
    ]
    spec = {"spec": {"devices": devices}}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]
    name = body["metadata"]["name"]
    return {
        "apiVersion": RESOURCE_API,
        "kind": "ResourceClaimTemplate",
        "metadata": {
            "name": f"{name}-{CLAIM}-{digest}",
            "namespace": body["metadata"]["namespace"],
            "labels": standard_labels(name),
            "ownerReferences": [owner_reference(body)],
        },
        "spec": spec,
    }


def claiming(pod_spec: dict[str, Any], template_name: str) -> dict[str, Any]:
    """The pod spec with the model server claiming its devices instead of asking for the
    device plugin's extended resources."""
    containers = [dict(c) for c in pod_spec["containers"]]
    server = containers[0]
    resources: dict[str, Any] = {
        k: dict(v) for k, v in (server.get("resources") or {}).items() if isinstance(v, dict)
    }
    for kind in ("requests", "limits"):
        for name in (NEURONCORE_RESOURCE, NEURON_DEVICE_RESOURCE):
            resources.get(kind, {}).pop(name, None)
    claims = [
        c for c in (server.get("resources") or {}).get("claims") or [] if c.get("name") != CLAIM
    ]
    resources["claims"] = [*claims, {"name": CLAIM}]
    server["resources"] = resources
    pod_claims = [c for c in pod_spec.get("resourceClaims") or [] if c.get("name") != CLAIM]
    return {
        **pod_spec,
        "containers": containers,
        "resourceClaims": [
            *pod_claims,
            {"name": CLAIM, "resourceClaimTemplateName": template_name},
        ],
    }
