"""The plan command through a subprocess, for each exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "neuron_operator", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )


def manifest(spec: Mapping[str, object], name: str = "demo") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "neuron.dev/v1alpha1",
            "kind": "NeuronDeployment",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


BERT = {"model": {"family": "transformer-encoder", "parameters": "110M", "sequenceLength": 128}}


def test_feasible_plan_exits_0_with_the_json_contract(tmp_path: Path) -> None:
    path = tmp_path / "bert.yaml"
    path.write_text(manifest(BERT))
    done = run("plan", "-f", str(path), "-o", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    for key in (
        "feasible",
        "instanceType",
        "coresPerReplica",
        "devicesPerReplica",
        "batchSize",
        "replicas",
        "replicasPerNode",
        "nodes",
        "alternatives",
        "rejected",
    ):
        assert key in document
    assert document["feasible"] is True
    assert document["parallelism"]["mode"] in ("data", "pipeline", "tensor")
    assert isinstance(document["parallelism"]["degree"], int)
    for key in ("latencyMs", "throughputPerReplica", "throughput", "hourlyCost", "costPerMillion"):
        assert key in document["estimate"]
    assert {"verdict", "message"} <= document["fit"].keys()
    for group in document["rejected"]:
        assert group["reason"] and group["message"] and group["options"]
        assert all(option["instanceType"] for option in group["options"])


def test_table_and_yaml_outputs(tmp_path: Path) -> None:
    path = tmp_path / "bert.yaml"
    path.write_text(manifest(BERT))
    table = run("plan", "-f", str(path))
    assert table.returncode == 0
    assert "NeuronDeployment demo" in table.stdout and "Alternatives" in table.stdout
    as_yaml = run("plan", "-f", str(path), "-o", "yaml")
    assert yaml.safe_load(as_yaml.stdout)["feasible"] is True


def test_infeasible_plan_exits_3_and_still_prints_reasons(tmp_path: Path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(
        manifest(
            {
                "model": {"family": "transformer-decoder", "parameters": "7B"},
                "constraints": {"instanceFamilies": ["inf1"]},
            }
        )
    )
    done = run("plan", "-f", str(path), "-o", "json")
    assert done.returncode == 3
    document = json.loads(done.stdout)
    assert document["feasible"] is False
    assert document["reasons"][0]["reason"] == "ArchitectureNotAGoodFit"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            manifest({"model": {"family": "banana", "parameters": "7B"}}),
            "spec.model.family: 'banana' is not one of",
        ),
        (
            manifest({"model": {"family": "cnn", "parameters": "7Q"}}),
            "spec.model.parameters: '7Q' is not a parameter count",
        ),
        (
            manifest({"model": {"family": "cnn", "parameters": 5, "sequenceLenght": 3}}),
            "spec.model.sequenceLenght: unknown field",
        ),
        (manifest({"model": {"family": "cnn"}}), "spec.model.parameters: required field"),
        (
            manifest({"model": {"family": "cnn", "parameters": 5}, "slo": {"latencyMs": -1}}),
            "spec.slo.latencyMs: Input should be greater than 0",
        ),
        (
            "apiVersion: neuron.dev/v1\nkind: NeuronDeployment\nspec: {}\n",
            "apiVersion: 'neuron.dev/v1' is not supported",
        ),
        ("apiVersion: neuron.dev/v1alpha1\nkind: NeuronDeployment\n", "spec: required"),
        ("kind: Deployment\napiVersion: apps/v1\n", "holds no NeuronDeployment"),
        ("a: [", "is not valid YAML"),
    ],
)
def test_invalid_input_exits_2_naming_the_field(content: str, expected: str) -> None:
    done = run("plan", "-f", "-", stdin=content)
    assert done.returncode == 2, done.stdout
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    done = run("plan", "-f", str(tmp_path / "absent.yaml"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr and "Traceback" not in done.stderr


def test_examples_all_plan(tmp_path: Path) -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        done = run("plan", "-f", str(path), "-o", "json")
        assert done.returncode == 0, (path.name, done.stdout[-500:], done.stderr)


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "neuron-operator"
    done = subprocess.run([str(script), "version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("neuron-operator ")


def test_prices_file_plans_with_your_prices_and_names_a_bad_one(tmp_path: Path) -> None:
    model = tmp_path / "llama.yaml"
    model.write_text(
        manifest(
            {
                "model": {
                    "family": "transformer-decoder",
                    "parameters": "8B",
                    "sequenceLength": 2048,
                },
                "objective": "cost",
            }
        )
    )
    prices = tmp_path / "pricing.yaml"
    prices.write_text("source: our EDP\ninstanceTypes:\n  trn2.3xlarge: {onDemand: 1.0}\n")
    done = run("plan", "-f", str(model), "--prices", str(prices), "-o", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["instanceType"] == "trn2.3xlarge"
    assert result["priceSource"] == f"prices file {prices} (our EDP): on-demand 1.0"
    listed = json.loads(run("plan", "-f", str(model), "-o", "json").stdout)
    assert listed["instanceType"] != "trn2.3xlarge"
    prices.write_text("instanceTypes:\n  trn9.huge: {onDemand: 1.0}\n")
    done = run("plan", "-f", str(model), "--prices", str(prices))
    assert done.returncode == 2
    assert "--prices" in done.stderr and "trn9.huge not in the catalog" in done.stderr


def test_manifests_are_what_the_operator_would_apply(tmp_path: Path) -> None:
    """-o manifests renders through the reconcile's own decision: the Deployment of a serving
    example, the Job and Service of a training one, each in the namespace asked for."""
    for example, kinds in (
        ("bert-base", ["Deployment"]),
        ("bert-large-training", ["Job", "Service"]),
    ):
        done = run(
            "plan", "-f", str(ROOT / "examples" / f"{example}.yaml"), "-o", "manifests", "-n", "ml"
        )
        assert done.returncode == 0, done.stderr
        objects = list(yaml.safe_load_all(done.stdout))
        assert [o["kind"] for o in objects] == kinds
        assert {o["metadata"]["namespace"] for o in objects} == {"ml"}
    deployment = yaml.safe_load(
        run("plan", "-f", str(ROOT / "examples" / "bert-base.yaml"), "-o", "manifests").stdout
    )
    assert deployment["metadata"]["namespace"] == "default"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["containers"][0]["resources"]["limits"]["aws.amazon.com/neuroncore"]


def test_manifests_of_what_would_not_be_applied_say_why(tmp_path: Path) -> None:
    server = {"spec": {"containers": [{"name": "s", "image": "s:1"}]}}
    infeasible = tmp_path / "big.yaml"
    slow = {"constraints": {"instanceTypes": ["inf1.xlarge"]}, "slo": {"latencyMs": 0.01}}
    infeasible.write_text(manifest({**BERT, **slow, "template": server}))
    done = run("plan", "-f", str(infeasible), "-o", "manifests")
    assert done.returncode == 3
    assert "not applied: demo:" in done.stderr
    # Without a pod template there is nothing to render: exit 2, naming the field.
    done = run("plan", "-f", "-", "-o", "manifests", stdin=manifest(BERT))
    assert done.returncode == 2
    assert "spec.template.spec.containers" in done.stderr
    privileged = tmp_path / "privileged.yaml"
    container = {"name": "s", "image": "s:1", "securityContext": {"privileged": True}}
    privileged.write_text(manifest({**BERT, "template": {"spec": {"containers": [container]}}}))
    done = run("plan", "-f", str(privileged), "-o", "manifests")
    assert done.returncode == 2
    assert "spec.template.spec.containers[0].securityContext.privileged" in done.stderr


def test_explain_of_a_live_object_prints_the_table_the_plan_command_prints() -> None:
    """`kubectl neuron explain` renders status.plan, where each alternative is in brief: the
    brief holds every column of the Alternatives table, so the table is the same."""
    from neuron_operator.cli import render_table
    from neuron_operator.sizing import plan

    for model in ({"family": "transformer-decoder", "parameters": "8B"}, {"family": "cnn"}):
        full = plan({"model": {"parameters": "25M", **model}})
        assert full.alternatives
        assert render_table("m", full.record()) == render_table("m", full)
