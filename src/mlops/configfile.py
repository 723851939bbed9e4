"""The dataset config as a YAML file: reading one (with one-sentence errors), writing one, diffing two.

The same text is what ``mlops datasets config`` prints, what ``mlops datasets configure --file`` and
``mlops upload --config`` read, and what a ``raw/<dataset>/mlops.yaml`` object holds. A file is the
whole config: a field it leaves out takes its default (not the value stored before).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import yaml
from pydantic import ValidationError

from mlops.config import DatasetConfig
from mlops.errors import ConfigError

MAX_CONFIG_BYTES = 64 * 1024


def config_to_yaml(config: DatasetConfig) -> str:
    """The effective config, defaults included, in field order."""
    document = json.loads(config.model_dump_json())
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)


def parse_config(text: str | bytes, source: str, overrides: dict[str, Any] | None = None) -> DatasetConfig:
    """Parse and validate a config file, or raise ``ConfigError`` naming the field and what is allowed.

    ``overrides`` are top-level fields set on top of the file (``--target``/``--task``).
    """
    if isinstance(text, bytes):
        if len(text) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{source} is {len(text)} bytes; a config file is at most {MAX_CONFIG_BYTES}.")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ConfigError(f"{source} is not UTF-8 text.") from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "it cannot be parsed"
        raise ConfigError(f"{source} is not valid YAML{where}: {problem}.") from error
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{source} must be a mapping of config fields (target: ..., task: ...).")
    document = {**document, **(overrides or {})}
    try:
        return DatasetConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(f"{source}: {validation_sentence(error)}") from error


def validation_sentence(error: ValidationError) -> str:
    """The first problem of a pydantic error as one sentence: the field, what is wrong, what is allowed."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    kind, message = first["type"], first["msg"]
    given = first.get("input")
    if kind == "extra_forbidden":
        parent = _model_at(first["loc"][:-1])
        fields = ", ".join(parent.model_fields) if parent is not None else ""
        where = ".".join(str(part) for part in first["loc"][:-1]) or "the config"
        return f"{location} is not a config field; {where} takes {fields}."
    if kind == "missing":
        return f"{location} is required."
    if kind == "literal_error":
        allowed = message.removeprefix("Input should be ")
        return f"{location} must be {allowed}, not {given!r}."
    if kind == "value_error":
        text = message.removeprefix("Value error, ")
        return f"{location + ': ' if location else ''}{text}."
    text = message[0].lower() + message[1:] if message else "is invalid"
    return f"{location} {text.removeprefix('input ')}, not {given!r}." if location else f"{text}."


def _model_at(location: tuple[Any, ...]) -> type[DatasetConfig] | Any:
    model: Any = DatasetConfig
    for part in location:
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        if field is None:
            return None
        model = field.annotation
    return model if hasattr(model, "model_fields") else None


def config_diff(before: DatasetConfig | None, after: DatasetConfig, name: str) -> str:
    """A unified diff of the two configs' YAML; empty when they are equal."""
    old = config_to_yaml(before).splitlines(keepends=True) if before is not None else []
    new = config_to_yaml(after).splitlines(keepends=True)
    label = f"{name} (current)" if before is not None else f"{name} (none yet)"
    return "".join(difflib.unified_diff(old, new, fromfile=label, tofile=f"{name} (new)"))
