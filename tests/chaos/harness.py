"""The fault harness: mitmproxy in reverse-proxy mode between the operator and kube-apiserver,
with tests/chaos/faultproxy.py deciding which requests fail and how; TCP resets with `ss -K`
(iproute2), which destroys the sockets as a broken network would."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tests.kube import wait_until

ROOT = Path(__file__).resolve().parents[2]
MITMDUMP = ROOT / ".venv-proxy" / "bin" / "mitmdump"
ADDON = Path(__file__).resolve().parent / "faultproxy.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class FaultProxy:
    """A running mitmdump; `rules` replaces the fault rules (the addon rereads the file)."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    seed: int = 1
    _written: int = field(default=0)

    @property
    def rules_file(self) -> Path:
        return self.directory / "rules.json"

    @property
    def log(self) -> Path:
        return self.directory / "requests.jsonl"

    @property
    def ca(self) -> Path:
        return self.directory / "mitmproxy-ca-cert.pem"

    def rules(self, *rules: dict[str, Any]) -> None:
        self._written += 1
        # A fresh file each time: the addon compares modification times.
        temporary = self.rules_file.with_suffix(f".{self._written}")
        temporary.write_text(json.dumps({"seed": self.seed, "rules": list(rules)}))
        temporary.replace(self.rules_file)

    def clear(self) -> None:
        self.rules()

    def requests(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Every request the operator made through the proxy (started at or after `since`,
        in time.time() seconds), as the addon logged it when it ended."""
        return [line for line in self._lines(since) if "opened" not in line]

    def watches_opened(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The watches the operator opened at or after `since`: when (`t`), and the path
        (`opened`)."""
        return [line for line in self._lines(since) if "opened" in line]

    def _lines(self, since: float) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return [line for line in lines if line["t"] >= since]

    def kubeconfig(self, through: Path, path: Path) -> Path:
        """A copy of the token kubeconfig `through` that talks to the API server via us."""
        config = yaml.safe_load(through.read_text())
        for cluster in config["clusters"]:
            cluster["cluster"] = {
                "server": f"https://127.0.0.1:{self.port}",
                "certificate-authority": str(self.ca),
            }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def reset_connections(self) -> int:
        """Destroy every TCP connection to the proxy (the operator's watches among them), as a
        network reset would; returns how many sockets `ss` killed."""
        done = subprocess.run(
            ["ss", "-K", "-t", "state", "established", "dport", "=", f":{self.port}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return max(0, len(done.stdout.strip().splitlines()) - 1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_proxy(directory: Path, upstream_port: int, upstream_ca: Path) -> FaultProxy:
    if not MITMDUMP.exists():
        raise AssertionError(f"{MITMDUMP} is missing: run `make proxy` (make test does)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proxy = FaultProxy(
        subprocess.Popen(
            [
                str(MITMDUMP),
                f"--mode=reverse:https://127.0.0.1:{upstream_port}",
                "--listen-host=127.0.0.1",
                f"--listen-port={port}",
                *("--set", f"confdir={directory}"),
                *("--set", f"ssl_verify_upstream_trusted_ca={upstream_ca}"),
                *("--set", "http2=false"),
                *("--set", "termlog_verbosity=warn"),
                *("--set", "flow_detail=0"),
                *("-s", str(ADDON)),
                *("--set", f"faults={directory / 'rules.json'}"),
                *("--set", f"faults_log={directory / 'requests.jsonl'}"),
            ],
            stdout=(directory / "mitmdump.log").open("ab"),
            stderr=subprocess.STDOUT,
        ),
        port,
        directory,
    )
    proxy.clear()
    wait_until(
        "mitmdump to listen",
        lambda: proxy.process.poll() is not None or (listening(port) and proxy.ca.exists()),
        timeout=60,
    )
    assert proxy.process.poll() is None, (directory / "mitmdump.log").read_text()
    return proxy


def rate(requests: list[dict[str, Any]], window: float) -> float:
    """The highest number of non-watch requests started in any `window` seconds, per second."""
    times = sorted(r["t"] for r in requests if not r["watch"])
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best / window


def writes(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in requests if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]


class MemoryLimit:
    """A memory limit on one process, enforced as the kubelet's is: by the kernel's OOM killer
    in a memory cgroup of its own (cgroup v1 or v2, whichever this machine mounts)."""

    def __init__(self, pid: int, name: str) -> None:
        self.directory, self._limit_file, usage_file = _new_memory_cgroup(name)
        self._usage = self.directory / usage_file
        # Pages it holds stay charged where they were (v2 never moves them; v1 only if the
        # kernel still supports moving charges): the limit counts what it allocates from now.
        with contextlib.suppress(OSError):
            (self.directory / "memory.move_charge_at_immigrate").write_text("3")
        (self.directory / "cgroup.procs").write_text(str(pid))

    def usage(self) -> int:
        """Bytes charged to the cgroup."""
        return int(self._usage.read_text())

    def limit(self, limit_bytes: int) -> None:
        (self.directory / self._limit_file).write_text(str(limit_bytes))

    def oom_kills(self) -> int:
        """How many processes the kernel OOM-killed in this cgroup."""
        for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
            path = self.directory / name
            if path.exists():
                for line in path.read_text().splitlines():
                    field, _, value = line.partition(" ")
                    if field == key:
                        return int(value)
        return 0

    def remove(self) -> None:
        # A process still in it (the restarted operator) keeps it until the process ends.
        with contextlib.suppress(OSError):
            self.directory.rmdir()


def _new_memory_cgroup(name: str) -> tuple[Path, str, str]:
    """A new child of this process's memory cgroup, and the names of its limit and usage
    files."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):  # cgroup v1
            directory = Path("/sys/fs/cgroup/memory") / path.lstrip("/") / name
            directory.mkdir(exist_ok=True)
            return directory, "memory.limit_in_bytes", "memory.usage_in_bytes"
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hierarchy, _, path = line.split(":", 2)
        if hierarchy == "0":  # cgroup v2: the memory controller must be delegated
            parent = Path("/sys/fs/cgroup") / path.lstrip("/")
            if "memory" in (parent / "cgroup.subtree_control").read_text().split():
                directory = parent / name
                directory.mkdir(exist_ok=True)
                return directory, "memory.max", "memory.current"
    raise AssertionError("no memory cgroup this test can create (cgroup v1 memory, or v2)")
