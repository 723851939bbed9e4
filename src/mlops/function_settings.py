"""The base of every function's settings and their reader: a frozen dataclass per function, each field
read from the environment variable of its name.

No dependencies, and one class here: the inference function imports this module and its own settings
class alone (``mlops.serving.settings``); the other functions' classes are in ``mlops.settings``.
"""

from __future__ import annotations

import os
import typing
from dataclasses import MISSING, dataclass, fields
from functools import cache
from typing import Any, Literal, TypeVar


@dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    metadata_table: str
    stage_name: str = "dev"


SettingsT = TypeVar("SettingsT", bound=FunctionSettings)


@cache
def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Read a settings class from the environment once per process: each field from the variable of
    its name, in any case, converted to the field's type. A variable that is missing (for a field with
    no default) or does not convert raises ``ValueError`` naming it, in one sentence."""
    variables = {key.lower(): value for key, value in os.environ.items()}
    types = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for spec in fields(cls):
        text = variables.get(spec.name)
        if text is not None:
            values[spec.name] = _converted(spec.name, text, types[spec.name])
        elif spec.default is MISSING and spec.default_factory is MISSING:
            raise ValueError(
                f"The environment variable {spec.name.upper()} is not set; this function needs it."
            )
    return cls(**values)


def _converted(name: str, text: str, kind: Any) -> Any:
    if kind is str:
        return text
    if typing.get_origin(kind) is Literal:
        allowed = typing.get_args(kind)
        if text in allowed:
            return text
        raise ValueError(
            f"The environment variable {name.upper()} is '{text}', not one of {', '.join(allowed)}."
        )
    if kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise ValueError(f"The environment variable {name.upper()} is '{text}', not {noun}.") from None
    raise TypeError(f"The settings field '{name}' has a type no environment variable converts to: {kind}.")
