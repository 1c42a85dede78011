"""The runc wrapper that lets privileged containers (kind's nodes) start on a host whose
capability bounding set lacks some capabilities (hack/runc_nocap.py)."""

from __future__ import annotations

import json
from pathlib import Path

from hack import runc_nocap

MISSING = {"CAP_SYS_RESOURCE"}
PRIVILEGED = ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE"]


def capabilities() -> dict[str, list[str]]:
    return {kind: list(PRIVILEGED) for kind in ("bounding", "effective", "permitted")}


def test_create_drops_the_missing_capability_from_the_bundle_and_nothing_else(
    tmp_path: Path,
) -> None:
    spec = {"process": {"args": ["/sbin/init"], "capabilities": capabilities()}, "root": {}}
    (tmp_path / "config.json").write_text(json.dumps(spec))
    args = ["--root", "/run/runc", "create", "--bundle", str(tmp_path), "node"]
    bundle = runc_nocap.option(args, "--bundle", "-b")
    assert bundle == str(tmp_path)
    runc_nocap.rewrite(str(tmp_path / "config.json"), MISSING, bundle=True)
    rewritten = json.loads((tmp_path / "config.json").read_text())
    for kind in ("bounding", "effective", "permitted"):
        assert rewritten["process"]["capabilities"][kind] == ["CAP_CHOWN", "CAP_SYS_ADMIN"]
    assert rewritten["process"]["args"] == ["/sbin/init"]
    assert rewritten["root"] == {}


def test_exec_rewrites_the_process_file(tmp_path: Path) -> None:
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["true"], "capabilities": capabilities()}))
    args = ["exec", "--process=" + str(process), "--detach", "node"]
    assert runc_nocap.option(args, "--process", "-p") == str(process)
    runc_nocap.rewrite(str(process), MISSING, bundle=False)
    assert "CAP_SYS_RESOURCE" not in json.loads(process.read_text())["capabilities"]["effective"]


def test_a_spec_without_the_missing_capability_is_left_byte_for_byte(tmp_path: Path) -> None:
    text = json.dumps({"process": {"capabilities": {"bounding": ["CAP_CHOWN"]}}}, indent=4)
    (tmp_path / "config.json").write_text(text)
    runc_nocap.rewrite(str(tmp_path / "config.json"), MISSING, bundle=True)
    assert (tmp_path / "config.json").read_text() == text


def test_the_missing_capabilities_come_from_this_hosts_bounding_set() -> None:
    status = Path("/proc/self/status").read_text()
    bounding = int(
        next(line for line in status.splitlines() if line.startswith("CapBnd:")).split()[1], 16
    )
    missing = runc_nocap.missing_capabilities()
    for bit, name in enumerate(runc_nocap.NAMES):
        assert (f"CAP_{name}" in missing) == (not bounding >> bit & 1)
