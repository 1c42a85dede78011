"""YAML that kubectl reads back as we wrote it.

PyYAML writes YAML 1.1 and quotes only what YAML 1.1 would read as another type. kubectl reads
with Go's YAML, which takes more plain scalars for numbers: `8180704057357e82`, one of the
operator's desired-hash annotations (16 hex digits), is a string to PyYAML and the float
8.18e+97 to kubectl ("json: cannot unmarshal number into Go struct field
ObjectMeta.metadata.annotations of type string": 3 of 1,000 Deployments rendered for one bench
run). Such strings are quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

# What Go's YAML (and the YAML 1.2 core schema) reads as a number, a boolean or null.
_NOT_A_STRING_TO_GO = re.compile(
    r"""^(?:
        [-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?  # 1, 1.5, 1e3, .5
      | [-+]?0[xX][0-9a-fA-F_]+ | 0[oO][0-7_]+ | [-+]?0[bB][01_]+         # 0x1f, 0o17, 0b1
      | [-+]?\.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN)
      | true|True|TRUE|false|False|FALSE|null|Null|NULL|~
    )$""",
    re.VERBOSE,
)


class KubeDumper(yaml.SafeDumper):
    """yaml.SafeDumper quoting the strings Go's YAML would not read back as strings."""


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "'" if _NOT_A_STRING_TO_GO.match(text) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


KubeDumper.add_representer(str, _string)


def dump(document: Any) -> str:
    return yaml.dump(document, Dumper=KubeDumper, sort_keys=False)


def dump_all(documents: Iterable[Any]) -> str:
    return yaml.dump_all(documents, Dumper=KubeDumper, sort_keys=False)
