"""The engine and the API types stay pure: standard library and pydantic only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "neuron_operator"
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core"}
ALLOWED_OWN = ("neuron_operator.api", "neuron_operator.sizing")


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


PURE_FILES = sorted([*(PACKAGE / "sizing").rglob("*.py"), *(PACKAGE / "api").rglob("*.py")])


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_import_only_stdlib_pydantic_and_each_other(path: Path) -> None:
    for name in imports(path):
        top = name.split(".")[0]
        if top == "neuron_operator":
            assert name.startswith(ALLOWED_OWN), f"{path.name} imports {name}"
        else:
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                f"{path.name} imports {name}"
            )


def test_the_check_sees_the_engine() -> None:
    assert any(p.name == "choose.py" for p in PURE_FILES)
    assert "neuron_operator.sizing.catalog" in imports(PACKAGE / "sizing" / "choose.py")


# The controller's decision code: what to write, and what an error means, without a client.
DECISION_FILES = [
    PACKAGE / "controller" / name
    for name in (
        "reconcile.py",
        "render.py",
        "policy.py",
        "status.py",
        "patch.py",
        "errors.py",
        "drift.py",
        "digest.py",
        "peering.py",
        "settings.py",
        "enginefault.py",
        "capacity.py",
        "quantity.py",
        "fallback.py",
        "autoscaling.py",
        "dra.py",
        "training.py",
        "multinode.py",
        "recompile.py",
        "artifact.py",
        "probes.py",
        "hardening.py",
        "pod_security.py",
    )
]
CLIENTS = {"kubernetes", "kopf", "urllib3", "aiohttp"}


@pytest.mark.parametrize("path", DECISION_FILES, ids=lambda p: p.name)
def test_decision_code_imports_no_client(path: Path) -> None:
    for name in imports(path):
        assert name.split(".")[0] not in CLIENTS, f"{path.name} imports {name}"
        assert name != "neuron_operator.controller.kube", f"{path.name} imports the client facade"
