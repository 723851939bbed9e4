"""Numbers that the CSV reader left as text: a stray ``abc`` in a numeric column, decimal commas.

``parse_numbers`` is applied to a dataset version's canonical frame by validation and, identically, by
training (inline and on SageMaker), so the model trains on what the report describes. The canonical
Parquet keeps the file's text, so a changed ``validation.numeric_parsing`` rule reads it afresh.

- A text column whose values all look like numbers written with a decimal comma (``3,14``,
  ``1.234,5``, alongside plain integers) is read with the comma as the decimal point, unless every
  value has exactly three digits after a single comma (``1,234``: a thousands separator just as well),
  which keeps it text and says why.
- A text column whose present values are mostly numbers is parsed as numbers when at most
  ``max_invalid_ratio`` of them are not, those set to missing; otherwise it stays text and the
  finding says why. A column with fewer numbers than other values is text and not reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from mlops.config import NumericParsingRule

_DECIMAL_COMMA = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_THOUSANDS_LIKE = re.compile(r"^[+-]?[1-9]\d{0,2},\d{3}$")
_MOSTLY_NUMBERS = 0.5


@dataclass(frozen=True)
class NumericFinding:
    """What happened to one text column: parsed, parsed with decimal commas, or kept as text."""

    column: str
    action: Literal["parsed", "decimal_comma", "kept_text"]
    present: int
    invalid: int
    example: str | None
    reason: str | None = None

    @property
    def invalid_ratio(self) -> float:
        return self.invalid / self.present if self.present else 0.0


def parse_numbers(
    frame: pd.DataFrame, rule: NumericParsingRule, skip: frozenset[str] = frozenset()
) -> tuple[pd.DataFrame, list[NumericFinding]]:
    """The frame with number-like text columns parsed, and what was found; ``skip`` stays as it is."""
    if rule.severity == "off":
        return frame, []
    parsed = frame.copy()
    findings: list[NumericFinding] = []
    for column in frame.columns:
        name = str(column)
        series = frame[column]
        if name in skip or not _is_text(series):
            continue
        present = series.dropna().astype(str).str.strip()
        if present.empty:
            continue
        finding, values = _decimal_commas(name, series, present)
        if finding is None:
            finding, values = _mostly_numbers(name, series, present, rule.max_invalid_ratio)
        if finding is None:
            continue
        findings.append(finding)
        if values is not None:
            parsed[column] = values
    return parsed, findings


def _is_text(series: pd.Series) -> bool:
    return bool(
        pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype)
    ) and not (pd.api.types.is_bool_dtype(series.dtype))


def _decimal_commas(
    name: str, series: pd.Series, present: pd.Series
) -> tuple[NumericFinding | None, pd.Series | None]:
    comma = present.str.match(_DECIMAL_COMMA)
    if not bool(comma.any()) or not bool((comma | present.str.match(_INTEGER)).all()):
        return None, None
    with_comma = present[comma]
    if bool(with_comma.str.match(_THOUSANDS_LIKE).all()):
        example = str(with_comma.iloc[0])
        reason = (
            f"Column {name!r} is read as text: its values like {example!r} have three digits after the "
            "comma, so the comma could be a decimal point or a thousands separator."
        )
        return NumericFinding(name, "kept_text", len(present), 0, example, reason), None
    numbers = pd.to_numeric(
        series.astype("string")
        .str.strip()
        .str.replace(".", "", regex=False)
        .str.replace(",", ".", regex=False),
        errors="coerce",
    ).astype("float64")
    return NumericFinding(name, "decimal_comma", len(present), 0, str(with_comma.iloc[0])), numbers


def _mostly_numbers(
    name: str, series: pd.Series, present: pd.Series, max_invalid_ratio: float
) -> tuple[NumericFinding | None, pd.Series | None]:
    numbers = pd.to_numeric(present, errors="coerce")
    valid = int(numbers.notna().sum())
    if valid == 0 or valid / len(present) < _MOSTLY_NUMBERS:
        return None, None
    bad = present[numbers.isna()]
    invalid = len(bad)
    example = str(bad.iloc[0]) if invalid else None
    if invalid / len(present) > max_invalid_ratio:
        reason = (
            f"Column {name!r} is read as text: {invalid} of its {len(present)} values "
            f"({invalid / len(present):.1%}) are not numbers (e.g. {example!r}), above "
            f"validation.numeric_parsing.max_invalid_ratio {max_invalid_ratio:.1%}."
        )
        return NumericFinding(name, "kept_text", len(present), invalid, example, reason), None
    values = pd.to_numeric(series.astype("string").str.strip(), errors="coerce").astype("float64")
    return NumericFinding(name, "parsed", len(present), invalid, example), values
