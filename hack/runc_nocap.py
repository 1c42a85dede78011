#!/usr/bin/python3
"""A runc wrapper for hosts whose capability bounding set lacks capabilities that privileged
containers ask for (here: CAP_SYS_RESOURCE), registered with dockerd as its default runtime by
hack/container-engine.sh.

runc refuses to start a process with a capability the host cannot grant ("unable to apply
caps: operation not permitted"), and every kind node is privileged. Before handing over to the
real runc, this drops the capabilities missing from the host's bounding set from the process
spec: the bundle's config.json for create/run, the --process file for exec. Nothing else in the
spec changes, and on a host that has every capability it changes nothing.
"""

from __future__ import annotations

import json
import os
import sys

REAL_RUNC = os.environ.get("NEURON_OPERATOR_REAL_RUNC", "/usr/sbin/runc")
# Linux capability names by number (capability.h); CAP_LAST_CAP is 40 on kernels >= 5.9.
NAMES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]


def missing_capabilities() -> set[str]:
    with open("/proc/self/status") as status:
        bounding = next(int(line.split()[1], 16) for line in status if line.startswith("CapBnd:"))
    return {f"CAP_{name}" for bit, name in enumerate(NAMES) if not bounding >> bit & 1}


def option(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def strip(process: dict[str, object], missing: set[str]) -> bool:
    capabilities = process.get("capabilities")
    if not isinstance(capabilities, dict):
        return False
    changed = False
    for kind, names in capabilities.items():
        if isinstance(names, list) and missing.intersection(names):
            capabilities[kind] = [n for n in names if n not in missing]
            changed = True
    return changed


def rewrite(path: str, missing: set[str], *, bundle: bool) -> None:
    with open(path) as handle:
        spec = json.load(handle)
    process = spec.get("process", {}) if bundle else spec
    if strip(process, missing):
        with open(path, "w") as handle:
            json.dump(spec, handle)


def main() -> None:
    args = sys.argv[1:]
    missing = missing_capabilities()
    if missing:
        if "create" in args or "run" in args:
            bundle = option(args, "--bundle", "-b") or os.getcwd()
            rewrite(os.path.join(bundle, "config.json"), missing, bundle=True)
        elif "exec" in args and (process := option(args, "--process", "-p")):
            rewrite(process, missing, bundle=False)
    os.execv(REAL_RUNC, [REAL_RUNC, *args])


if __name__ == "__main__":
    main()
