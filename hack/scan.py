"""The security scan `make test` runs: checkov, offline, on

- the chart rendered with each charts/neuron-operator/ci/*-values.yaml, and
- what the operator renders for each examples/*.yaml (`plan -o manifests`), in a namespace of
  its own (the examples name none);

and every failed check must be fixed or listed, with its reason, in hack/checkov-allowlist.txt
(one line per check id). An allowlist entry that no longer fails anywhere is an error too: the
list only shrinks by someone deleting a line. Prints a table per scanned file (passed, failed,
allowed) and exits 1 on a failure outside the allowlist or a stale entry.

checkov does not know LeaderWorkerSet, so a LeaderWorkerSet's worker pod template is scanned as
the Pod it makes (the leader's is the same template).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "neuron-operator"
EXAMPLES = ROOT / "examples"
ALLOWLIST = ROOT / "hack" / "checkov-allowlist.txt"
NAMESPACE = "neuron-examples"
HELM = ROOT / ".cluster" / "bin" / "helm"
MANIFESTS = ("-o", "manifests", "-n", NAMESPACE)
CHECKOV_OPTIONS = ("--framework", "kubernetes", "--output", "json", "--compact", "--skip-download")


@dataclass(frozen=True)
class Failure:
    check: str
    name: str
    resource: str
    source: str


@dataclass
class Scanned:
    passed: int = 0
    failures: list[Failure] = field(default_factory=list)


def read_allowlist(text: str) -> dict[str, str]:
    """`CHECK_ID reason...` per line; blank lines and # comments ignored. A line without a
    reason, or a check listed twice, is an error."""
    allowed: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        check, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"allowlist line {number}: {check} has no reason")
        if check in allowed:
            raise ValueError(f"allowlist line {number}: {check} is listed twice")
        allowed[check] = reason.strip()
    return allowed


def kube_version() -> str:
    for line in (ROOT / "hack" / "versions.env").read_text().splitlines():
        if line.startswith("K8S_VERSION="):
            return line.split("=", 1)[1].split()[0]
    raise SystemExit("hack/versions.env names no K8S_VERSION")


def scannable(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects as checkov reads them: a LeaderWorkerSet as the Pod of its worker template."""
    found = []
    for obj in objects:
        if obj.get("kind") == "LeaderWorkerSet":
            template = obj["spec"]["leaderWorkerTemplate"]["workerTemplate"]
            metadata = obj["metadata"]
            found.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{metadata['name']}-worker",
                        "namespace": metadata["namespace"],
                        "labels": template["metadata"].get("labels", {}),
                    },
                    "spec": template["spec"],
                }
            )
        else:
            found.append(obj)
    return found


def render(into: Path, helm: Path) -> list[Path]:
    """Write every file to scan into `into`; return them."""
    written = []
    for values in sorted((CHART / "ci").glob("*-values.yaml")):
        out = into / f"chart-{values.stem}.yaml"
        done = subprocess.run(
            [
                str(helm),
                "template",
                "neuron-operator",
                str(CHART),
                "--namespace=neuron-system",
                f"--kube-version={kube_version()}",
                f"--values={values}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"helm template with {values.name} failed: {done.stderr}")
        out.write_text(done.stdout)
        written.append(out)
    for example in sorted(EXAMPLES.glob("*.yaml")):
        done = subprocess.run(
            [sys.executable, "-m", "neuron_operator", "plan", "-f", str(example), *MANIFESTS],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"plan -o manifests of {example.name} failed: {done.stderr}")
        objects = [o for o in yaml.safe_load_all(done.stdout) if o]
        out = into / f"example-{example.stem}.yaml"
        out.write_text(yaml.safe_dump_all(scannable(objects), sort_keys=False))
        written.append(out)
    return written


def run_checkov(checkov: Path, files: list[Path]) -> dict[str, Scanned]:
    """checkov's findings per file, offline (no download of policies or guidelines, no update
    check). One run per file: checkov's graph checks (a pod's NetworkPolicy) would otherwise
    credit one rendering with another's objects."""
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}
    scanned: dict[str, Scanned] = {}
    for path in files:
        done = subprocess.run(
            [str(checkov), "--file", str(path), *CHECKOV_OPTIONS],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode not in (0, 1):  # 1: checks failed, which we judge below
            raise SystemExit(f"checkov failed on {path.name} ({done.returncode}): {done.stderr}")
        scanned.update(findings(json.loads(done.stdout)))
    return scanned


def findings(report: Any) -> dict[str, Scanned]:
    """Per scanned file: the checks it passed and those it failed."""
    reports = report if isinstance(report, list) else [report]
    scanned: dict[str, Scanned] = {}
    for one in reports:
        results = one.get("results") or {}
        for outcome in ("passed_checks", "failed_checks"):
            for result in results.get(outcome) or []:
                source = Path(result["file_path"]).name
                entry = scanned.setdefault(source, Scanned())
                if outcome == "passed_checks":
                    entry.passed += 1
                else:
                    entry.failures.append(
                        Failure(
                            result["check_id"], result["check_name"], result["resource"], source
                        )
                    )
    return scanned


def judge(scanned: dict[str, Scanned], expected: list[str], allowed: dict[str, str]) -> list[str]:
    """What is wrong: a failure outside the allowlist, an entry nothing fails, or a file
    checkov did not scan."""
    problems = [
        f"{name}: not scanned (checkov found nothing in it)"
        for name in expected
        if name not in scanned
    ]
    failing = {f.check for entry in scanned.values() for f in entry.failures}
    for entry in scanned.values():
        for failure in entry.failures:
            if failure.check not in allowed:
                problems.append(
                    f"{failure.source}: {failure.check} {failure.name} ({failure.resource}): "
                    "fix it, or list it in hack/checkov-allowlist.txt with the reason"
                )
    for check in sorted(set(allowed) - failing):
        problems.append(f"hack/checkov-allowlist.txt: {check} fails nowhere now; remove it")
    return problems


def table(scanned: dict[str, Scanned], allowed: dict[str, str]) -> str:
    rows = [("scanned", "passed", "failed", "allowlisted", "failed checks")]
    for name in sorted(scanned):
        entry = scanned[name]
        checks = sorted({f.check for f in entry.failures})
        listed = sum(1 for f in entry.failures if f.check in allowed)
        rows.append(
            (
                name,
                str(entry.passed),
                str(len(entry.failures)),
                str(listed),
                " ".join(checks) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkov", type=Path, required=True, help="the checkov executable")
    parser.add_argument("--helm", type=Path, default=HELM, help="the helm executable")
    parser.add_argument("--keep", type=Path, help="write the rendered files here and keep them")
    args = parser.parse_args()
    allowed = read_allowlist(ALLOWLIST.read_text())
    with tempfile.TemporaryDirectory(prefix="neuron-scan-") as scratch:
        into = args.keep or Path(scratch)
        into.mkdir(parents=True, exist_ok=True)
        written = render(into, args.helm)
        scanned = run_checkov(args.checkov, written)
    print(table(scanned, allowed))
    problems = judge(scanned, [p.name for p in written], allowed)
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        return 1
    failed = sum(len(e.failures) for e in scanned.values())
    print(f"==> scan passed: {len(written)} files, {failed} failures, all allowlisted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
