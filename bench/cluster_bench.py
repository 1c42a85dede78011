"""Benchmark the local control plane: warm `cluster-up` and, with --cold, the tool builds.

    python bench/cluster_bench.py [--write docs/benchmarks.md] [--runs 3] [--cold]

Warm: with the tools cached, `hack/cluster.py down` then `hack/cluster.py up` (to a Ready API
server, all simulated nodes Ready and the default ServiceAccount made), `runs` times.
Cold (--cold, ~10 min): `hack/tools.sh all` from empty Go module, Go build and tool caches in a
scratch directory — what a fresh machine pays once — in a clean clone of this checkout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.plan_bench import machine, write_section  # noqa: E402

WARM = ("<!-- cluster-warm:start -->", "<!-- cluster-warm:end -->")
COLD = ("<!-- cluster-cold:start -->", "<!-- cluster-cold:end -->")
CLUSTER = [sys.executable, str(ROOT / "hack" / "cluster.py")]


def warm(runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        subprocess.run([*CLUSTER, "down"], check=True, capture_output=True)
        start = time.perf_counter()
        subprocess.run([*CLUSTER, "up"], check=True, capture_output=True)
        seconds.append(time.perf_counter() - start)
    return seconds


def time_cold_build(target: str) -> float:
    """Seconds for `hack/tools.sh TARGET` in a clean clone of this checkout with empty Go module,
    Go build and tool caches: what a fresh machine pays once (the clone keeps this checkout's
    links to its tools as they are)."""
    with tempfile.TemporaryDirectory(prefix="neuron-cold-") as scratch:
        clone = Path(scratch) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {
            **os.environ,
            "GOMODCACHE": f"{scratch}/gomod",
            "GOCACHE": f"{scratch}/gocache",
            "NEURON_OPERATOR_CACHE": f"{scratch}/tools",
        }
        start = time.perf_counter()
        subprocess.run(
            ["bash", "hack/tools.sh", target],
            cwd=clone,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - start
        subprocess.run(["chmod", "-R", "u+w", scratch], check=False)  # Go's cache is read-only
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}"
    if args.cold:
        seconds = time_cold_build("all")
        text = "\n".join(
            [
                COLD[0],
                "## Local control plane: building the tools on a fresh machine",
                "",
                f"Measured {when} by `python bench/cluster_bench.py --cold` on {machine()}: "
                "`hack/tools.sh all` (Kubernetes 1.36.3 apiserver, controller-manager, scheduler "
                "and kubectl; etcd 3.6.16; kwok and kwokctl 0.8.0; helm; kind) with empty Go "
                "module, build and tool caches, modules fetched from the Go module proxy.",
                "",
                f"| cold build | {seconds / 60:.1f} min | target ≤ 30 min |",
                COLD[1],
            ]
        )
        print(text)
        if args.write:
            write_section(args.write, COLD, text)
    times = warm(args.runs)
    text = "\n".join(
        [
            WARM[0],
            "## Local control plane: `make cluster-up` with the tools cached",
            "",
            f"Measured {when} by `make bench` (bench/cluster_bench.py) on {machine()}: "
            f"`hack/cluster.py down` then `up` to a ready API server with every simulated node "
            f"Ready, {args.runs} times.",
            "",
            "| median | runs | target |",
            "|---|---|---|",
            f"| {statistics.median(times):.1f} s | {', '.join(f'{t:.1f} s' for t in times)} "
            "| ≤ 30 s |",
            WARM[1],
        ]
    )
    print(text)
    if args.write:
        write_section(args.write, WARM, text)


if __name__ == "__main__":
    main()
