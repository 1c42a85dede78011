"""Command line: `neuron-operator plan -f FILE [--cluster] [-o manifests]`, `run`, `crd`,
`version`.

Exit status of `plan`: 0 a plan was found for every NeuronDeployment in FILE; 3 at least one
has no feasible plan (the plan, with its reasons, is still printed); 2 invalid input, with a
message naming the offending field. No user mistake produces a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from neuron_operator import __version__, kube_yaml
from neuron_operator.api.errors import format_validation_error
from neuron_operator.api.plan import NEURON_DEVICE_RESOURCE, Alternative, Plan, PlanRecord, Range
from neuron_operator.api.v1alpha1 import API_VERSION, KIND, NeuronDeploymentSpec
from neuron_operator.sizing import plan
from neuron_operator.sizing.catalog import Catalog, load_catalog

EXIT_OK = 0
EXIT_INVALID = 2
EXIT_INFEASIBLE = 3


class InputError(Exception):
    """A user mistake in the input; the message says what and where."""


@dataclass(frozen=True)
class Manifest:
    name: str
    spec: NeuronDeploymentSpec
    document: dict[str, Any]  # as written: what the operator would be given


def load_manifests(source: str, stdin: TextIO) -> list[Manifest]:
    """Read NeuronDeployment manifests from a file (or '-' for stdin)."""
    try:
        text = stdin.read() if source == "-" else Path(source).read_text()
    except OSError as error:
        raise InputError(f"cannot read {source}: {error.strerror}") from error
    if source == "-":
        source = "standard input"
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise InputError(f"{source} is not valid YAML: {error}") from error
    manifests = []
    for index, document in enumerate(documents):
        if not isinstance(document, dict):
            raise InputError(f"{source}: document {index + 1} is not a mapping")
        if document.get("kind") != KIND:
            continue
        where = f"document {index + 1}" if len(documents) > 1 else source
        if document.get("apiVersion") != API_VERSION:
            raise InputError(
                f"{where}: apiVersion: {document.get('apiVersion')!r} is not supported; "
                f"use {API_VERSION}"
            )
        metadata = document.get("metadata") or {}
        name = str(metadata.get("name", "(unnamed)")) if isinstance(metadata, dict) else "?"
        spec = document.get("spec")
        if not isinstance(spec, dict):
            raise InputError(f"{where}: spec: required mapping is missing")
        try:
            manifests.append(Manifest(name, NeuronDeploymentSpec.model_validate(spec), document))
        except ValidationError as error:
            raise InputError(format_validation_error(error, "spec")) from error
    if not manifests:
        raise InputError(f"{source} holds no {KIND} (apiVersion {API_VERSION})")
    return manifests


def _money(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"${value:,.{digits}f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _describe(option: Alternative | PlanRecord) -> str:
    p = option.parallelism
    assert p is not None
    if p.mode.value == "data":
        shape = f"data parallel, {p.copies} cop{'y' if p.copies == 1 else 'ies'}"
    elif p.mode.value == "pipeline":
        shape = f"NeuronCore Pipeline over {p.degree} cores"
    else:
        shape = f"tensor parallel degree {p.degree}" + (f" × {p.copies}" if p.copies > 1 else "")
    if option.resources and NEURON_DEVICE_RESOURCE in option.resources:
        shape += ", whole device"
    return shape


def _requests(resources: dict[str, int]) -> str:
    text = ", ".join(f"{name}: {count}" for name, count in sorted(resources.items()))
    if NEURON_DEVICE_RESOURCE in resources:
        return f"{text} per pod (whole devices: no neighbour shares their memory bandwidth)"
    return f"{text} per pod (estimated with every other core of its devices busy)"


def _replicas_line(result: PlanRecord) -> str:
    if result.nodes_per_replica:
        return (
            f"  Replicas     {result.replicas}, each across {result.nodes_per_replica} nodes (a "
            f"LeaderWorkerSet group, one pod per node), {result.cores_per_replica} NeuronCore(s) "
            f"per pod: {_describe(result)}, pipeline parallel across the nodes"
        )
    return (
        f"  Replicas     {result.replicas} ({result.replicas_per_node} per node), "
        f"{result.cores_per_replica} NeuronCore(s) each on {result.devices_per_replica} "
        f"device(s): {_describe(result)}"
    )


def _figure(value: float) -> str:
    """Two decimals, or three significant digits below 1 (a request a minute is not 0.00/s)."""
    return f"{value:,.2f}" if value >= 1 or value == 0 else f"{value:.3g}"


def _span(likely: Range) -> str:
    return f"{_figure(likely.low)}–{_figure(likely.high)}"


def render_table(name: str, result: PlanRecord) -> str:
    out = [f"NeuronDeployment {name} — objective: {result.objective}"]
    if result.feasible and result.estimate and result.memory and result.fit:
        e, m = result.estimate, result.memory
        out += [
            f"  Instance     {result.instance_type} × {result.nodes} node(s)",
            _replicas_line(result),
            f"  Requests     {_requests(result.resources or {})}",
            *(
                []
                if result.replicas_fitting_now is None
                else [
                    f"  Capacity     {result.replicas_fitting_now} of {result.replicas} "
                    "replica(s) fit the cluster's free Neuron capacity now"
                    + (
                        ""
                        if result.replicas_fitting_now == result.replicas
                        else "; the rest wait for new nodes"
                    )
                ]
            ),
            f"  Batch        {result.batch_size}",
            f"  Latency      p95 {e.latency_ms:,.2f} ms (likely {_span(e.latency_ms_range)} ms; "
            f"p50 {e.latency_p50_ms:,.2f} ms)",
        ]
        if e.time_per_output_token_ms is not None:
            out.append(
                f"  Tokens       TTFT {e.time_to_first_token_ms:,.1f} ms, "
                f"TPOT {e.time_per_output_token_ms:,.2f} ms, "
                f"{e.output_tokens_per_second:,.1f} output tokens/s per replica"
            )
        out += [
            f"  Throughput   {_figure(e.throughput)}/s (likely {_span(e.throughput_range)}/s; "
            f"{_figure(e.throughput_per_replica)}/s per replica)",
            f"  Cost         {_money(e.hourly_cost)}/h, {_money(e.cost_per_million, 4)} "
            "per million at full use",
            f"  Price        {result.price_source or 'unknown'}",
            f"  Memory       {m.required_gib:,.2f} of {m.available_gib:,.2f} GiB per replica "
            f"(weights {m.weights_gib:,.2f}, KV cache {m.kv_cache_gib:,.2f})",
            f"  Fit          {result.fit.verdict.value}: {result.fit.message}",
            f"  Why          {result.why}",
        ]
    else:
        out.append("  No feasible plan:")
        out += [f"  - {r.reason}: {r.message}" for r in result.reasons]
    if result.assumptions:
        out.append("  Assumptions")
        out += [f"  - {a}" for a in result.assumptions]
    if result.alternatives:
        out += ["", "Alternatives"]
        rows = [
            [
                a.instance_type,
                str(a.cores_per_replica),
                _describe(a),
                str(a.batch_size),
                str(a.replicas),
                str(a.nodes),
                f"{a.estimate.latency_ms:,.2f}",
                f"{a.estimate.throughput:,.1f}",
                _money(a.estimate.hourly_cost),
            ]
            for a in result.alternatives
        ]
        headers = [
            "INSTANCE",
            "CORES",
            "GROUPING",
            "BATCH",
            "REPLICAS",
            "NODES",
            "P95 MS",
            "THROUGHPUT/S",
            "$/H",
        ]
        out += ["  " + line for line in _table(headers, rows)]
    rejections = result.rejections()
    if rejections:
        out += ["", f"Rejected ({len(rejections)})"]
        rows = [
            [
                r.instance_type,
                "" if r.cores_per_replica is None else str(r.cores_per_replica),
                "" if r.batch_size is None else str(r.batch_size),
                r.reason,
                r.message,
            ]
            for r in rejections
        ]
        out += [
            "  " + line
            for line in _table(["INSTANCE", "CORES", "BATCH", "REASON", "MESSAGE"], rows)
        ]
    return "\n".join(out)


def plan_document(result: Plan) -> dict[str, Any]:
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


def load_prices(path: str) -> Catalog:
    """The catalog with the prices of a pricing.yaml file (docs/operator.md, Your prices)."""
    from neuron_operator.api.pricing import PricingSettings
    from neuron_operator.sizing.pricing import PricingError, priced

    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        settings = PricingSettings.model_validate(raw)
        return priced(load_catalog(), settings, f"prices file {path}")
    except OSError as error:
        raise InputError(f"--prices: {error}") from None
    except yaml.YAMLError as error:
        raise InputError(f"--prices: {path} is not YAML: {error}") from None
    except ValidationError as error:
        raise InputError(f"--prices: {format_validation_error(error, path)}") from None
    except PricingError as error:
        raise InputError(f"--prices: {path}: {error}") from None


def command_plan(args: argparse.Namespace, stdout: TextIO, stdin: TextIO) -> int:
    manifests = load_manifests(args.filename, stdin)
    capacity = None
    if args.cluster:
        from neuron_operator.cluster_capacity import ClusterUnreadable, read_capacity

        try:
            capacity = read_capacity()
        except ClusterUnreadable as error:
            raise InputError(f"--cluster: {error}") from None
    catalog = None
    if args.prices:
        catalog = load_prices(args.prices)
    if args.output == "manifests":
        return write_manifests(manifests, catalog, args.namespace, stdout, sys.stderr)
    results = [(m.name, plan(m.spec, catalog, capacity)) for m in manifests]
    if args.output == "table":
        stdout.write("\n\n".join(render_table(name, r) for name, r in results) + "\n")
    else:
        documents = [plan_document(r) for _, r in results]
        payload: Any = documents[0] if len(documents) == 1 else documents
        if args.output == "json":
            stdout.write(json.dumps(payload, indent=2) + "\n")
        else:
            stdout.write(kube_yaml.dump(payload))
    return EXIT_OK if all(r.feasible for _, r in results) else EXIT_INFEASIBLE


# What the API server would give the object; the owner references carry it.
OFFLINE_UID = "00000000-0000-0000-0000-000000000000"


def rendered_objects(
    manifest: Manifest, catalog: Catalog | None, namespace: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The objects the operator would apply for `manifest` in a cluster with no capacity
    information and default settings, rendered by the reconcile's own pure decision; or none
    and why not. A template the operator refuses is an InputError."""
    from neuron_operator.api.reasons import ReasonCode
    from neuron_operator.api.status import NeuronDeploymentStatus
    from neuron_operator.controller.reconcile import decide
    from neuron_operator.controller.settings import Settings

    metadata = dict(manifest.document.get("metadata") or {})
    metadata["namespace"] = namespace or metadata.get("namespace") or "default"
    metadata.update(uid=OFFLINE_UID, generation=1)
    body = {**manifest.document, "metadata": metadata}
    decision = decide(body, NeuronDeploymentStatus(), Settings(), catalog=catalog)
    verdict = decision.verdict
    if not verdict.planned:
        why = f"{manifest.name}: {verdict.reason}: {verdict.message}"
        if verdict.reason in (ReasonCode.TEMPLATE_NOT_ALLOWED, ReasonCode.IMAGE_NOT_ALLOWED):
            raise InputError(why)
        return [], why
    found = (
        decision.claim_template,
        decision.desired,
        decision.job,
        decision.service,
        decision.autoscaler,
    )
    return [obj for obj in found if obj is not None], None


def write_manifests(
    manifests: list[Manifest],
    catalog: Catalog | None,
    namespace: str | None,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """`plan -o manifests`: every object the operator would apply, as one YAML stream; what
    it would not apply, on stderr (exit 3)."""
    objects: list[dict[str, Any]] = []
    refused = []
    for manifest in manifests:
        rendered, why = rendered_objects(manifest, catalog, namespace)
        objects += rendered
        if why is not None:
            refused.append(why)
    stdout.write(kube_yaml.dump_all(objects))
    for why in refused:
        stderr.write(f"not applied: {why}\n")
    return EXIT_INFEASIBLE if refused else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuron-operator",
        description="Size and place ML models on AWS Inferentia and Trainium.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    plan_parser = commands.add_parser(
        "plan", help="size a NeuronDeployment manifest offline (no cluster needed)"
    )
    plan_parser.add_argument(
        "-f", "--filename", required=True, help="manifest file, or - for standard input"
    )
    plan_parser.add_argument(
        "-o",
        "--output",
        choices=("table", "json", "yaml", "manifests"),
        default="table",
        help="output format; manifests: the objects the operator would apply (its Deployment, "
        "Job, LeaderWorkerSet, Service, HPA, ResourceClaimTemplate), rendered offline with "
        "default settings, for review or a scanner",
    )
    plan_parser.add_argument(
        "-n",
        "--namespace",
        default=None,
        help="with -o manifests: the namespace to render the objects in (default: the "
        "manifest's, else default)",
    )
    plan_parser.add_argument(
        "--cluster",
        action="store_true",
        help="plan against the current kubectl context's capacity: only instance types it has "
        "or its Karpenter NodePools allow, ahead those that fit its free capacity now",
    )
    plan_parser.add_argument(
        "--prices",
        metavar="FILE",
        help="plan with your prices: a pricing.yaml as the operator's pricing ConfigMap holds "
        "it (on-demand and Spot prices, discounts, capacity type)",
    )
    crd_parser = commands.add_parser("crd", help="print the NeuronDeployment CRD (YAML)")
    crd_parser.add_argument("--write", metavar="FILE", help="write it to FILE instead")
    run_parser = commands.add_parser("run", help="run the operator (kopf)")
    run_parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=None,
        help="watch only this namespace (repeatable); default: every namespace, or "
        "$NEURON_OPERATOR_NAMESPACES (comma-separated)",
    )
    run_parser.add_argument(
        "--scheduler-name",
        default=None,
        help="schedulerName for pods (the Neuron scheduler extension)",
    )
    run_parser.add_argument(
        "--capacity-aware",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="plan against the cluster's nodes, pods and Karpenter NodePools (read cluster-wide, "
        "read-only), and fall back when pods cannot be scheduled; default: on, or "
        "$NEURON_OPERATOR_CAPACITY_AWARE",
    )
    run_parser.add_argument(
        "--pricing-configmap",
        default=None,
        metavar="NAMESPACE/NAME",
        help="plan with the prices in this ConfigMap's pricing.yaml (docs/operator.md); "
        "default: the catalog's list prices, or $NEURON_OPERATOR_PRICING_CONFIGMAP",
    )
    run_parser.add_argument(
        "--device-allocation",
        choices=("device-plugin", "dra", "auto"),
        default=None,
        help="how pods get Neuron devices: the device plugin's extended resources, Dynamic "
        "Resource Allocation on the families the Neuron DRA driver serves, or auto (DRA where "
        "the cluster has the neuron.aws.com DeviceClass); default auto, or "
        "$NEURON_OPERATOR_DEVICE_ALLOCATION",
    )
    run_parser.add_argument(
        "--minimum-pod-security",
        choices=("baseline", "restricted"),
        default=None,
        help="refuse templates whose pods would meet a lower Pod Security level (status."
        "podSecurity says which they meet); default baseline, or "
        "$NEURON_OPERATOR_MINIMUM_POD_SECURITY",
    )
    run_parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="reconciles at once (never two of one object); default 8, or $NEURON_OPERATOR_WORKERS",
    )
    run_parser.add_argument(
        "--api-qps",
        type=float,
        default=None,
        help="API requests a second the operator sends at most, on average (0: unpaced); "
        "default 300, or $NEURON_OPERATOR_API_QPS",
    )
    run_parser.add_argument(
        "--api-burst",
        type=int,
        default=None,
        help="API requests the operator may send at once above that pace; default 600, or "
        "$NEURON_OPERATOR_API_BURST",
    )
    run_parser.add_argument("--log-format", choices=("text", "json"), default=None)
    run_parser.add_argument(
        "--listen-address",
        default=None,
        help="address of the /healthz, /metrics and /readyz servers (default 0.0.0.0)",
    )
    run_parser.add_argument(
        "--liveness-port", type=int, default=None, help="port of /healthz (default 8080)"
    )
    run_parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="port of /metrics and /readyz (default 8081)",
    )
    run_parser.add_argument(
        "--peering",
        default=None,
        metavar="NAME",
        help="run as one of several replicas, one active at a time, sharing kopf's peering "
        "object NAME (a KopfPeering in each watched namespace, or a ClusterKopfPeering); "
        "default: standalone",
    )
    run_parser.add_argument(
        "--priority",
        type=int,
        default=None,
        help="this replica's peering priority (the highest live one is active); default: by "
        "seniority, so the replica that started first leads",
    )
    commands.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "plan":
            return command_plan(args, sys.stdout, sys.stdin)
        if args.command == "run":
            from neuron_operator.controller.run import run
            from neuron_operator.controller.settings import Settings

            try:
                from_env = Settings.from_env()
            except ValueError as error:
                sys.stderr.write(f"error: {error}\n")
                return EXIT_INVALID
            settings = from_env.overridden(
                namespaces=args.namespace,
                scheduler_name=args.scheduler_name,
                capacity_aware=args.capacity_aware,
                pricing_configmap=args.pricing_configmap,
                device_allocation=args.device_allocation,
                minimum_pod_security=args.minimum_pod_security,
                workers=args.workers,
                api_qps=args.api_qps,
                api_burst=args.api_burst,
                log_format=args.log_format,
                listen_address=args.listen_address,
                liveness_port=args.liveness_port,
                metrics_port=args.metrics_port,
                peering=args.peering,
                priority=args.priority,
            )
            return run(settings)
        if args.command == "crd":
            from neuron_operator.crdgen import crd_yaml

            if args.write:
                Path(args.write).write_text(crd_yaml())
            else:
                sys.stdout.write(crd_yaml())
            return EXIT_OK
        sys.stdout.write(f"neuron-operator {__version__}\n")
        return EXIT_OK
    except InputError as error:
        sys.stderr.write(f"error: {error}\n")
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
