"""Benchmark the kind path: a warm cluster to the operator Ready and, with --cold, the first run.

    python bench/kind_bench.py [--write docs/benchmarks.md] [--runs 3] [--cold]

Warm: the images cached, `kind delete cluster` then e2e/kind/up.sh: kind's nodes, pod
networking, Neuron identities, the images loaded and the chart installed with `helm --wait`, so
it ends when the operator's pods are Ready; `runs` times.
Cold (--cold): first, with the Go tools built but no image and no root filesystem cached (the
built images removed from Docker, the debootstrap tarballs deleted), the same up.sh: the node
image and every other image built here, then the first cluster. Then `hack/tools.sh kind` (the
kind node's kubelet, kubeadm, kube-proxy, crictl and pause) in a clean clone with empty Go
module, build and tool caches, as cluster_bench.py --cold measures the control plane's.
Needs a container engine (hack/container-engine.sh) and the images built locally (root).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hack.kind_images import WORK  # noqa: E402

from bench.cluster_bench import time_cold_build  # noqa: E402
from bench.plan_bench import machine, write_section  # noqa: E402

WARM = ("<!-- kind-warm:start -->", "<!-- kind-warm:end -->")
COLD = ("<!-- kind-cold:start -->", "<!-- kind-cold:end -->")
KIND = ROOT / ".cluster" / "bin" / "kind"
# The images hack/kind_images.py builds (and nothing else in Docker's store)
BUILT = re.compile(r"^(neuron-operator[/:]|registry\.k8s\.io/)")


def delete_cluster() -> None:
    subprocess.run(
        [str(KIND), "delete", "cluster", "--name", "neuron-operator"],
        check=True,
        capture_output=True,
    )


def up() -> tuple[float, float]:
    """(seconds for the whole of up.sh, seconds of it spent getting the images)."""
    env = {**os.environ, "NEURON_E2E_IMAGES": "local"}
    start = time.perf_counter()
    done = subprocess.run(
        [str(ROOT / "e2e" / "kind" / "up.sh")], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"up.sh failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    found = re.search(r"images ready in (\d+) s", done.stdout)
    return elapsed, float(found.group(1)) if found else 0.0


def forget_images() -> None:
    listing = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    built = [name for name in listing.stdout.split() if BUILT.match(name)]
    if built:
        subprocess.run(["docker", "rmi", "-f", *built], check=True, capture_output=True)
    shutil.rmtree(WORK, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}"
    if subprocess.run([str(ROOT / "hack" / "container-engine.sh")], check=False).returncode:
        raise SystemExit("no container engine: nothing to measure")
    if args.cold:
        delete_cluster()
        forget_images()
        total, images = up()
        tools = time_cold_build("kind")
        text = "\n".join(
            [
                COLD[0],
                "## kind: the first run on a machine with no registry",
                "",
                f"Measured {when} by `python bench/kind_bench.py --cold` on {machine()}: "
                "e2e/kind/up.sh with nothing cached but the Go tools (no image in Docker, no "
                "debootstrap tarball), then `hack/tools.sh kind` with empty Go module, build and "
                "tool caches. Debian's packages come from deb.debian.org, Go modules from the Go "
                "module proxy.",
                "",
                "| step | time |",
                "|---|---|",
                f"| images: three debootstraps, the kind node image with its preloaded "
                f"control-plane images, the operator's and the model server's | {images:.0f} s |",
                f"| first cluster: create, pod networking, Neuron identities, images loaded, "
                f"chart installed, operator Ready | {total - images:.0f} s |",
                f"| the kind node's Go tools from empty caches (kubelet, kubeadm, kube-proxy, "
                f"crictl, pause) | {tools:.0f} s |",
                f"| **cold, all of it** | **{(total + tools) / 60:.1f} min** |",
                COLD[1],
            ]
        )
        print(text)
        if args.write:
            write_section(args.write, COLD, text)
    times = []
    for _ in range(args.runs):
        delete_cluster()
        times.append(up()[0])
    text = "\n".join(
        [
            WARM[0],
            "## kind: a cluster to the operator Ready, images cached",
            "",
            f"Measured {when} by `python bench/kind_bench.py` on {machine()}: `kind delete "
            "cluster`, then e2e/kind/up.sh with the images cached: 4 kind nodes (1 control "
            "plane, 3 workers) on the node image built here, pod networking, Neuron identities, "
            "the operator's and model server's images loaded, and the chart installed with "
            f"`helm --wait` (the operator's 2 pods Ready), {args.runs} times.",
            "",
            "| median | runs | target |",
            "|---|---|---|",
            f"| {statistics.median(times):.0f} s | {', '.join(f'{t:.0f} s' for t in times)} "
            "| ≤ 120 s |",
            WARM[1],
        ]
    )
    print(text)
    if args.write:
        write_section(args.write, WARM, text)


if __name__ == "__main__":
    main()
