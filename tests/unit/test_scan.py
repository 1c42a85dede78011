"""hack/scan.py's judgement of checkov's report (issue 14, point 4): a failure outside the
allowlist fails the scan, an allowlist entry nothing fails fails it too, and a LeaderWorkerSet is
scanned as the pod it makes. `make scan` runs checkov itself."""

from __future__ import annotations

from typing import Any

import pytest
from hack.scan import ALLOWLIST, findings, judge, read_allowlist, scannable


def report(source: str, passed: list[str], failed: list[str]) -> dict[str, Any]:
    """checkov's JSON report of one file, reduced to what the scan reads."""

    def result(check: str) -> dict[str, str]:
        return {
            "check_id": check,
            "check_name": f"name of {check}",
            "resource": "Deployment.ns.m",
            "file_path": f"/{source}",
        }

    return {
        "check_type": "kubernetes",
        "results": {
            "passed_checks": [result(c) for c in passed],
            "failed_checks": [result(c) for c in failed],
        },
    }


def test_the_checked_in_allowlist_reads_and_gives_every_entry_a_reason() -> None:
    allowed = read_allowlist(ALLOWLIST.read_text())
    assert allowed
    assert all(check.startswith(("CKV_K8S_", "CKV2_K8S_")) for check in allowed)
    assert all(len(reason) > 40 for reason in allowed.values())


@pytest.mark.parametrize(
    ("text", "error"),
    [("CKV_K8S_1\n", "has no reason"), ("CKV_K8S_1 a\nCKV_K8S_1 b\n", "listed twice")],
)
def test_an_allowlist_entry_needs_one_line_and_a_reason(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        read_allowlist(text)


def test_only_allowlisted_failures_pass() -> None:
    scanned = findings([report("a.yaml", ["CKV_K8S_1"], ["CKV_K8S_2"])])
    assert scanned["a.yaml"].passed == 1
    assert judge(scanned, ["a.yaml"], {"CKV_K8S_2": "why"}) == []
    (problem,) = judge(scanned, ["a.yaml"], {})
    assert problem.startswith("a.yaml: CKV_K8S_2 name of CKV_K8S_2")


def test_a_stale_entry_and_an_unscanned_file_fail() -> None:
    scanned = findings(report("a.yaml", ["CKV_K8S_1"], []))
    problems = judge(scanned, ["a.yaml", "b.yaml"], {"CKV_K8S_9": "why"})
    assert "b.yaml: not scanned (checkov found nothing in it)" in problems
    assert any("CKV_K8S_9 fails nowhere now" in p for p in problems)


def test_a_leader_worker_set_is_scanned_as_its_pod() -> None:
    group = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "big", "namespace": "ml"},
        "spec": {
            "leaderWorkerTemplate": {
                "workerTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}
            }
        },
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
    pod, kept = scannable([group, service])
    assert (pod["kind"], pod["metadata"]["name"], pod["metadata"]["labels"]) == (
        "Pod",
        "big-worker",
        {"a": "b"},
    )
    assert pod["spec"] == {"containers": []}
    assert kept is service
