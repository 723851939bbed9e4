"""Numbers that the CSV reader left as text: a stray ``abc`` in a numeric column, decimal commas.

``parse_numbers`` is applied to a dataset version's canonical frame by validation and, identically, by
training (inline and on SageMaker), so the model trains on what the report describes. The canonical
Parquet keeps the file's text, so a changed ``validation.numeric_parsing`` rule reads it afresh.

- A text column whose values all look like numbers written with a decimal comma (``3,14``,
  ``1.234,5``, alongside plain integers) is read with the comma as the decimal point, unless every
  such value has one to three digits, not a lone zero, before the comma and three after it
  (``1,234``: a thousands separator just as well), which keeps it text and says why.
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

DECIMAL_COMMA = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+$")
INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
THOUSANDS_LIKE = re.compile(r"^[+-]?[1-9]\d{0,2},\d{3}$")
MOSTLY_NUMBERS = 0.5


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
    """The frame with number-like text columns parsed, and what was found; ``skip`` stays as it is.

    Each column is judged on its distinct values (a text column of a few categories costs little),
    weighted by how often each occurs.
    """
    if rule.severity == "off":
        return frame, []
    parsed = frame.copy()
    findings: list[NumericFinding] = []
    for column in frame.columns:
        name = str(column)
        series = frame[column]
        if name in skip or not _is_text(series):
            continue
        present = series.dropna()
        if present.empty:
            continue
        distinct = pd.Series(present.unique(), dtype=object)
        texts = pd.Series(distinct.astype(str).str.strip().to_numpy(), index=distinct.to_numpy())
        numbers = pd.to_numeric(texts, errors="coerce")
        comma = texts.str.match(DECIMAL_COMMA)
        if not bool(numbers.notna().any()) and not bool(comma.any()):
            continue  # text through and through: nothing to report
        finding, mapping = _decimal_commas(name, texts, comma, len(present))
        if finding is None:
            finding, mapping = _mostly_numbers(name, present, texts, numbers, rule.max_invalid_ratio)
        if finding is None:
            continue
        findings.append(finding)
        if mapping is not None:
            parsed[column] = series.map(mapping).astype("float64")
    return parsed, findings


def _is_text(series: pd.Series) -> bool:
    dtype = series.dtype
    return bool(pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)) and not (
        pd.api.types.is_bool_dtype(dtype)
    )


def _decimal_commas(
    name: str, texts: pd.Series, comma: pd.Series, present: int
) -> tuple[NumericFinding | None, dict[object, float] | None]:
    if not bool(comma.any()) or not bool((comma | texts.str.match(INTEGER_TEXT)).all()):
        return None, None
    with_comma = texts[comma]
    if bool(with_comma.str.match(THOUSANDS_LIKE).all()):
        example = str(with_comma.iloc[0])
        reason = (
            f"Column {name!r} is read as text: its values like {example!r} have three digits after the "
            "comma, so the comma could be a decimal point or a thousands separator."
        )
        return NumericFinding(name, "kept_text", present, 0, example, reason), None
    values = pd.to_numeric(
        texts.str.replace(".", "", regex=False).str.replace(",", ".", regex=False), errors="coerce"
    )
    finding = NumericFinding(name, "decimal_comma", present, 0, str(with_comma.iloc[0]))
    return finding, {key: float(value) for key, value in values.items()}


def _mostly_numbers(
    name: str, present: pd.Series, texts: pd.Series, numbers: pd.Series, max_invalid_ratio: float
) -> tuple[NumericFinding | None, dict[object, float] | None]:
    bad = texts[numbers.isna()]
    bad_values = list(bad.index)
    invalid = int(present.isin(bad_values).sum()) if bad_values else 0
    if (len(present) - invalid) / len(present) < MOSTLY_NUMBERS:
        return None, None
    example = str(bad.iloc[0]) if bad_values else None
    if invalid / len(present) > max_invalid_ratio:
        reason = (
            f"Column {name!r} is read as text: {invalid} of its {len(present)} values "
            f"({invalid / len(present):.1%}) are not numbers (e.g. {example!r}), above "
            f"validation.numeric_parsing.max_invalid_ratio {max_invalid_ratio:.1%}."
        )
        return NumericFinding(name, "kept_text", len(present), invalid, example, reason), None
    mapping = {key: float(number) for key, number in numbers.items() if not pd.isna(number)}
    return NumericFinding(name, "parsed", len(present), invalid, example), mapping
