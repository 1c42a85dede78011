"""A real Kubernetes control plane on 127.0.0.1 with simulated Neuron nodes.

    python hack/cluster.py up       # idempotent: fast when already up
    python hack/cluster.py down     # stops every process it started, removes the cluster state
    python hack/cluster.py status
    python hack/cluster.py restart COMPONENT   # e.g. kube-apiserver or etcd (fault tests)

etcd, kube-apiserver (client-certificate and service-account authentication, Node+RBAC
authorization, the default admission plugins including PodSecurity), kube-controller-manager
and kube-scheduler (each with its own identity), kwok simulating the nodes' kubelets (pods the
real scheduler binds to a simulated node become Running), and LeaderWorkerSet's controller
(sigs.k8s.io/lws) with its CRD and its webhooks served on 127.0.0.1. Binaries come from .cluster/bin
(hack/tools.sh). Everything listens on 127.0.0.1 only. State lives in .cluster/: the admin
kubeconfig at .cluster/kubeconfig, logs in .cluster/logs/, process ids in .cluster/run/.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hack.simnodes import all_nodes  # noqa: E402

STATE = Path(os.environ.get("NEURON_CLUSTER_DIR", ROOT / ".cluster"))
BIN = STATE / "bin"
RUN = STATE / "run"
PKI = STATE / "pki"
LOGS = STATE / "logs"
KUBECONFIG = STATE / "kubeconfig"
HOST = "127.0.0.1"
PORT_BASE = int(os.environ.get("NEURON_CLUSTER_PORT_BASE", "16440"))
PORTS = {
    "apiserver": PORT_BASE + 3,
    "etcd": PORT_BASE + 10,
    "etcd-peer": PORT_BASE + 11,
    "controller-manager": PORT_BASE + 20,
    "scheduler": PORT_BASE + 21,
    "kwok": PORT_BASE + 30,
    "lws-webhook": PORT_BASE + 40,
    "lws-health": PORT_BASE + 41,
}
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "lws")
# Started on the cluster by others (`make demo` runs the operator), stopped with it by `down`.
CLIENTS = ("operator",)
SERVICE_CIDR = "10.96.0.0/16"


def log(message: str) -> None:
    print(f"==> {message}", flush=True)


def fail(message: str) -> NoReturn:
    raise SystemExit(f"error: {message} (logs: {LOGS})")


# --- certificates -------------------------------------------------------------------------


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=PKI)


def issue(name: str, subject: str, extensions: list[str]) -> None:
    """An EC P-256 key and a certificate for it signed by the cluster CA."""
    openssl(
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        subject,
    )
    (PKI / f"{name}.ext").write_text("\n".join(extensions) + "\n")
    openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "365",
        "-out",
        f"{name}.crt",
        "-extfile",
        f"{name}.ext",
    )


CLIENT = ["extendedKeyUsage=clientAuth", "keyUsage=critical,digitalSignature"]
IDENTITIES = {
    # file name: subject (O = groups, CN = user) — the bootstrap RBAC roles bind these users
    "admin": "/O=system:masters/CN=neuron-operator-admin",
    "controller-manager": "/CN=system:kube-controller-manager",
    "scheduler": "/CN=system:kube-scheduler",
    "kwok": "/O=system:masters/CN=kwok",  # kwok acts as every node's kubelet
    # The operator when tests and benchmarks run it as a process of its own; the audit log
    # tells its requests apart by this name. (The Helm chart's ServiceAccount is the least-
    # privilege identity; see tests/e2e.)
    "operator": "/O=system:masters/CN=neuron-operator-dev",
    # LeaderWorkerSet's controller; its chart's ClusterRole in a real cluster.
    "lws": "/O=system:masters/CN=lws-controller-manager",
}
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""


PKI_STAMP = "pki-v3"  # bump when IDENTITIES or the files below change


def ensure_pki() -> None:
    if (PKI / PKI_STAMP).exists():
        return
    shutil.rmtree(PKI, ignore_errors=True)
    PKI.mkdir(parents=True)
    openssl(
        "req",
        "-x509",
        "-nodes",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3650",
        "-subj",
        "/CN=neuron-operator-ca",
    )
    issue(
        "apiserver",
        "/CN=kube-apiserver",
        [
            "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
            "extendedKeyUsage=serverAuth",
            "keyUsage=critical,digitalSignature",
        ],
    )
    for name, subject in IDENTITIES.items():
        issue(name, subject, CLIENT)
    # The certificate LeaderWorkerSet's webhooks serve; the API server calls them at 127.0.0.1.
    issue(
        "lws-webhook",
        "/CN=lws-webhook",
        [
            "subjectAltName=IP:127.0.0.1",
            "extendedKeyUsage=serverAuth",
            "keyUsage=critical,digitalSignature",
        ],
    )
    (PKI / "audit-policy.yaml").write_text(AUDIT_POLICY)
    openssl("genrsa", "-out", "sa.key", "2048")
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")
    (PKI / PKI_STAMP).write_text("ok\n")


def kubeconfig(identity: str) -> dict[str, Any]:
    def b64(name: str) -> str:
        return base64.b64encode((PKI / name).read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "neuron-local",
                "cluster": {
                    "server": f"https://{HOST}:{PORTS['apiserver']}",
                    "certificate-authority-data": b64("ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": identity,
                "user": {
                    "client-certificate-data": b64(f"{identity}.crt"),
                    "client-key-data": b64(f"{identity}.key"),
                },
            }
        ],
        "contexts": [
            {"name": "neuron-local", "context": {"cluster": "neuron-local", "user": identity}}
        ],
        "current-context": "neuron-local",
    }


def token_kubeconfig(admin: dict[str, Any], user: str, token: str) -> dict[str, Any]:
    """A kubeconfig for the admin kubeconfig's cluster that authenticates with a bearer token
    (a ServiceAccount's, issued by the API) instead of a client certificate."""
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    server = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [server],
        "users": [{"name": user, "user": {"token": token.strip()}}],
        "contexts": [{"name": user, "context": {"cluster": server["name"], "user": user}}],
        "current-context": user,
    }


def write_token_kubeconfig(admin: Path, user: str, token: str, path: Path) -> Path:
    """token_kubeconfig for the cluster of the kubeconfig at `admin`, written to `path`."""
    path.write_text(
        yaml.safe_dump(token_kubeconfig(yaml.safe_load(admin.read_text()), user, token))
    )
    path.chmod(0o600)
    return path


def write_kubeconfigs() -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    for identity in IDENTITIES:
        path = RUN / f"{identity}.kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig(identity)))
        path.chmod(0o600)
    shutil.copy(RUN / "admin.kubeconfig", KUBECONFIG)
    KUBECONFIG.chmod(0o600)


# --- processes ----------------------------------------------------------------------------


def command_lines() -> dict[str, list[str]]:
    p, run = PKI, RUN
    client_auth = ["--authentication-kubeconfig", "--authorization-kubeconfig", "--kubeconfig"]

    def identity_flags(identity: str) -> list[str]:
        return [f"{flag}={run / f'{identity}.kubeconfig'}" for flag in client_auth]

    return {
        "etcd": [
            str(BIN / "etcd"),
            "--name=neuron-local",
            f"--data-dir={run / 'etcd'}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
            f"--listen-client-urls=http://{HOST}:{PORTS['etcd']}",
            f"--advertise-client-urls=http://{HOST}:{PORTS['etcd']}",
            f"--listen-peer-urls=http://{HOST}:{PORTS['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://{HOST}:{PORTS['etcd-peer']}",
            f"--initial-cluster=neuron-local=http://{HOST}:{PORTS['etcd-peer']}",
        ],
        "kube-apiserver": [
            str(BIN / "kube-apiserver"),
            f"--etcd-servers=http://{HOST}:{PORTS['etcd']}",
            f"--bind-address={HOST}",
            f"--advertise-address={HOST}",
            f"--secure-port={PORTS['apiserver']}",
            # The `kubernetes` Service endpoints cannot be a loopback address; nothing here
            # needs them (kubernetes#28723).
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            "--profiling=false",
            # Who wrote what: benchmarks count the operator's writes from this log.
            f"--audit-policy-file={p / 'audit-policy.yaml'}",
            f"--audit-log-path={LOGS / 'audit.log'}",
            "--audit-log-maxsize=200",
            "--audit-log-maxbackup=1",
        ],
        "kube-controller-manager": [
            str(BIN / "kube-controller-manager"),
            *identity_flags("controller-manager"),
            f"--bind-address={HOST}",
            f"--secure-port={PORTS['controller-manager']}",
            "--leader-elect=false",
            f"--root-ca-file={p / 'ca.crt'}",
            f"--service-account-private-key-file={p / 'sa.key'}",
            "--use-service-account-credentials=true",
            f"--cluster-signing-cert-file={p / 'ca.crt'}",
            f"--cluster-signing-key-file={p / 'ca.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--profiling=false",
        ],
        "kube-scheduler": [
            str(BIN / "kube-scheduler"),
            *identity_flags("scheduler"),
            f"--bind-address={HOST}",
            f"--secure-port={PORTS['scheduler']}",
            "--leader-elect=false",
            "--profiling=false",
        ],
        "kwok": [
            str(BIN / "kwok"),
            f"--kubeconfig={run / 'kwok.kubeconfig'}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--config={BIN / 'kwok-stages.yaml'}",
            f"--server-address={HOST}:{PORTS['kwok']}",
            "--node-ip=10.0.0.1",
            "--cidr=10.244.0.0/16",
            # Heartbeats through node Leases, renewed every 10 s, as kubelets do (and as the
            # node-heartbeat-with-lease stage assumes). Without them the node status heartbeat
            # alone came close to the 50 s grace period with ~50 nodes: nodes flapped NotReady
            # and the node lifecycle controller marked their pods not ready for good.
            "--node-lease-duration-seconds=40",
        ],
        "lws": [
            str(BIN / "lws"),
            f"--kubeconfig={run / 'lws.kubeconfig'}",
            f"--config={run / 'lws-config.yaml'}",
        ],
    }


# LeaderWorkerSet's controller outside a cluster: no leader election, no certificate rotation
# (ours, from the cluster CA), webhooks and health on 127.0.0.1, metrics off.
def write_lws_config() -> None:
    certs = RUN / "lws-certs"
    certs.mkdir(parents=True, exist_ok=True)
    shutil.copy(PKI / "lws-webhook.crt", certs / "tls.crt")
    shutil.copy(PKI / "lws-webhook.key", certs / "tls.key")
    config = {
        "apiVersion": "config.lws.x-k8s.io/v1alpha1",
        "kind": "Configuration",
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "webhook": {"host": HOST, "port": PORTS["lws-webhook"], "certDir": str(certs)},
        "metrics": {"bindAddress": "0"},
        "health": {"healthProbeBindAddress": f"{HOST}:{PORTS['lws-health']}"},
    }
    (RUN / "lws-config.yaml").write_text(yaml.safe_dump(config))


# The project's webhook configurations (config/webhook, with its patches: the pod webhooks
# only for LeaderWorkerSet's pods), pointed at the controller on 127.0.0.1.
LWS_WEBHOOKS = {
    "MutatingWebhookConfiguration": [
        ("mleaderworkerset.kb.io", "/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset", False),
        ("mpod.kb.io", "/mutate--v1-pod", True),
    ],
    "ValidatingWebhookConfiguration": [
        ("vleaderworkerset.kb.io", "/validate-leaderworkerset-x-k8s-io-v1-leaderworkerset", False),
        ("vpod.kb.io", "/validate--v1-pod", True),
    ],
}


def lws_webhooks() -> list[dict[str, Any]]:
    ca = base64.b64encode((PKI / "ca.crt").read_bytes()).decode()
    documents = []
    for kind, hooks in LWS_WEBHOOKS.items():
        webhooks = []
        for name, path, pods in hooks:
            rule = (
                {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
                if pods
                else {
                    "apiGroups": ["leaderworkerset.x-k8s.io"],
                    "apiVersions": ["v1"],
                    "resources": ["leaderworkersets"],
                }
            )
            operations = ["CREATE", "UPDATE"]
            if pods and kind == "MutatingWebhookConfiguration":
                operations = ["CREATE"]
            hook: dict[str, Any] = {
                "name": name,
                "admissionReviewVersions": ["v1"],
                "clientConfig": {
                    "url": f"https://{HOST}:{PORTS['lws-webhook']}{path}",
                    "caBundle": ca,
                },
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "rules": [{**rule, "operations": operations}],
            }
            if pods:
                hook["objectSelector"] = {
                    "matchExpressions": [
                        {"key": "leaderworkerset.sigs.k8s.io/name", "operator": "Exists"}
                    ]
                }
            webhooks.append(hook)
        documents.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": kind,
                "metadata": {"name": "lws-" + kind.removesuffix("WebhookConfiguration").lower()},
                "webhooks": webhooks,
            }
        )
    return documents


def lws_crd_established() -> bool:
    crd = json.loads(
        kubectl("get", "crd", "leaderworkersets.leaderworkerset.x-k8s.io", "-o", "json")
    )
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def lws_ready() -> bool:
    return http_ok(f"http://{HOST}:{PORTS['lws-health']}/readyz")


def start_lws() -> None:
    """The CRD first (the controller watches it from the start), then the controller, then the
    webhooks that call it."""
    log("installing the LeaderWorkerSet CRD and starting its controller")
    kubectl(
        "apply", "--server-side", "--field-manager=neuron-cluster", "-f", str(BIN / "lws-crd.yaml")
    )
    wait_for("the LeaderWorkerSet CRD Established", lws_crd_established, 60, "kube-apiserver")
    write_lws_config()
    start("lws", command_lines()["lws"])
    wait_for("lws /readyz", lws_ready, 60, "lws")
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=neuron-cluster",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(lws_webhooks()),
    )


def pid_file(component: str) -> Path:
    return RUN / f"{component}.pid"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie of ours counts as dead.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return state != "Z"


def running(component: str) -> int | None:
    try:
        pid = int(pid_file(component).read_text())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def start(
    component: str, argv: list[str], env: dict[str, str] | None = None, append: bool = False
) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / f"{component}.log").open("a" if append else "w") as out:
        # Its own session, so `down` can stop it and every child it has, and so it outlives
        # the shell that ran `make cluster-up`.
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    pid_file(component).write_text(f"{process.pid}\n")


def wait_for(what: str, check: Callable[[], bool], timeout: float, component: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running(component) is None:
            fail(f"{component} exited while waiting for {what}; see {LOGS / (component + '.log')}")
        try:
            if check():
                return
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
        time.sleep(0.25)
    fail(f"timed out after {timeout:.0f}s waiting for {what}")


def https_ok(url: str, client: bool) -> bool:
    context = ssl.create_default_context(cafile=str(PKI / "ca.crt"))
    if client:
        context.load_cert_chain(str(PKI / "admin.crt"), str(PKI / "admin.key"))
    else:  # component health endpoints serve self-signed certificates
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url, context=context, timeout=2) as response:
        return bool(response.status == 200)


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(
        [str(BIN / "kubectl"), f"--kubeconfig={KUBECONFIG}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check and done.returncode:
        raise subprocess.SubprocessError(done.stderr.strip())
    return done.stdout


def api_ready() -> bool:
    return https_ok(f"https://{HOST}:{PORTS['apiserver']}/readyz", client=True)


def nodes_ready() -> bool:
    items = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    expected = {n["metadata"]["name"] for n in all_nodes()}
    ready = {
        n["metadata"]["name"]
        for n in items
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in n.get("status", {}).get("conditions", [])
        )
    }
    return expected <= ready


def create_nodes() -> bool:
    return apply_nodes(all_nodes())


def apply_nodes(nodes: list[dict[str, Any]]) -> bool:
    """Create (or update) simulated nodes, status included, as their kubelets would."""
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=neuron-cluster",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(nodes),
    )
    # Status is a subresource: write capacity/allocatable there as a node's kubelet would.
    for node in nodes:
        status = {"status": {k: node["status"][k] for k in ("capacity", "allocatable", "nodeInfo")}}
        kubectl(
            "patch",
            "node",
            node["metadata"]["name"],
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(status),
        )
    return True


def is_up() -> bool:
    if any(running(c) is None for c in COMPONENTS):
        return False
    try:
        return api_ready() and nodes_ready()
    except (OSError, ValueError, subprocess.SubprocessError):
        return False


def up() -> None:
    started = time.monotonic()
    missing = [c for c in COMPONENTS if not (BIN / c).exists()]
    if missing:
        fail(f"missing binaries {', '.join(missing)} in {BIN}: run `make tools`")
    if is_up():
        log(f"cluster already up: KUBECONFIG={KUBECONFIG}")
        return
    down(quiet=True)
    try:
        start_cluster(started)
    except BaseException:
        down(quiet=True)  # no half-started cluster is left behind; logs stay in .cluster/logs
        raise


def start_cluster(started: float) -> None:
    ensure_pki()
    write_kubeconfigs()
    argv = command_lines()
    log(f"starting etcd on {HOST}:{PORTS['etcd']}")
    start("etcd", argv["etcd"])
    wait_for("etcd", lambda: http_ok(f"http://{HOST}:{PORTS['etcd']}/health"), 30, "etcd")
    log(f"starting kube-apiserver on https://{HOST}:{PORTS['apiserver']}")
    start("kube-apiserver", argv["kube-apiserver"])
    wait_for("kube-apiserver /readyz", api_ready, 90, "kube-apiserver")
    for component in ("kube-controller-manager", "kube-scheduler", "kwok"):
        log(f"starting {component}")
        start(component, argv[component])
    health = {
        "kube-controller-manager": f"https://{HOST}:{PORTS['controller-manager']}/healthz",
        "kube-scheduler": f"https://{HOST}:{PORTS['scheduler']}/healthz",
    }
    for component, url in health.items():
        wait_for(f"{component} /healthz", partial(https_ok, url, client=False), 60, component)
    log("creating simulated Neuron nodes from the instance catalog")
    wait_for("node creation", create_nodes, 60, "kube-apiserver")
    wait_for("all nodes Ready", nodes_ready, 60, "kwok")
    # The service-account controller must have made the default ServiceAccount, or pods
    # cannot be admitted.
    wait_for(
        "serviceaccount default/default",
        lambda: bool(kubectl("get", "serviceaccount", "default", "-o", "name")),
        60,
        "kube-controller-manager",
    )
    start_lws()
    log(f"cluster up in {time.monotonic() - started:.1f}s: export KUBECONFIG={KUBECONFIG}")


def stop(pid: int) -> None:
    """SIGTERM the process group, SIGKILL it after 15 s."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 15
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)


# How to tell a restarted component is serving again.
def healthy(component: str) -> bool:
    checks: dict[str, Callable[[], bool]] = {
        "etcd": lambda: http_ok(f"http://{HOST}:{PORTS['etcd']}/health"),
        "kube-apiserver": api_ready,
        "kube-controller-manager": partial(
            https_ok, f"https://{HOST}:{PORTS['controller-manager']}/healthz", client=False
        ),
        "kube-scheduler": partial(
            https_ok, f"https://{HOST}:{PORTS['scheduler']}/healthz", client=False
        ),
        "kwok": lambda: True,
        "lws": lws_ready,
    }
    return checks[component]()


def restart(component: str) -> None:
    """Stop one component and start it again as `up` did (for fault tests: the API server or
    etcd going away under the operator). Waits until it serves again."""
    pid = running(component)
    if pid is None:
        fail(f"{component} is not running: start the cluster with `up`")
    started = time.monotonic()
    stop(pid)
    start(component, command_lines()[component], append=True)
    wait_for(f"{component} to serve again", partial(healthy, component), 90, component)
    log(f"{component} restarted in {time.monotonic() - started:.1f}s")


def down(quiet: bool = False) -> None:
    pids = {c: running(c) for c in (*COMPONENTS, *CLIENTS)}
    # Clients first, then reverse start order: the API server outlives its clients, etcd
    # outlives the API server.
    for component in (*CLIENTS, *reversed(COMPONENTS)):
        pid = pids[component]
        if pid is not None:
            stop(pid)
    shutil.rmtree(RUN, ignore_errors=True)
    KUBECONFIG.unlink(missing_ok=True)
    if not quiet:
        log("cluster down")


def status() -> int:
    for component in COMPONENTS:
        pid = running(component)
        print(f"{component:24s} {'running, pid ' + str(pid) if pid else 'stopped'}")
    up_now = is_up()
    print(f"{'cluster':24s} {'up' if up_now else 'not ready'}")
    return 0 if up_now else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("up", "down", "status", "restart"))
    parser.add_argument("component", nargs="?", choices=COMPONENTS)
    args = parser.parse_args()
    if args.command == "restart":
        if args.component is None:
            parser.error("restart needs a COMPONENT")
        restart(args.component)
    elif args.command == "up":
        up()
    elif args.command == "down":
        down()
    else:
        raise SystemExit(status())


if __name__ == "__main__":
    main()
