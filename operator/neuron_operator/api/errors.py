"""User-facing messages for invalid input: the field's path and what is wrong with it."""

from __future__ import annotations

from pydantic import ValidationError


def format_validation_error(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        location = ".".join([prefix, *(str(part) for part in item["loc"])])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "enum":
            expected = item.get("ctx", {}).get("expected", "")
            message = f"{item['input']!r} is not one of {expected}"
        elif item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see `kubectl explain neurondeployment`)"
        elif item["type"] == "missing":
            message = "required field is missing"
        elif item["type"] != "value_error" and not isinstance(item.get("input"), dict | list):
            message = f"{message} (got {item['input']!r})"
        lines.append(f"{location}: {message}")
    return "\n".join(lines)
