"""`kubectl neuron plan` is the plan command under kubectl's plugin name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = Path(sys.executable).parent / "kubectl-neuron"


def test_plugin_plans_a_manifest_like_the_plan_command() -> None:
    example = str(ROOT / "examples" / "resnet50.yaml")
    plugin = subprocess.run(
        [str(PLUGIN), "plan", "-f", example, "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    direct = subprocess.run(
        [sys.executable, "-m", "neuron_operator", "plan", "-f", example, "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert plugin.returncode == direct.returncode == 0
    assert json.loads(plugin.stdout) == json.loads(direct.stdout)


def test_plugin_explain_needs_a_name() -> None:
    done = subprocess.run([str(PLUGIN), "explain"], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "name" in done.stderr
