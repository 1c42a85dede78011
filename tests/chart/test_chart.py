"""The Helm chart: lint, schema, rendering, validation by the real API server, least privilege,
and install / upgrade / uninstall on the local control plane."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CHART, OPERATOR_NAMESPACE
from tests.kube import Cluster, kube_version, wait_until

ROOT = Path(__file__).resolve().parents[2]
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
# The Prometheus Operator's CRD is not on the local control plane: ServiceMonitors are checked
# by shape here, everything else by the API server.
NOT_ON_THE_LOCAL_SERVER = {"ServiceMonitor"}


def render(cluster: Cluster, *args: str, namespace: str = OPERATOR_NAMESPACE) -> list[Any]:
    output = cluster.helm_run(
        "template",
        "neuron-operator",
        str(CHART),
        f"--namespace={namespace}",
        f"--kube-version={kube_version()}",
        *args,
    )
    return [d for d in yaml.safe_load_all(output) if d]


def of_kind(documents: list[Any], kind: str) -> list[Any]:
    return [d for d in documents if d["kind"] == kind]


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_helm_lint_strict(cluster: Cluster, values: Path) -> None:
    output = cluster.helm_run(
        "lint", "--strict", f"--kube-version={kube_version()}", str(CHART), f"--values={values}"
    )
    assert "1 chart(s) linted, 0 chart(s) failed" in output


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("--set=imagePullPolicy=Always", "imagePullPolicy"),  # a typo of image.pullPolicy
        ("--set=image.pullPolicy=Sometimes", "pullPolicy"),
        ("--set=logFormat=xml", "logFormat"),
        ("--set=watchNamespaces[0]=Not_A_Namespace", "watchNamespaces"),
        ("--set=metrics.port=80", "port"),  # the operator runs as non-root
        ("--set=image.digest=latest", "digest"),  # a digest is sha256:<64 hex>
        ("--set=networkPolicy.apiServer.ports[0]=0", "ports"),
        ("--set=minimumPodSecurity=privileged", "minimumPodSecurity"),
        ("--set=workers=0", "workers"),
        ("--set=apiQps=-1", "apiQps"),
    ],
)
def test_values_schema_refuses_unknown_keys_and_bad_values(
    cluster: Cluster, setting: str, named: str
) -> None:
    code, output = cluster.helm_attempt(
        "template", "x", str(CHART), f"--kube-version={kube_version()}", setting
    )
    assert code != 0
    assert "values don't meet the specifications of the schema" in output
    assert named in output


def test_the_operator_pod_meets_the_restricted_profile(cluster: Cluster) -> None:
    (deployment,) = of_kind(render(cluster), "Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["limits"]["memory"]


FORBIDDEN_RESOURCES = {"secrets", "pods", "pods/exec", "pods/attach", "serviceaccounts/token"}
FORBIDDEN_VERBS = {"delete", "deletecollection", "update", "escalate", "bind", "impersonate"}


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_rbac_grants_only_what_the_operator_uses(cluster: Cluster, values: Path) -> None:
    documents = render(cluster, f"--values={values}")
    roles = of_kind(documents, "ClusterRole") + of_kind(documents, "Role")
    assert roles
    for role in roles:
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
            forbidden = FORBIDDEN_RESOURCES & set(rule["resources"])
            if forbidden == {"pods"} and set(rule["verbs"]) <= {"list", "watch"}:
                forbidden = set()  # capacity: which node each pod holds cores on, read-only
            assert not forbidden, rule
            verbs = FORBIDDEN_VERBS & set(rule["verbs"])
            if verbs == {"delete"} and rule["resources"] == ["horizontalpodautoscalers"]:
                verbs = set()  # the HPA of a NeuronDeployment that no longer autoscales
            if verbs == {"update"} and rule["resources"] == ["neurondeployments/status"]:
                verbs = set()  # a new object's first status, whole (its own subresource only)
            assert not verbs, rule
    cluster_wide = {
        resource
        for role in of_kind(documents, "ClusterRole")
        for rule in role["rules"]
        for resource in rule["resources"]
    }
    given = yaml.safe_load(values.read_text()) or {}
    capacity = {"nodes", "pods", "nodepools"}
    if given.get("capacityAware", True):
        # Capacity: read-only, cluster-wide, in a role of its own.
        (role,) = [
            r
            for r in of_kind(documents, "ClusterRole")
            if r["metadata"]["name"].endswith("-capacity")
        ]
        granted = {
            (res, verb)
            for rule in role["rules"]
            for res in rule["resources"]
            for verb in rule["verbs"]
        }
        assert granted == {(res, verb) for res in capacity for verb in ("list", "watch")}
    else:
        assert not capacity & cluster_wide, "capacity-awareness off still reads the cluster"
    cluster_wide -= capacity
    namespaced = {res for role in roles for rule in role["rules"] for res in rule["resources"]}
    if given.get("deviceAllocation", "auto") == "auto":
        (role,) = [
            r
            for r in of_kind(documents, "ClusterRole")
            if r["metadata"]["name"].endswith("-deviceclass")
        ]
        assert role["rules"] == [
            {
                "apiGroups": ["resource.k8s.io"],
                "resources": ["deviceclasses"],
                "resourceNames": ["neuron.aws.com"],
                "verbs": ["get", "list", "watch"],
            }
        ]
    elif given.get("deviceAllocation") == "device-plugin":
        assert not {"deviceclasses", "resourceclaimtemplates"} & namespaced
    cluster_wide -= {"deviceclasses"}
    if given.get("watchNamespaces"):
        # Namespaced mode: nothing about workloads cluster-wide, only CRD discovery.
        assert cluster_wide == {"customresourcedefinitions"}
        namespaces = {r["metadata"]["namespace"] for r in of_kind(documents, "Role")}
        assert namespaces == set(yaml.safe_load(values.read_text())["watchNamespaces"])


def test_crd_values_install_keep_or_skip(cluster: Cluster) -> None:
    (kept,) = of_kind(render(cluster), "CustomResourceDefinition")
    assert kept["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert (
        kept["spec"]
        == yaml.safe_load((ROOT / "crds" / "neuron.dev_neurondeployments.yaml").read_text())["spec"]
    )
    (dropped,) = of_kind(render(cluster, "--set=crds.keep=false"), "CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in (dropped["metadata"].get("annotations") or {})
    assert not of_kind(render(cluster, "--set=crds.install=false"), "CustomResourceDefinition")


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def peering_rules(documents: list[Any]) -> list[dict[str, Any]]:
    return [
        rule
        for role in of_kind(documents, "ClusterRole") + of_kind(documents, "Role")
        for rule in role["rules"]
        if rule["apiGroups"] == ["kopf.dev"]
    ]


def test_two_replicas_elect_a_leader_through_the_release_s_own_peering_object(
    cluster: Cluster,
) -> None:
    documents = render(cluster)
    (deployment,) = of_kind(documents, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    env = env_of(deployment)
    (peering,) = of_kind(documents, "ClusterKopfPeering")
    assert env["NEURON_OPERATOR_PEERING"] == peering["metadata"]["name"] == "neuron-operator"
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # Write access to this peering object only; list and watch (kopf follows them all).
    assert {
        (tuple(r["verbs"]), tuple(r.get("resourceNames", ()))) for r in peering_rules(documents)
    } == {(("list", "watch"), ()), (("get", "patch"), ("neuron-operator",))}
    (budget,) = of_kind(documents, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"]


def test_namespaced_replicas_peer_in_each_watched_namespace(cluster: Cluster) -> None:
    documents = render(cluster, f"--values={CHART / 'ci' / 'namespaced-values.yaml'}")
    peerings = of_kind(documents, "KopfPeering")
    assert {p["metadata"]["namespace"] for p in peerings} == {"ml-serving", "ml-training"}
    assert not of_kind(documents, "ClusterKopfPeering")
    assert {r["resources"][0] for r in peering_rules(documents)} == {"kopfpeerings"}


def test_one_replica_runs_standalone_and_more_need_leader_election(cluster: Cluster) -> None:
    documents = render(cluster, "--set=replicaCount=1", "--set=leaderElection.enabled=false")
    (deployment,) = of_kind(documents, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "NEURON_OPERATOR_PEERING" not in env_of(deployment)
    assert not peering_rules(documents)
    assert not of_kind(documents, "PodDisruptionBudget") + of_kind(documents, "ClusterKopfPeering")
    code, output = cluster.helm_attempt(
        "template",
        "neuron-operator",
        str(CHART),
        f"--kube-version={kube_version()}",
        "--set=replicaCount=2",
        "--set=leaderElection.enabled=false",
    )
    assert code != 0 and "needs leaderElection.enabled=true" in output, output


def test_service_monitor_scrapes_the_metrics_service(cluster: Cluster) -> None:
    documents = render(cluster, f"--values={CHART / 'ci' / 'monitoring-values.yaml'}")
    (monitor,) = of_kind(documents, "ServiceMonitor")
    (service,) = of_kind(documents, "Service")
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


def not_terminating(cluster: Cluster, name: str) -> bool:
    phase = cluster.run("get", "namespace", name, "-o=jsonpath={.status.phase}", check=False)
    return phase != "Terminating"


@pytest.fixture(scope="module")
def restricted_namespaces(cluster: Cluster) -> Iterator[list[str]]:
    """The namespaces the ci values name, created with the restricted Pod Security profile
    enforced and warned about."""
    names = [OPERATOR_NAMESPACE, "ml-serving", "ml-training"]
    for name in names:
        # A namespace an earlier run deleted may still be terminating: let it go first.
        wait_until(
            f"namespace {name} to finish terminating", partial(not_terminating, cluster, name)
        )
        cluster.run("create", "namespace", name, check=False)
        cluster.run(
            "label",
            "--overwrite",
            "namespace",
            name,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted",
        )
    yield names
    for name in names[1:]:
        cluster.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_rendered_manifests_pass_the_api_server_and_pod_security(
    cluster: Cluster, crd_installed: None, restricted_namespaces: list[str], values: Path
) -> None:
    documents = [
        d for d in render(cluster, f"--values={values}") if d["kind"] not in NOT_ON_THE_LOCAL_SERVER
    ]
    code, output = cluster.attempt(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=chart-check",
        "--dry-run=server",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(documents),
    )
    assert code == 0, output
    # PodSecurity answers "Warning: would violate PodSecurity ..." for a pod template breaking it.
    assert "Warning" not in output, output
    assert output.count("(server dry run)") == len(documents)


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("get", "secrets", "no"),
        ("list", "secrets", "no"),
        ("create", "pods", "no"),
        ("get", "pods", "no"),
        ("list", "pods", "yes"),
        ("watch", "nodes", "yes"),
        ("patch", "nodes", "no"),
        ("create", "pods/exec", "no"),
        ("delete", "deployments.apps", "no"),
        ("delete", "horizontalpodautoscalers.autoscaling", "yes"),
        ("delete", "pods", "no"),
        ("update", "neurondeployments.neuron.dev", "no"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io", "no"),
        ("watch", "neurondeployments.neuron.dev", "yes"),
        ("patch", "neurondeployments.neuron.dev/status", "yes"),
        ("patch", "deployments.apps", "yes"),
        ("patch", "leaderworkersets.leaderworkerset.x-k8s.io", "yes"),
        ("delete", "leaderworkersets.leaderworkerset.x-k8s.io", "no"),
        ("create", "events", "yes"),
        ("patch", "events", "yes"),
        ("get", "events", "no"),
        ("patch", "clusterkopfpeerings.kopf.dev/neuron-operator", "yes"),
        ("patch", "clusterkopfpeerings.kopf.dev/someone-else", "no"),
        ("create", "clusterkopfpeerings.kopf.dev", "no"),
    ],
)
def test_what_the_operator_service_account_can_and_cannot_do(
    cluster: Cluster, operator_release: str, verb: str, resource: str, allowed: str
) -> None:
    who = f"--as=system:serviceaccount:{OPERATOR_NAMESPACE}:{operator_release}"
    code, output = cluster.attempt("auth", "can-i", verb, resource, "--all-namespaces", who)
    assert output.strip() == allowed, f"{verb} {resource}: {output}"
    assert (code == 0) == (allowed == "yes")


def test_install_upgrade_uninstall_in_namespaced_mode_keeps_the_crd(
    cluster: Cluster, crd_installed: None
) -> None:
    """A second release serving one namespace: installed, upgraded, uninstalled. It adopts the
    CRD the tests share and must leave it (crds.keep) when it goes."""
    suffix = uuid.uuid4().hex[:6]
    release, home, served, other = (
        f"chart-{suffix}",
        f"op-{suffix}",
        f"ml-{suffix}",
        f"x-{suffix}",
    )
    for name in (home, served, other):
        cluster.run("create", "namespace", name)
    crd = "crd/neurondeployments.neuron.dev"
    # Let helm adopt the existing CRD, as it would one it had installed itself.
    cluster.run("label", "--overwrite", crd, "app.kubernetes.io/managed-by=Helm")
    cluster.run(
        "annotate",
        "--overwrite",
        crd,
        f"meta.helm.sh/release-name={release}",
        f"meta.helm.sh/release-namespace={home}",
    )
    try:
        cluster.helm_run(
            "install",
            release,
            str(CHART),
            f"--namespace={home}",
            f"--set=watchNamespaces[0]={served}",
        )
        fullname = f"{release}-neuron-operator"
        account = f"system:serviceaccount:{home}:{fullname}"
        for namespace, expected in ((served, "yes"), (other, "no")):
            _, output = cluster.attempt(
                "auth", "can-i", "patch", "deployments.apps", f"-n={namespace}", f"--as={account}"
            )
            assert output.strip() == expected, f"patch deployments in {namespace}: {output}"

        cluster.helm_run(
            "upgrade",
            release,
            str(CHART),
            f"--namespace={home}",
            "--reuse-values",
            "--set=logFormat=text",
        )
        args = cluster.run(
            "get",
            "deployment",
            fullname,
            f"-n={home}",
            "-o=jsonpath={.spec.template.spec.containers[0].args}",
        )
        assert "--log-format=text" in args

        cluster.helm_run("uninstall", release, f"--namespace={home}", "--wait")
        code, _ = cluster.attempt("get", "clusterrole", f"{fullname}-crd-discovery")
        assert code != 0, "uninstall left the ClusterRole behind"
        code, _ = cluster.attempt("get", "serviceaccount", fullname, f"-n={home}")
        assert code != 0, "uninstall left the ServiceAccount behind"
        assert cluster.attempt("get", crd)[0] == 0, "uninstall deleted the CRD despite crds.keep"
    finally:
        for name in (home, served, other):
            cluster.run("delete", "namespace", name, "--wait=false", check=False)


def test_a_digest_pins_the_image_and_the_network_policy_allows_only_the_operators_traffic(
    cluster: Cluster,
) -> None:
    hardened = CHART / "ci" / "hardened-values.yaml"
    documents = render(cluster, f"--values={hardened}")
    (deployment,) = of_kind(documents, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    digest = yaml.safe_load(hardened.read_text())["image"]["digest"]
    assert container["image"] == f"neuron-operator@{digest}"
    (policy,) = of_kind(documents, "NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    (ingress,) = spec["ingress"]
    assert {p["port"] for p in ingress["ports"]} == {p["containerPort"] for p in container["ports"]}
    api, dns = spec["egress"]
    assert api["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}]
    assert {p["port"] for p in api["ports"]} == {443, 6443}
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    # Off by default: no policy, the tag's image.
    plain = render(cluster)
    assert not of_kind(plain, "NetworkPolicy")
    (default,) = of_kind(plain, "Deployment")
    assert "@" not in default["spec"]["template"]["spec"]["containers"][0]["image"]


def test_the_minimum_pod_security_level_and_the_pace_reach_the_operator(cluster: Cluster) -> None:
    def env(*args: str) -> dict[str, str]:
        (deployment,) = of_kind(render(cluster, *args), "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: str(e.get("value")) for e in container["env"]}

    default = env()
    assert default["NEURON_OPERATOR_MINIMUM_POD_SECURITY"] == "baseline"
    assert (
        default["NEURON_OPERATOR_WORKERS"],
        default["NEURON_OPERATOR_API_QPS"],
        default["NEURON_OPERATOR_API_BURST"],
    ) == ("8", "300", "600")
    hardened = env(f"--values={CHART / 'ci' / 'hardened-values.yaml'}")
    assert hardened["NEURON_OPERATOR_MINIMUM_POD_SECURITY"] == "restricted"
