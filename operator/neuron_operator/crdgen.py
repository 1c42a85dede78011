"""Generate the NeuronDeployment CRD from the pydantic API types — the only way crds/ is made.

pydantic's JSON Schema is turned into a Kubernetes structural schema: references inlined,
optional (`anyOf [X, null]`) collapsed to X, exclusive bounds in OpenAPI v3 form, no
`additionalProperties: false` (unknown fields are pruned, or refused by kubectl's strict field
validation), `parameters` as int-or-string, the pod template as an embedded object whose fields
are kept. Static invariants become CEL rules (`x-kubernetes-validations`) so the API server
rejects them with the field named; the engine checks the rest.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from neuron_operator.api.status import NeuronDeploymentStatus
from neuron_operator.api.v1alpha1 import GROUP, KIND, VERSION, NeuronDeploymentSpec

PLURAL = "neurondeployments"
SINGULAR = "neurondeployment"
SHORT_NAMES = ["nd", "ndep"]
CRD_NAME = f"{PLURAL}.{GROUP}"
MAX_LIST = 32
MAX_NAME = 63

_DROP = {"title", "$defs"}


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return _inline({**target, **extra}, defs)
    return {k: _inline(v, defs) for k, v in node.items() if k not in _DROP}


def _structural(node: Any) -> Any:
    """Rewrite JSON Schema idioms pydantic emits into what a structural CRD schema allows."""
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express anyOf {options} structurally")
        node = {**options[0], **node}
    if node.get("default", 0) is None:
        del node["default"]
    for key, flag in (("gt", "exclusiveMinimum"), ("lt", "exclusiveMaximum")):
        if key in node:
            node["minimum" if key == "gt" else "maximum"] = node.pop(key)
            node[flag] = True
    for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if key in node and not isinstance(node[key], bool):
            node[bound] = node.pop(key)
            node[key] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    node.pop("additionalProperties", None) if node.get("properties") else None
    if node.get("type") == "object" and "properties" not in node:
        node.pop("additionalProperties", None)
        node["x-kubernetes-preserve-unknown-fields"] = True
    if node.get("type") == "array":
        node.setdefault("maxItems", 256)
    if node.get("type") == "string" and "enum" not in node:
        node.setdefault("maxLength", 1024)
    return {k: _structural(v) for k, v in node.items()}


def _schema(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True)
    result: dict[str, Any] = _structural(_inline(raw, raw.get("$defs", {})))
    return result


INSTANCE_TYPE_PATTERN = r"^(inf1|inf2|trn1|trn1n|trn2)\.[0-9a-z]+$"


def spec_schema() -> dict[str, Any]:
    schema = _schema(NeuronDeploymentSpec)
    props = schema["properties"]
    model = props["model"]["properties"]

    model["parameters"] = {
        "description": model["parameters"]["description"],
        "x-kubernetes-int-or-string": True,
        "x-kubernetes-validations": [
            {
                "rule": "type(self) == int ? self > 0 : "
                "self.matches('^[0-9]+(\\\\.[0-9]+)?[KkMmBbTt]?$') && "
                "!self.matches('^0+(\\\\.0+)?[KkMmBbTt]?$')",
                "message": "must be a positive number of weights: an integer or a number with a "
                "K/M/B/T suffix such as '110M' or '7B'",
            }
        ],
    }
    props["model"]["x-kubernetes-validations"] = [
        {
            "rule": "!has(self.kvHeads) || !has(self.attentionHeads) || "
            "(self.kvHeads <= self.attentionHeads && self.attentionHeads % self.kvHeads == 0)",
            "message": "kvHeads must divide attentionHeads",
            "fieldPath": ".kvHeads",
        },
        {
            "rule": "self.family != 'transformer-decoder' || !has(self.outputTokens) || "
            "!has(self.sequenceLength) || self.outputTokens < self.sequenceLength",
            "message": "outputTokens must be smaller than sequenceLength: for decoders the "
            "sequence length is the prompt plus the generated tokens",
            "fieldPath": ".outputTokens",
        },
    ]
    constraints = props["constraints"]["properties"]
    constraints["instanceFamilies"]["maxItems"] = 5
    constraints["instanceTypes"]["maxItems"] = MAX_LIST
    constraints["instanceTypes"]["items"].update(
        {"pattern": INSTANCE_TYPE_PATTERN, "maxLength": MAX_NAME}
    )
    overrides = props["overrides"]
    overrides["properties"]["instanceType"].update(
        {"pattern": INSTANCE_TYPE_PATTERN, "maxLength": MAX_NAME}
    )
    overrides["x-kubernetes-validations"] = [
        {
            "rule": "!has(self.coresPerReplica) || !has(self.instanceType) || "
            "!self.instanceType.startsWith('trn') || "
            "self.coresPerReplica in [1, 2, 4, 8, 16, 32, 64]",
            "message": "Trainium places NeuronCores in groups of 1, 2, 4, 8, 16, 32 or 64: "
            "coresPerReplica must be one of them",
            "fieldPath": ".coresPerReplica",
        }
    ]
    props["template"] = {
        "description": props["template"]["description"],
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "x-kubernetes-embedded-resource": False,
    }
    schema["x-kubernetes-validations"] = [
        {
            "rule": "!has(self.overrides) || !has(self.overrides.batchSize) || "
            "!has(self.model.batchSize) || self.overrides.batchSize == self.model.batchSize",
            "message": "overrides.batchSize contradicts model.batchSize; set one of them",
            "fieldPath": ".overrides.batchSize",
        }
    ]
    return schema


def status_schema() -> dict[str, Any]:
    schema = _schema(NeuronDeploymentStatus)
    # One writer (the operator) writes the status whole: atomic, its managed fields are one
    # entry, `f:status`, not a path per field that the API server recomputes on every write
    # (issue 15: about 1 s less of its CPU while 1,000 objects are created, of ~14 s).
    schema["x-kubernetes-map-type"] = "atomic"
    return schema


PRINTER_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Instance",
        "type": "string",
        "jsonPath": ".status.plan.instanceType",
        "description": "Instance type the replicas run on",
    },
    {
        "name": "Cores/replica",
        "type": "integer",
        "jsonPath": ".status.plan.coresPerReplica",
        "description": "NeuronCores per replica",
    },
    {
        "name": "Replicas",
        "type": "string",
        "jsonPath": ".status.readySummary",
        "description": "Ready/desired replicas",
    },
    {
        "name": "Cost/h",
        "type": "number",
        "jsonPath": ".status.plan.estimate.hourlyCost",
        "description": "On-demand USD per hour of the nodes used",
    },
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Whether the current spec is planned and available",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Mode",
        "type": "string",
        "jsonPath": ".status.plan.parallelism.mode",
        "priority": 1,
        "description": "Parallelism",
    },
    {"name": "Batch", "type": "integer", "jsonPath": ".status.plan.batchSize", "priority": 1},
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        "priority": 1,
    },
]


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/name": "neuron-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": ["all"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "description": "A model served (or trained) on AWS Inferentia or "
                            "Trainium. The operator sizes it — instance type, NeuronCores per "
                            "replica, batch, replicas — and runs it as a Deployment.",
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema(),
                                "status": status_schema(),
                            },
                        }
                    },
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.overrides.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


def crd_yaml() -> str:
    header = (
        "# Generated by `python -m neuron_operator crd` from operator/neuron_operator/api/.\n"
        "# Do not edit: change the API types and regenerate (the tests check they agree).\n"
    )
    return header + yaml.safe_dump(crd(), sort_keys=False, width=100)
