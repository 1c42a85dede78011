"""YAML the operator prints is read back by kubectl (Go's YAML) as it was written."""

from __future__ import annotations

import pytest
import yaml

from neuron_operator.kube_yaml import dump, dump_all

# Strings Go's YAML would read as numbers, booleans or null if they were left plain.
NUMBER_LIKE = [
    "8180704057357e82",  # a desired-hash annotation that broke `kubectl apply`
    "30e6539347597553",
    "8337046829820802",
    "1.5",
    ".5",
    "1e3",
    "0x1F",
    "0o17",
    "0b101",
    "1_000",
    ".inf",
    "-.Inf",
    ".NaN",
    "True",
    "false",
    "NULL",
    "~",
]
PLAIN = ["b26d55d35094fde3", "inf2.xlarge", "model-server", "e30", "1.2.3", "v1"]


@pytest.mark.parametrize("text", NUMBER_LIKE)
def test_strings_go_reads_as_another_type_are_quoted(text: str) -> None:
    written = dump({"hash": text})
    assert written == f"hash: '{text}'\n"
    assert yaml.safe_load(written) == {"hash": text}


@pytest.mark.parametrize("text", PLAIN)
def test_other_strings_stay_plain(text: str) -> None:
    assert dump({"name": text}) == f"name: {text}\n"


def test_numbers_stay_numbers_and_documents_keep_their_order() -> None:
    written = dump_all([{"b": 1, "a": 2.5, "c": True}, {"d": "30e6"}])
    assert written == "b: 1\na: 2.5\nc: true\n---\nd: '30e6'\n"
