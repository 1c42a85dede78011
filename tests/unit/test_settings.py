"""Operator settings: flags over environment over defaults."""

from __future__ import annotations

import pytest

from neuron_operator.cli import build_parser
from neuron_operator.controller.settings import Settings


def test_defaults_watch_everything() -> None:
    settings = Settings()
    assert settings.namespaces == ()
    assert settings.scheduler_name is None
    assert (settings.log_format, settings.liveness_port) == ("text", 8080)


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURON_OPERATOR_NAMESPACES", "ml, serving ,")
    monkeypatch.setenv("NEURON_OPERATOR_SCHEDULER_NAME", "neuron-scheduler")
    monkeypatch.setenv("NEURON_OPERATOR_LOG_FORMAT", "json")
    monkeypatch.setenv("NEURON_OPERATOR_LIVENESS_PORT", "9090")
    settings = Settings.from_env()
    assert settings.namespaces == ("ml", "serving")
    assert settings.scheduler_name == "neuron-scheduler"
    assert (settings.log_format, settings.liveness_port) == ("json", 9090)


def test_run_flags() -> None:
    args = build_parser().parse_args(
        ["run", "-n", "a", "-n", "b", "--scheduler-name", "s", "--log-format", "json"]
    )
    assert (args.namespace, args.scheduler_name, args.log_format) == (["a", "b"], "s", "json")
