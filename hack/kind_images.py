"""Build, with no container registry, every image the kind path needs.

Where the public images can be pulled (a laptop, GitHub Actions), `make e2e-kind` uses them and
this script is not run. Where they cannot (this project's build machine reaches Debian's
packages, PyPI and the Go module proxy, nothing else), it builds:

- the kind node image: a Debian bookworm root filesystem from debootstrap with Debian's
  containerd, runc and CNI plugins, kind's own base files (from the kind Go module that
  hack/tools.sh downloads), kubelet, kubeadm and kubectl, and preloaded in its containerd the
  control-plane images kubeadm asks for;
- those control-plane images, from the binaries hack/tools.sh builds (`docker import` of a root
  filesystem holding the binary: no builder, no base image);
- a Debian Python base for the operator and the model server in place of python:3.11-slim, and
  the operator image itself from wheels built on the host (HTTPS from inside a container is
  intercepted here);
- the small model server the e2e samples run (e2e/kind/model_server.py).

Bookworm, not trixie, because trixie's systemd 257 refuses to boot on a cgroup v1 host, which
this one is. Each root filesystem is cached as a tarball under
${NEURON_OPERATOR_CACHE:-~/.cache/neuron-operator}/kind-images, and each image is tagged with a
hash of what went into it, so a second run builds nothing.

    python hack/kind_images.py node|operator|model-server   # prints the image's tag
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("NEURON_OPERATOR_CACHE", Path.home() / ".cache" / "neuron-operator"))
WORK = CACHE / "kind-images"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"

# What kind's base image installs (images/base/Dockerfile), less the storage clients nobody
# here mounts, plus Debian's containerd, runc (built with seccomp, which RuntimeDefault needs)
# and CNI plugins in place of the ones kind builds from GitHub.
NODE_PACKAGES = [
    "systemd",
    "dbus",
    "conntrack",
    "iptables",
    "nftables",
    "iproute2",
    "ethtool",
    "util-linux",
    "mount",
    "kmod",
    "libseccomp2",
    "pigz",
    "e2fsprogs",
    "bash",
    "ca-certificates",
    "curl",
    "jq",
    "procps",
    "containerd",
    "runc",
    "containernetworking-plugins",
]
KUBE_PROXY_PACKAGES = ["iptables", "nftables", "conntrack"]
PYTHON_PACKAGES = ["python3", "python3-pip", "ca-certificates"]


def log(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def run(*command: str | Path, stdin: bytes | None = None, quiet: bool = False) -> str:
    result = subprocess.run(
        [str(c) for c in command],
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if quiet else None,
        check=False,
    )
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace")[-2000:] if quiet else ""
        raise SystemExit(
            f"error: {' '.join(map(str, command))} exited {result.returncode}\n{detail}"
        )
    return result.stdout.decode()


def versions() -> dict[str, str]:
    found = {}
    for line in (ROOT / "hack" / "versions.env").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = line.split("=", 1)
            found[key] = value.strip()
    return found


# The pinned versions that go into the images: a version bump of anything else (LeaderWorkerSet,
# helm, kwok: local control plane tools) must not rebuild them.
IMAGE_VERSIONS = ("K8S_VERSION", "ETCD_VERSION", "KIND_VERSION", "CRICTL_VERSION", "PAUSE_VERSION")


def image_versions() -> str:
    v = versions()
    return ",".join(f"{k}={v.get(k, '')}" for k in IMAGE_VERSIONS)


def tool(name: str, version: str, binary: str) -> Path:
    path = CACHE / f"{name}-{version}" / "bin" / binary
    if not path.exists():
        raise SystemExit(f"error: {path} missing: run hack/tools.sh kind first")
    return path


def digest(*parts: str | bytes | Path) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(part.read_bytes())
        else:
            h.update(part if isinstance(part, bytes) else part.encode())
    return h.hexdigest()[:10]


def image_exists(tag: str) -> bool:
    probe = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False)
    return probe.returncode == 0


def rootfs(name: str, packages: list[str], customise: Callable[[Path], None] | None = None) -> Path:
    """A debootstrapped bookworm (minbase + packages), customised, as a cached tarball."""
    # keyed by what goes into it: the packages, and the customisation's code and versions
    recipe = inspect.getsource(customise) if customise is not None else ""
    key = digest(SUITE, MIRROR, " ".join(packages), recipe, image_versions())
    tarball = WORK / f"{name}-{SUITE}-{key}.tar"
    if tarball.exists():
        return tarball
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK, prefix=f".{name}-") as scratch:
        target = Path(scratch) / "rootfs"
        log(f"debootstrap {SUITE} for {name} ({', '.join(packages)})")
        run(
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            SUITE,
            target,
            MIRROR,
            quiet=True,
        )
        # apt's downloads and lists are a third of the size and nothing uses them again
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(target / leftover, ignore_errors=True)
        for node in (target / "dev").iterdir():
            node.unlink() if not node.is_dir() or node.is_symlink() else shutil.rmtree(node)
        if customise is not None:
            customise(target)
        partial = tarball.with_suffix(".partial")
        run("tar", "--numeric-owner", "-C", target, "-cf", partial, ".")
        partial.rename(tarball)
    return tarball


def docker_import(source: Path, tag: str, changes: Sequence[str]) -> None:
    """`docker import` a tarball, or a directory (tarred on the way)."""
    flags = [arg for change in changes for arg in ("--change", change)]
    if source.is_dir():
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "-C", str(source), "-c", "."], stdout=subprocess.PIPE
        )
        assert tar.stdout is not None
        subprocess.run(
            ["docker", "import", *flags, "-", tag],
            stdin=tar.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise SystemExit(f"error: tar of {source} failed")
    else:
        run("docker", "import", *flags, source, tag, quiet=True)


def binary_image(tag: str, binaries: dict[str, Path], base: Path | None = None) -> None:
    """An image of one or more binaries in /usr/local/bin, on a root filesystem or on nothing."""
    with tempfile.TemporaryDirectory(dir=WORK) as scratch:
        root = Path(scratch)
        if base is not None:
            run("tar", "--numeric-owner", "-C", root, "-xf", base)
        (root / "usr" / "local" / "bin").mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
        for name, path in binaries.items():
            shutil.copy2(path, root / "usr" / "local" / "bin" / name)
        docker_import(
            root, tag, ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        )


def control_plane_images(v: dict[str, str]) -> list[str]:
    """The tags of every image kubeadm and containerd will look for, built where missing."""
    k8s = v["K8S_VERSION"]

    def bin_k8s(binary: str) -> Path:
        return tool("kubernetes", k8s, binary)

    images: list[str] = []
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        tag = f"registry.k8s.io/{component}:v{k8s}"
        if not image_exists(tag):
            binary_image(tag, {component: bin_k8s(component)})
        images.append(tag)
    proxy = f"registry.k8s.io/kube-proxy:v{k8s}"
    if not image_exists(proxy):
        base = rootfs("kube-proxy", KUBE_PROXY_PACKAGES)
        binary_image(proxy, {"kube-proxy": tool("kubernetes-node", k8s, "kube-proxy")}, base)
    images.append(proxy)
    # kubeadm's own etcd tag is 3.6.8-0; e2e/kind/cluster-local.yaml points it at this build
    etcd = f"registry.k8s.io/etcd:{v['ETCD_VERSION']}-0"
    if not image_exists(etcd):
        binary_image(etcd, {"etcd": tool("etcd", v["ETCD_VERSION"], "etcd")})
    images.append(etcd)
    pause_binary = tool("pause", v["PAUSE_VERSION"], "pause")
    # kubeadm names pause 3.10.2; kind's containerd config (sandbox_image) and the e2e pods 3.10
    for tag in (f"registry.k8s.io/pause:{v['PAUSE_VERSION']}", "registry.k8s.io/pause:3.10"):
        if not image_exists(tag):
            with tempfile.TemporaryDirectory(dir=WORK) as scratch:
                shutil.copy2(pause_binary, Path(scratch) / "pause")
                docker_import(Path(scratch), tag, ['ENTRYPOINT ["/pause"]', "USER 65535:65535"])
        images.append(tag)
    return images


def kind_base_files(kind_version: str) -> Path:
    gomodcache = run("go", "env", "GOMODCACHE", quiet=True).strip()
    files = Path(gomodcache) / f"sigs.k8s.io/kind@v{kind_version}" / "images" / "base" / "files"
    if not files.is_dir():
        raise SystemExit(f"error: {files} missing: run hack/tools.sh kind first")
    return files


def node_customisation(v: dict[str, str]) -> Callable[[Path], None]:
    """What kind's base Dockerfile does after installing packages, on our root filesystem."""
    kind_files = kind_base_files(v["KIND_VERSION"])

    def customise(root: Path) -> None:
        shutil.copytree(kind_files, root, dirs_exist_ok=True)
        for script in [*(root / "usr/local/bin").iterdir(), *(root / "kind/bin").iterdir()]:
            script.chmod(0o755)
        # Debian installs containerd in /usr/bin and the CNI plugins in /usr/lib/cni; kind's
        # units and containerd's defaults look in /usr/local/bin and /opt/cni/bin.
        (root / "usr/local/bin/containerd").symlink_to("/usr/bin/containerd")
        (root / "opt/cni").mkdir(parents=True)
        (root / "opt/cni/bin").symlink_to("/usr/lib/cni")
        # Setting a lower oom_score_adj needs CAP_SYS_RESOURCE, which this host cannot grant:
        # containerd then leaves each container's score as it is (kind does this under userns).
        config = root / "etc/containerd/config.toml"
        config.write_text(
            config.read_text().replace(
                "restrict_oom_score_adj = false", "restrict_oom_score_adj = true"
            )
        )
        chroot = ["chroot", str(root)]
        spec = run(*chroot, "ctr", "oci", "spec", quiet=True)
        (root / "etc/containerd/cri-base.json").write_text(
            run(
                *chroot,
                "jq",
                ".hooks.createContainer[.hooks.createContainer | length] |= . + "
                '{"path": "/kind/bin/mount-product-files.sh"} | del(.process.rlimits)',
                stdin=spec.encode(),
                quiet=True,
            )
        )
        wants = [
            "lib/systemd/system/multi-user.target.wants",
            "etc/systemd/system/*.wants",
            "lib/systemd/system/local-fs.target.wants",
            "lib/systemd/system/basic.target.wants",
        ]
        for pattern in wants:
            for directory in root.glob(pattern):
                for link in directory.iterdir():
                    link.unlink()
        for pattern in (
            "sockets.target.wants/*udev*",
            "sockets.target.wants/*initctl*",
            "sysinit.target.wants/systemd-tmpfiles-setup.service",
        ):
            for link in (root / "lib/systemd/system").glob(pattern):
                link.unlink()
        with (root / "etc/systemd/journald.conf").open("a") as journald:
            journald.write("ReadKMsg=no\n")
        init = root / "sbin/init"
        if not init.exists():
            init.symlink_to("/usr/lib/systemd/systemd")
        run(
            *chroot,
            "systemctl",
            "enable",
            "kubelet.service",
            "containerd.service",
            "undo-mount-hacks.service",
            quiet=True,
        )
        run(*chroot, "systemctl", "mask", "systemd-binfmt.service", quiet=True)
        (root / "etc/kubernetes/manifests").mkdir(parents=True)
        k8s = v["K8S_VERSION"]
        for binary in ("kubelet", "kubeadm"):
            shutil.copy2(tool("kubernetes-node", k8s, binary), root / "usr/bin" / binary)
        shutil.copy2(tool("kubernetes", k8s, "kubectl"), root / "usr/bin/kubectl")
        shutil.copy2(tool("crictl", v["CRICTL_VERSION"], "crictl"), root / "usr/local/bin/crictl")
        (root / "kind/version").write_text(f"v{k8s}\n")

    return customise


def node_image() -> str:
    v = versions()
    tag = (
        f"neuron-operator/kind-node:v{v['K8S_VERSION']}-{digest(Path(__file__), image_versions())}"
    )
    if image_exists(tag):
        return tag
    images = control_plane_images(v)
    base = f"neuron-operator/kind-node-base:{tag.split(':')[1]}"
    if not image_exists(base):
        tarball = rootfs("kind-node", NODE_PACKAGES, node_customisation(v))
        docker_import(
            tarball,
            base,
            ["ENV container=docker", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]'],
        )
    log(f"preloading {len(images)} images into the node image's containerd")
    # kind's `build node-image`, steps 1 and 5-6: a privileged build container whose containerd
    # imports the images (content only: no snapshots on the container's own overlay), committed.
    builder = run(
        "docker", "run", "-d", "--privileged", "--entrypoint=sleep", base, "infinity", quiet=True
    ).strip()
    try:
        run(
            "docker",
            "exec",
            builder,
            "bash",
            "-c",
            "nohup containerd >/tmp/containerd.log 2>&1 & "
            "for i in $(seq 30); do "
            "[ -S /run/containerd/containerd.sock ] && break; sleep 1; done; "
            "ctr version >/dev/null",
            quiet=True,
        )
        archive = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
        assert archive.stdout is not None
        subprocess.run(
            [
                "docker",
                "exec",
                "-i",
                builder,
                "ctr",
                "--namespace=k8s.io",
                "images",
                "import",
                "--label=io.cri-containerd.pinned=pinned",
                "--all-platforms",
                "--no-unpack",
                "--digests",
                "-",
            ],
            stdin=archive.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if archive.wait() != 0:
            raise SystemExit("error: docker save of the control-plane images failed")
        run("docker", "exec", builder, "pkill", "containerd", quiet=True)
        run("docker", "exec", builder, "rm", "-f", "/tmp/containerd.log", quiet=True)
        run(
            "docker",
            "commit",
            "--change",
            'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
            "--change",
            "ENV container=docker",
            builder,
            tag,
            quiet=True,
        )
    finally:
        run("docker", "rm", "-f", "-v", builder, quiet=True)
    return tag


def python_base() -> str:
    """Debian bookworm's Python 3.11, built here: the local path asks no registry for anything,
    python:3.11-slim included (the public path, e2e/kind/up.sh, builds on that image)."""

    def customise(root: Path) -> None:
        # pip installs into the image's own Python, as it does in python:3.11-slim
        for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()

    tarball = rootfs("python", PYTHON_PACKAGES, customise)
    tag = f"neuron-operator/python:3.11-{SUITE}-{digest(tarball.name)}"
    if not image_exists(tag):
        docker_import(tarball, tag, ["ENV PATH=/usr/local/bin:/usr/bin:/bin", "ENV LANG=C.UTF-8"])
    return tag


def operator_image() -> str:
    """operator/Dockerfile on the Python base, from wheels built on the host."""
    base = python_base()
    sources = [
        ROOT / "pyproject.toml",
        ROOT / "README.md",
        *sorted(p for p in (ROOT / "operator").rglob("*") if p.is_file() and _shipped(p)),
    ]
    tag = f"neuron-operator:e2e-{digest(base, *sources)}"
    if image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(dir=WORK) as scratch:
        context = Path(scratch)
        for source in sources:
            target = context / source.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        log("building the operator's wheels on the host")
        run(
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--wheel-dir",
            context / "wheels",
            context,
            quiet=True,
        )
        log(f"building {tag} on {base}")
        docker_build(ROOT / "operator" / "Dockerfile", context, tag, base)
    return tag


def _shipped(path: Path) -> bool:
    return "__pycache__" not in path.parts and ".egg-info" not in str(path)


def docker_build(dockerfile: Path, context: Path, tag: str, base: str) -> None:
    # Docker's classic builder: this machine's docker CLI has no buildx, and nothing here needs
    # BuildKit; FROM a local image never pulls.
    subprocess.run(
        [
            "docker",
            "build",
            "--quiet",
            "-f",
            str(dockerfile),
            "--build-arg",
            f"BASE_IMAGE={base}",
            "-t",
            tag,
            str(context),
        ],
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def model_server_image() -> str:
    base = python_base()
    directory = ROOT / "e2e" / "kind" / "model-server"
    tag = f"neuron-operator/model-server:e2e-{digest(base, *sorted(directory.iterdir()))}"
    if not image_exists(tag):
        docker_build(directory / "Dockerfile", directory, tag, base)
    return tag


BUILDERS: dict[str, Callable[[], str]] = {
    "node": node_image,
    "operator": operator_image,
    "model-server": model_server_image,
}


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", choices=sorted(BUILDERS))
    args = parser.parse_args()
    print(BUILDERS[args.image]())


if __name__ == "__main__":
    main()
