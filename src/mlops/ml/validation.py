"""Validation of a dataset version against its config and the schema of the versions before it.

``validate`` runs every rule and returns a report; the first failing check's message is the
``failure``, one sentence naming the column and the rule. The rules, in the order they are reported:

- ``target_present``: the config's target column is in the file.
- ``schema_compatible``: every column of the previous version is still there and has not changed
  type; integer and float are compatible, and so are string and datetime. A new column is a warning.
- ``target_missing``: rows without a target are dropped for training (a warning); more than
  ``validation.max_target_missing_ratio`` of them fails.
- ``min_rows``: at least ``validation.min_rows`` rows with a target.
- ``target_usable``: classification needs at least two classes, each with at least
  ``validation.min_class_count`` rows; regression needs a numeric target that varies.
- ``duplicate_rows``: duplicated rows are a warning; more than ``validation.max_duplicate_ratio`` fails.
- ``feature_missing``: a feature missing in more than ``validation.max_missing_ratio`` of rows fails.
- ``constant_column``: a column with a single value is a warning and is excluded from training.
- ``identifier_column``: an identifier is a warning and is excluded from training. A string or datetime
  column is one when at least ``validation.identifier_unique_ratio`` of its values are unique; an
  integer column when it is that unique and also its values run in sequence (sorted in file order,
  or filling that share of the range between its minimum and maximum), which tells row numbers from
  a measurement such as an income; any column named like an identifier (``id``, ``customer_id``,
  ``uuid``, ``orderId``...) whose values are all unique.
- ``infinite_values``: infinities in a numeric feature are a warning; the model treats them as missing.
- ``usable_features``: at least one feature column is left.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from mlops.config import DatasetConfig
from mlops.ml.dataset import infer_schema

Status = Literal["pass", "warn", "fail"]
CheckValue = float | int | str | None

_TYPE_GROUPS = {
    "integer": "numeric",
    "float": "numeric",
    "boolean": "boolean",
    "string": "text",
    "datetime": "text",
}
_ID_NAME = re.compile(
    r"^(id|uuid|guid|key|index|row_?id|record_?id)$|[_\-\s.](id|uuid|guid|key)$", re.IGNORECASE
)
_ID_CAMEL = re.compile(r"[a-z0-9](Id|ID|Uuid|UUID|Guid|GUID)$")
_SHOWN_COLUMNS = 10
_SHOWN_CLASSES = 50


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    column: str | None = None
    status: Status
    message: str
    value: CheckValue = None


class ValidationReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    passed: bool
    failure: str | None = Field(description="The first failing check's message.")
    checks: list[Check]
    feature_columns: list[str] = Field(description="Columns training uses, in file order.")
    excluded_columns: list[str] = Field(description="Identifier-like and constant columns.")
    rows: int
    column_types: dict[str, str] = Field(description="Logical type per column (the schema to compare next).")
    summary: dict[str, Any]

    @property
    def warnings(self) -> list[Check]:
        return [check for check in self.checks if check.status == "warn"]


def validate(
    df: pd.DataFrame, config: DatasetConfig, previous_schema: dict[str, str] | None
) -> ValidationReport:
    """Run every rule on ``df``; ``previous_schema`` is the last accepted version's ``column_types``."""
    rules = config.validation
    schema = infer_schema(df)
    rows = len(df)
    target = config.target
    checks: list[Check] = []
    summary: dict[str, Any] = {"rows": rows}

    if target in df.columns:
        checks.append(Check(rule="target_present", column=target, status="pass", message="Target found."))
    else:
        shown = ", ".join(str(c) for c in list(df.columns)[:_SHOWN_COLUMNS])
        more = "..." if len(df.columns) > _SHOWN_COLUMNS else ""
        checks.append(
            Check(
                rule="target_present",
                column=target,
                status="fail",
                message=f"Column {target!r} (target) is not in the file; its columns are {shown}{more}.",
            )
        )

    checks.extend(_schema_checks(df, schema, previous_schema))

    if target in df.columns:
        labelled = df[target].notna()
        summary["rows_with_target"] = int(labelled.sum())
        summary["target_missing_rows"] = rows - int(labelled.sum())
        checks.append(
            _target_missing_check(target, rows, int(labelled.sum()), rules.max_target_missing_ratio)
        )
        usable_rows = int(labelled.sum())
        checks.append(_min_rows_check(usable_rows, rules.min_rows))
        target_values = df.loc[labelled, target]
        if config.task == "classification":
            counts = target_values.value_counts()
            summary["class_count"] = len(counts)
            summary["classes"] = {
                str(label): int(count) for label, count in counts.head(_SHOWN_CLASSES).items()
            }
            checks.append(_classification_target_check(target, schema[target], counts, rules.min_class_count))
        else:
            checks.append(_regression_target_check(target, schema[target], target_values))
    else:
        summary["rows_with_target"] = 0

    duplicates = int(df.duplicated().sum())
    summary["duplicate_rows"] = duplicates
    checks.append(_duplicate_check(duplicates, rows, rules.max_duplicate_ratio))

    features: list[str] = []
    excluded: list[str] = []
    for column in df.columns:
        name = str(column)
        if name == target:
            continue
        series = df[column]
        logical = schema[name]
        missing_ratio = float(series.isna().mean()) if rows else 0.0
        unique = int(series.nunique(dropna=True))
        if missing_ratio > rules.max_missing_ratio:
            checks.append(
                Check(
                    rule="feature_missing",
                    column=name,
                    status="fail",
                    message=f"Column {name!r} is missing in {missing_ratio:.1%} of rows, above "
                    f"validation.max_missing_ratio {rules.max_missing_ratio:.1%}.",
                    value=missing_ratio,
                )
            )
            features.append(name)
            continue
        if unique <= 1:
            excluded.append(name)
            what = "a single value" if unique else "no values"
            checks.append(
                Check(
                    rule="constant_column",
                    column=name,
                    status="warn",
                    message=f"Column {name!r} has {what}; it is excluded from training.",
                    value=unique,
                )
            )
            continue
        reason = _identifier_reason(name, series, logical, rules.identifier_unique_ratio)
        if reason is not None:
            excluded.append(name)
            checks.append(
                Check(
                    rule="identifier_column",
                    column=name,
                    status="warn",
                    message=f"Column {name!r} looks like an identifier ({reason}); it is excluded from "
                    "training.",
                    value=unique / max(int(series.notna().sum()), 1),
                )
            )
            continue
        features.append(name)
        if logical in ("integer", "float"):
            infinite = int(np.isinf(series.to_numpy(dtype=np.float64, na_value=np.nan)).sum())
            if infinite:
                checks.append(
                    Check(
                        rule="infinite_values",
                        column=name,
                        status="warn",
                        message=f"Column {name!r} has {infinite} infinite value(s); the model treats them "
                        "as missing.",
                        value=infinite,
                    )
                )

    if features:
        checks.append(
            Check(
                rule="usable_features",
                status="pass",
                message=f"{len(features)} feature column(s) are used for training.",
                value=len(features),
            )
        )
    else:
        checks.append(
            Check(
                rule="usable_features",
                status="fail",
                message="No usable feature column is left once the target, identifiers and constant "
                "columns are set aside.",
                value=0,
            )
        )

    failure = next((check.message for check in checks if check.status == "fail"), None)
    summary["checks"] = {
        status: sum(1 for check in checks if check.status == status) for status in ("pass", "warn", "fail")
    }
    return ValidationReport(
        passed=failure is None,
        failure=failure,
        checks=checks,
        feature_columns=features,
        excluded_columns=excluded,
        rows=rows,
        column_types=schema,
        summary=summary,
    )


def _schema_checks(df: pd.DataFrame, schema: dict[str, str], previous: dict[str, str] | None) -> list[Check]:
    if previous is None:
        return [
            Check(
                rule="schema_compatible",
                status="pass",
                message="First version of the dataset: nothing to compare with.",
            )
        ]
    checks: list[Check] = []
    for column, before in previous.items():
        if column not in schema:
            checks.append(
                Check(
                    rule="schema_compatible",
                    column=column,
                    status="fail",
                    message=f"Column {column!r} is missing; the previous version of the dataset has it.",
                    value=before,
                )
            )
            continue
        now = schema[column]
        if df[column].notna().any() and _TYPE_GROUPS.get(now) != _TYPE_GROUPS.get(before):
            checks.append(
                Check(
                    rule="schema_compatible",
                    column=column,
                    status="fail",
                    message=f"Column {column!r} changed type from {before} to {now} since the previous "
                    "version of the dataset.",
                    value=now,
                )
            )
    for column in schema:
        if column not in previous:
            checks.append(
                Check(
                    rule="schema_compatible",
                    column=column,
                    status="warn",
                    message=f"Column {column!r} is new since the previous version of the dataset.",
                    value=schema[column],
                )
            )
    if not checks:
        checks.append(
            Check(
                rule="schema_compatible",
                status="pass",
                message="Same columns and compatible types as the previous version.",
            )
        )
    return checks


def _target_missing_check(target: str, rows: int, labelled: int, max_ratio: float) -> Check:
    missing = rows - labelled
    ratio = missing / rows if rows else 0.0
    if missing == 0:
        return Check(
            rule="target_missing",
            column=target,
            status="pass",
            message=f"Column {target!r} (target) has a value in every row.",
            value=0.0,
        )
    if ratio > max_ratio:
        return Check(
            rule="target_missing",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) is missing in {ratio:.1%} of rows, above "
            f"validation.max_target_missing_ratio {max_ratio:.1%}.",
            value=ratio,
        )
    return Check(
        rule="target_missing",
        column=target,
        status="warn",
        message=f"Column {target!r} (target) is missing in {missing} row(s) ({ratio:.1%}); they are dropped "
        "for training.",
        value=ratio,
    )


def _min_rows_check(usable_rows: int, min_rows: int) -> Check:
    if usable_rows < min_rows:
        return Check(
            rule="min_rows",
            status="fail",
            message=f"The dataset has {usable_rows} row(s) with a target, fewer than validation.min_rows "
            f"{min_rows}.",
            value=usable_rows,
        )
    return Check(
        rule="min_rows",
        status="pass",
        message=f"{usable_rows} rows with a target.",
        value=usable_rows,
    )


def _classification_target_check(target: str, logical: str, counts: pd.Series, min_class_count: int) -> Check:
    if len(counts) == 0:
        return Check(
            rule="target_usable",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) has no values.",
            value=0,
        )
    if len(counts) == 1:
        label = counts.index[0]
        return Check(
            rule="target_usable",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) has a single class {_label(label)}; classification needs "
            "at least 2.",
            value=1,
        )
    rare = counts[counts < min_class_count]
    if len(rare) == 1:
        label, count = rare.index[0], int(rare.iloc[0])
        return Check(
            rule="target_usable",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) class {_label(label)} has {count} row(s), fewer than "
            f"validation.min_class_count {min_class_count}.",
            value=len(rare),
        )
    if len(rare) > 1:
        hint = (
            "; for a continuous value set the task to regression"
            if logical == "float" or len(rare) > len(counts) / 2
            else ""
        )
        return Check(
            rule="target_usable",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) has {len(rare)} classes with fewer than "
            f"validation.min_class_count {min_class_count} rows (e.g. {_label(rare.index[0])}){hint}.",
            value=len(rare),
        )
    return Check(
        rule="target_usable",
        column=target,
        status="pass",
        message=f"{len(counts)} classes, the smallest with {int(counts.min())} rows.",
        value=len(counts),
    )


def _regression_target_check(target: str, logical: str, values: pd.Series) -> Check:
    if len(values) == 0:
        return Check(
            rule="target_usable",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) has no values.",
        )
    if logical not in ("integer", "float"):
        return Check(
            rule="target_usable",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) is {logical}; regression needs a numeric target.",
            value=logical,
        )
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = numbers[np.isfinite(numbers)]
    if len(finite) < len(numbers):
        return Check(
            rule="target_usable",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) has {len(numbers) - len(finite)} infinite value(s); "
            "regression needs finite numbers.",
            value=len(numbers) - len(finite),
        )
    if np.unique(finite).size < 2:
        return Check(
            rule="target_usable",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) has a single value {float(finite[0]):g}; regression needs "
            "it to vary.",
            value=1,
        )
    return Check(
        rule="target_usable",
        column=target,
        status="pass",
        message="Numeric target that varies.",
        value=float(np.std(finite)),
    )


def _duplicate_check(duplicates: int, rows: int, max_ratio: float) -> Check:
    ratio = duplicates / rows if rows else 0.0
    if duplicates == 0:
        return Check(rule="duplicate_rows", status="pass", message="No duplicated rows.", value=0.0)
    if ratio > max_ratio:
        return Check(
            rule="duplicate_rows",
            status="fail",
            message=f"{duplicates} row(s) ({ratio:.1%}) repeat an earlier row, above "
            f"validation.max_duplicate_ratio {max_ratio:.1%}.",
            value=ratio,
        )
    return Check(
        rule="duplicate_rows",
        status="warn",
        message=f"{duplicates} row(s) ({ratio:.1%}) repeat an earlier row.",
        value=ratio,
    )


def _identifier_reason(name: str, series: pd.Series, logical: str, threshold: float) -> str | None:
    present = series.dropna()
    count = len(present)
    if count < 2:
        return None
    unique = int(present.nunique())
    ratio = unique / count
    if unique == count and (_ID_NAME.search(name) or _ID_CAMEL.search(name)):
        return "named like one, with every value unique"
    if ratio < threshold:
        return None
    if logical in ("string", "datetime"):
        return f"{ratio:.1%} of its values are unique"
    if logical == "integer":
        numbers = present.to_numpy(dtype=np.float64)
        span = float(numbers.max() - numbers.min()) + 1.0
        if unique / span >= threshold:
            return f"{ratio:.1%} of its values are unique, filling the range {numbers.min():g} to {numbers.max():g}"
        if present.is_monotonic_increasing or present.is_monotonic_decreasing:
            return f"{ratio:.1%} of its values are unique and sorted"
    return None


def _label(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    return repr(value.item() if isinstance(value, np.generic) else value)
