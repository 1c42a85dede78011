"""`kubectl neuron` — the kubectl plugin (installed as the `kubectl-neuron` script).

    kubectl neuron plan -f model.yaml [-o table|json|yaml|manifests] [--cluster]
                                 # size a manifest offline, or for this context's cluster
    kubectl neuron explain NAME [-n NAMESPACE]               # a live object's plan, as a table

`explain` reads the object with kubectl itself (the user's kubeconfig, context and rights),
so the plugin needs no client configuration of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from neuron_operator.api.plan import PlanRecord
from neuron_operator.api.status import CONDITION_PLANNED
from neuron_operator.cli import EXIT_INVALID, EXIT_OK, render_table
from neuron_operator.cli import main as cli_main


def explain(name: str, namespace: str | None) -> int:
    kubectl = os.environ.get("KUBECTL", "kubectl")
    command = [kubectl, "get", "neurondeployment", name, "-o", "json"]
    if namespace:
        command += ["-n", namespace]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stderr)
        return done.returncode
    body = json.loads(done.stdout)
    status = body.get("status") or {}
    if not status.get("plan"):
        conditions = {c["type"]: c for c in status.get("conditions") or []}
        planned = conditions.get(CONDITION_PLANNED)
        why = f"{planned['reason']}: {planned['message']}" if planned else "not reconciled yet"
        sys.stdout.write(f"NeuronDeployment {name} has no plan in effect ({why})\n")
        return EXIT_OK
    try:
        plan = PlanRecord.model_validate(status["plan"])
    except ValidationError as error:
        sys.stderr.write(
            f"error: status.plan of {name} is not a plan this version reads: {error}\n"
        )
        return EXIT_INVALID
    sys.stdout.write(render_table(name, plan) + "\n")
    security = status.get("podSecurity")
    if security:
        sys.stdout.write(f"Pod Security: its pods meet the {security['level']} level\n")
        for unmet in security.get("unmet") or []:
            sys.stdout.write(f"  not yet the next level: {unmet}\n")
    for condition in status.get("conditions") or []:
        sys.stdout.write(
            f"  {condition['type']:<10} {condition['status']:<6} {condition['reason']}: "
            f"{condition.get('message', '')}\n"
        )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "plan":
        return cli_main(args)
    parser = argparse.ArgumentParser(
        prog="kubectl neuron",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("plan", help="size a NeuronDeployment manifest offline")
    explain_parser = commands.add_parser("explain", help="show a live object's plan")
    explain_parser.add_argument("name")
    explain_parser.add_argument("-n", "--namespace", default=None)
    parsed = parser.parse_args(args)
    return explain(parsed.name, parsed.namespace)


if __name__ == "__main__":
    sys.exit(main())
