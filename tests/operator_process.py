"""`neuron-operator run` as a subprocess of the tests, and its log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.kube import wait_until

STARTED = "Initial authentication has finished"


@dataclass
class Operator:
    """The operator running as a subprocess against the cluster, and its log."""

    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as an OOM kill or a node loss would: no cleanup runs."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def start_operator(
    kubeconfig: Path,
    log: Path,
    liveness_port: int,
    metrics_port: int,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    wait: bool = True,
) -> Operator:
    """Start the operator as the chart runs it (JSON logs), its servers on loopback; by default
    wait until it watches. The log is appended to, so restarts keep one history."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "neuron_operator",
                "run",
                "--log-format=json",
                "--listen-address=127.0.0.1",
                *("--liveness-port", str(liveness_port), "--metrics-port", str(metrics_port)),
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": str(kubeconfig), **(env or {})},
        )
    running = Operator(process, log)
    if wait:
        starts = log.read_text(errors="replace").count(STARTED)
        wait_until(
            "the operator to start watching",
            lambda: (
                process.poll() is not None
                or log.read_text(errors="replace").count(STARTED) > starts
            ),
        )
        assert process.poll() is None, f"operator exited:\n{running.tail()}"
    return running
