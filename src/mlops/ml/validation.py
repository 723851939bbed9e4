"""Validation of a dataset version against its config and the last accepted version of the dataset.

``validate`` runs every rule and returns a report; the first failing check's message is the
``failure``, one sentence naming the column, the rule and the figure. Every configurable rule has a
severity in ``validation.<rule>.severity`` (docs/dataset-config.md): ``fail`` stops the run, ``warn``
lets it go on and the message says what was done, ``off`` skips the rule. In report order:

- ``target_present`` (always fails): the config's target column is in the file.
- ``numeric_parsing``: text columns holding numbers are parsed (``mlops.ml.parsing``): decimal commas,
  a few values that are not numbers set to missing, or why the column stays text.
- ``column_removed`` / ``column_retyped`` (fail) and ``column_added`` (warn): the schema against the
  last *accepted* version: a feature or the target of it gone, a column's type changed (integer and
  float are compatible, and so are string and datetime), a column it did not have.
- ``target_missing`` (warn): rows without a target are always dropped for training; counted.
- ``min_rows`` (always fails): at least ``validation.min_rows`` rows with a target.
- ``target_usable`` (always fails): classification needs two classes and no more than half of them
  rare; regression a numeric target that varies. ``rare_class`` (warn): classes with fewer than
  ``validation.rare_class.min_count`` rows, kept.
- ``duplicate_rows`` (warn): exact repeats are kept (they are real observations), counted;
  ``conflicting_labels`` (warn): rows whose features repeat another row's with a different target.
- ``feature_missing``, ``constant_column``, ``identifier_column`` (warn): such a column is left out
  of the features. A string or datetime column is an identifier when at least
  ``identifier_column.unique_ratio`` of its values are unique; an integer column when it is that
  unique and also its values run in sequence (sorted in file order, or filling that share of the
  range between its minimum and maximum), which tells row numbers from a measurement such as an
  income; any column named like an identifier (``id``, ``customer_id``, ``uuid``, ``orderId``...)
  whose values are all unique. (``mlops.ml.validation_stream`` counts distinct values exactly up to
  ``mlops.ml.summaries.DISTINCT_EXACT`` per column, then estimates them.)
- ``infinite_values`` (warn): infinities in a numeric feature are treated as missing.
- ``usable_features`` (always fails): at least one feature column is left.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from mlops.config import DatasetConfig, Severity
from mlops.ml.dataset import infer_schema
from mlops.ml.parsing import NumericFinding, parse_numbers

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


class AcceptedSchema(BaseModel):
    """What a new version is compared with: the last accepted version's types, features and target."""

    model_config = ConfigDict(frozen=True)

    column_types: dict[str, str]
    feature_columns: list[str] | None = None
    target: str | None = None

    def guarded(self) -> list[str]:
        """The columns whose loss breaks production's inputs: its features and target."""
        if self.feature_columns is None:
            return list(self.column_types)
        return [c for c in self.column_types if c in self.feature_columns or c == self.target]


class ValidationReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    passed: bool
    failure: str | None = Field(description="The first failing check's message.")
    checks: list[Check]
    feature_columns: list[str] = Field(description="Columns training uses, in file order.")
    excluded_columns: list[str] = Field(description="Columns left out: empty, constant, identifier-like.")
    rows: int
    column_types: dict[str, str] = Field(description="Logical type per column, after parsing numbers.")
    summary: dict[str, Any]

    @property
    def warnings(self) -> list[Check]:
        return [check for check in self.checks if check.status == "warn"]


def prepare_frame(df: pd.DataFrame, config: DatasetConfig) -> pd.DataFrame:
    """The frame training sees: ``validate``'s parsing of numbers, applied the same way."""
    return parse_numbers(df, config.validation.numeric_parsing, unparsed_columns(config))[0]


def unparsed_columns(config: DatasetConfig) -> frozenset[str]:
    # Class labels are names, whatever they look like; a regression target is parsed like a feature.
    return frozenset({config.target}) if config.task == "classification" else frozenset()


def _above(rule: str, bound: float) -> str:
    """``, above validation.<rule>.max_ratio 10.0%`` when the bound is one a user set above zero."""
    return f", above validation.{rule}.max_ratio {bound:.1%}" if bound else ""


def _rule(
    rule: str,
    severity: Severity,
    message: str,
    action: str,
    column: str | None = None,
    value: CheckValue = None,
) -> Check | None:
    """A fired rule as its check: ``fail`` says what is wrong, ``warn`` also what was done about it."""
    if severity == "off":
        return None
    if severity == "fail":
        return Check(rule=rule, column=column, status="fail", message=f"{message}.", value=value)
    return Check(rule=rule, column=column, status="warn", message=f"{message}; {action}.", value=value)


@dataclass(frozen=True)
class ColumnFacts:
    """What the feature rules need of a column (after parsing numbers), from a frame or its batches.

    ``unique`` is exact on a frame; over batches it is exact up to ``mlops.ml.summaries.DISTINCT_EXACT``
    distinct values and an estimate past it. ``minimum``/``maximum``/``monotonic``/``infinite`` are for
    numeric columns only.
    """

    present: int
    unique: int
    minimum: float = math.nan
    maximum: float = math.nan
    monotonic: bool = False
    infinite: int = 0


@dataclass(frozen=True)
class RegressionTargetFacts:
    """A regression target's labelled values: how many, how many infinite, whether they vary."""

    count: int
    infinite: int
    varies: bool
    first_finite: float
    std: float


@dataclass(frozen=True)
class DatasetFacts:
    """Everything the rules look at, so a frame and a stream of batches share one report builder."""

    columns: list[str]
    findings: list[NumericFinding]
    column_types: dict[str, str]
    rows: int
    column_facts: dict[str, ColumnFacts]
    labelled: int = 0
    class_counts: pd.Series | None = None
    regression: RegressionTargetFacts | None = None
    duplicates: int = 0
    conflicting: int = 0


def validate(
    df: pd.DataFrame,
    config: DatasetConfig,
    previous: AcceptedSchema | dict[str, str] | None,
) -> ValidationReport:
    """Run every rule on ``df``; ``previous`` is the last accepted version's schema (None: the first)."""
    return build_report(frame_facts(df, config), config, previous)


def frame_facts(df: pd.DataFrame, config: DatasetConfig) -> DatasetFacts:
    """The rules' inputs from a whole frame."""
    target = config.target
    columns = [str(c) for c in df.columns]
    df, findings = parse_numbers(df, config.validation.numeric_parsing, unparsed_columns(config))
    schema = infer_schema(df)
    facts = {str(c): column_facts(df[c], schema[str(c)]) for c in df.columns}
    labelled = 0
    class_counts: pd.Series | None = None
    regression: RegressionTargetFacts | None = None
    if target in df.columns:
        has_target = df[target].notna()
        labelled = int(has_target.sum())
        values = df.loc[has_target, target]
        if config.task == "classification":
            class_counts = values.value_counts()
        elif schema[target] in ("integer", "float"):
            numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = numbers[np.isfinite(numbers)]
            regression = RegressionTargetFacts(
                count=len(numbers),
                infinite=len(numbers) - len(finite),
                varies=np.unique(finite).size >= 2,
                first_finite=float(finite[0]) if len(finite) else math.nan,
                std=float(np.std(finite)) if len(finite) else math.nan,
            )
    return DatasetFacts(
        columns=columns,
        findings=findings,
        column_types=schema,
        rows=len(df),
        column_facts=facts,
        labelled=labelled,
        class_counts=class_counts,
        regression=regression,
        duplicates=int(df.duplicated().sum()),
        conflicting=_conflicting_rows(df, target),
    )


def column_facts(series: pd.Series, logical: str) -> ColumnFacts:
    present = series.dropna()
    unique = int(series.nunique(dropna=True))
    if logical not in ("integer", "float") or len(present) == 0:
        return ColumnFacts(present=len(present), unique=unique)
    numbers = present.to_numpy(dtype=np.float64)
    return ColumnFacts(
        present=len(present),
        unique=unique,
        minimum=float(numbers.min()),
        maximum=float(numbers.max()),
        monotonic=bool(present.is_monotonic_increasing or present.is_monotonic_decreasing),
        infinite=int(np.isinf(numbers).sum()),
    )


def build_report(
    facts: DatasetFacts, config: DatasetConfig, previous: AcceptedSchema | dict[str, str] | None
) -> ValidationReport:
    """The report of every rule over ``facts``, in report order."""
    rules = config.validation
    target = config.target
    checks: list[Check] = []
    if isinstance(previous, dict):
        previous = AcceptedSchema(column_types=previous)

    if target in facts.columns:
        checks.append(Check(rule="target_present", column=target, status="pass", message="Target found."))
    else:
        shown = ", ".join(facts.columns[:_SHOWN_COLUMNS])
        more = "..." if len(facts.columns) > _SHOWN_COLUMNS else ""
        checks.append(
            Check(
                rule="target_present",
                column=target,
                status="fail",
                message=f"Column {target!r} (target) is not in the file; its columns are {shown}{more}.",
            )
        )

    checks.extend(_numeric_checks(facts.findings, rules.numeric_parsing.severity))
    schema = facts.column_types
    rows = facts.rows
    summary: dict[str, Any] = {"rows": rows}
    checks.extend(_schema_checks(facts, previous, config))

    if target in facts.columns:
        usable_rows = facts.labelled
        summary["rows_with_target"] = usable_rows
        summary["target_missing_rows"] = rows - usable_rows
        checks.extend(_target_missing_checks(target, rows, usable_rows, config))
        if usable_rows == 0:
            checks.append(
                Check(
                    rule="target_usable",
                    column=target,
                    status="fail",
                    message=f"Column {target!r} (target) has no values in any of the {rows} rows.",
                    value=0,
                )
            )
        checks.append(_min_rows_check(usable_rows, rules.min_rows))
        if usable_rows and config.task == "classification" and facts.class_counts is not None:
            counts = facts.class_counts
            summary["class_count"] = len(counts)
            summary["classes"] = {
                str(label): int(count) for label, count in counts.head(_SHOWN_CLASSES).items()
            }
            checks.extend(_classification_target_checks(target, schema[target], counts, config))
        elif usable_rows:
            checks.append(_regression_target_check(target, schema[target], facts.regression))
    else:
        summary["rows_with_target"] = 0

    summary["duplicate_rows"] = facts.duplicates
    checks.extend(_duplicate_checks(facts, config, summary))

    features, excluded = _feature_checks(facts, config, checks)
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
                message="No usable feature column is left once the target, identifiers, empty and constant "
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


def _numeric_checks(findings: list[NumericFinding], severity: Severity) -> list[Check]:
    checks: list[Check] = []
    for found in findings:
        if found.action == "kept_text":
            checks.append(
                Check(rule="numeric_parsing", column=found.column, status="warn", message=found.reason or "")
            )
        elif found.action == "decimal_comma":
            checks.append(
                Check(
                    rule="numeric_parsing",
                    column=found.column,
                    status="warn",
                    message=f"Column {found.column!r} writes numbers with decimal commas (e.g. "
                    f"{found.example!r}); it is parsed as numbers.",
                    value=found.present,
                )
            )
        elif found.invalid:
            check = _rule(
                "numeric_parsing",
                severity,
                f"Column {found.column!r} is numeric but {found.invalid} of its {found.present} values "
                f"({found.invalid_ratio:.1%}) are not numbers (e.g. {found.example!r})",
                "they are set to missing",
                found.column,
                found.invalid,
            )
            if check is not None:
                checks.append(check)
    return checks


def _schema_checks(
    facts: DatasetFacts, previous: AcceptedSchema | None, config: DatasetConfig
) -> list[Check]:
    schema = facts.column_types
    if previous is None:
        return [
            Check(
                rule="column_removed",
                status="pass",
                message="No accepted version of the dataset yet: nothing to compare with.",
            )
        ]
    rules = config.validation
    since = "since the last accepted version of the dataset"
    checks: list[Check | None] = []
    for column in previous.guarded():
        before = previous.column_types[column]
        if column not in schema:
            checks.append(
                _rule(
                    "column_removed",
                    rules.column_removed.severity,
                    f"Column {column!r} is missing; the last accepted version of the dataset has it",
                    "the model is trained without it",
                    column,
                    before,
                )
            )
            continue
        now = schema[column]
        if facts.column_facts[column].present and _TYPE_GROUPS.get(now) != _TYPE_GROUPS.get(before):
            checks.append(
                _rule(
                    "column_retyped",
                    rules.column_retyped.severity,
                    f"Column {column!r} changed type from {before} to {now} {since}",
                    f"it is used as {now}",
                    column,
                    now,
                )
            )
    for column in schema:
        if column not in previous.column_types:
            checks.append(
                _rule(
                    "column_added",
                    rules.column_added.severity,
                    f"Column {column!r} is new {since}",
                    "it is checked and used like any other column",
                    column,
                    schema[column],
                )
            )
    found = [check for check in checks if check is not None]
    return found or [
        Check(
            rule="column_removed",
            status="pass",
            message="Same columns and compatible types as the last accepted version.",
        )
    ]


def _target_missing_checks(target: str, rows: int, labelled: int, config: DatasetConfig) -> list[Check]:
    rule = config.validation.target_missing
    missing = rows - labelled
    ratio = missing / rows if rows else 0.0
    if missing == 0:
        return [
            Check(
                rule="target_missing",
                column=target,
                status="pass",
                message=f"Column {target!r} (target) has a value in every row.",
                value=0.0,
            )
        ]
    if ratio <= rule.max_ratio:
        return []
    bound = _above("target_missing", rule.max_ratio)
    check = _rule(
        "target_missing",
        rule.severity,
        f"Column {target!r} (target) is missing in {missing} row(s) ({ratio:.1%}){bound}",
        "those rows are dropped for training",
        target,
        ratio,
    )
    return [check] if check else []


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


def _classification_target_checks(
    target: str, logical: str, counts: pd.Series, config: DatasetConfig
) -> list[Check]:
    rule = config.validation.rare_class
    if len(counts) == 0:
        return [
            Check(
                rule="target_usable",
                column=target,
                status="fail",
                message=f"Column {target!r} (target) has no values.",
                value=0,
            )
        ]
    if len(counts) == 1:
        return [
            Check(
                rule="target_usable",
                column=target,
                status="fail",
                message=f"Column {target!r} (target) has a single class {_label(counts.index[0])}; "
                "classification needs at least 2.",
                value=1,
            )
        ]
    rare = counts[counts < rule.min_count]
    if len(rare) > 1 and len(rare) > len(counts) / 2:
        return [
            Check(
                rule="target_usable",
                column=target,
                status="fail",
                message=f"Column {target!r} (target) has {len(rare)} of its {len(counts)} classes with fewer "
                f"than validation.rare_class.min_count {rule.min_count} rows (e.g. {_label(rare.index[0])}); "
                "for a continuous value set the task to regression.",
                value=len(rare),
            )
        ]
    checks = [
        Check(
            rule="target_usable",
            column=target,
            status="pass",
            message=f"{len(counts)} classes, the smallest with {int(counts.min())} rows.",
            value=len(counts),
        )
    ]
    if len(rare):
        label, count = rare.index[0], int(rare.iloc[0])
        what = (
            f"class {_label(label)} has {count} row(s)"
            if len(rare) == 1
            else f"{len(rare)} classes have fewer rows (e.g. {_label(label)} with {count})"
        )
        check = _rule(
            "rare_class",
            rule.severity,
            f"Column {target!r} (target) {what}, fewer than validation.rare_class.min_count {rule.min_count}",
            "they are kept, and the holdout may miss them",
            target,
            len(rare),
        )
        if check is not None:
            checks.append(check)
    return checks


def _regression_target_check(target: str, logical: str, values: RegressionTargetFacts | None) -> Check:
    if logical not in ("integer", "float") or values is None:
        return Check(
            rule="target_usable",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) is {logical}; regression needs a numeric target.",
            value=logical,
        )
    if values.infinite:
        return Check(
            rule="target_usable",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) has {values.infinite} infinite value(s); "
            "regression needs finite numbers.",
            value=values.infinite,
        )
    if not values.varies:
        return Check(
            rule="target_usable",
            column=target,
            status="fail",
            message=f"Column {target!r} (target) has a single value {values.first_finite:g}; regression needs "
            "it to vary.",
            value=1,
        )
    return Check(
        rule="target_usable",
        column=target,
        status="pass",
        message="Numeric target that varies.",
        value=values.std,
    )


def _duplicate_checks(facts: DatasetFacts, config: DatasetConfig, summary: dict[str, Any]) -> list[Check]:
    rules = config.validation
    rows = facts.rows
    duplicates = facts.duplicates
    checks: list[Check | None] = []
    ratio = duplicates / rows if rows else 0.0
    if duplicates == 0:
        checks.append(Check(rule="duplicate_rows", status="pass", message="No duplicated rows.", value=0.0))
    elif ratio > rules.duplicate_rows.max_ratio:
        above = _above("duplicate_rows", rules.duplicate_rows.max_ratio)
        checks.append(
            _rule(
                "duplicate_rows",
                rules.duplicate_rows.severity,
                f"{duplicates} row(s) ({ratio:.1%}) repeat an earlier row{above}",
                "they are kept as repeated observations",
                None,
                ratio,
            )
        )
    conflicting = facts.conflicting
    summary["conflicting_label_rows"] = conflicting
    conflict_ratio = conflicting / rows if rows else 0.0
    if conflicting and conflict_ratio > rules.conflicting_labels.max_ratio:
        above = _above("conflicting_labels", rules.conflicting_labels.max_ratio)
        checks.append(
            _rule(
                "conflicting_labels",
                rules.conflicting_labels.severity,
                f"{conflicting} row(s) ({conflict_ratio:.1%}) share all their feature values with a row of a "
                f"different {config.target!r}{above}",
                "they are kept; no model can tell them apart",
                config.target,
                conflict_ratio,
            )
        )
    return [check for check in checks if check is not None]


def _conflicting_rows(df: pd.DataFrame, target: str) -> int:
    """Labelled rows whose feature values also occur with another target value."""
    if target not in df.columns or len(df.columns) < 2:
        return 0
    labelled = df[df[target].notna()]
    if labelled.empty:
        return 0
    keys = pd.util.hash_pandas_object(labelled.drop(columns=[target]), index=False)
    labels = labelled[target].astype(str).to_numpy()
    distinct = pd.Series(labels, index=keys.index).groupby(keys.to_numpy()).transform("nunique")
    return int((distinct > 1).sum())


def _feature_checks(
    facts: DatasetFacts, config: DatasetConfig, checks: list[Check]
) -> tuple[list[str], list[str]]:
    """Decide each column's fate, appending the checks that fired; (features, left out)."""
    rules = config.validation
    rows = facts.rows
    features: list[str] = []
    excluded: list[str] = []
    for name in facts.columns:
        if name == config.target:
            continue
        column = facts.column_facts[name]
        logical = facts.column_types[name]
        missing_ratio = (rows - column.present) / rows if rows else 0.0
        unique = column.unique
        fired: Check | None = None
        if missing_ratio > rules.feature_missing.max_ratio and unique > 0:
            fired = _rule(
                "feature_missing",
                rules.feature_missing.severity,
                f"Column {name!r} is missing in {missing_ratio:.1%} of rows, above "
                f"validation.feature_missing.max_ratio {rules.feature_missing.max_ratio:.1%}",
                "it is left out of the features",
                name,
                missing_ratio,
            )
        if fired is None and unique <= 1:
            what = "a single value" if unique else "no values"
            fired = _rule(
                "constant_column",
                rules.constant_column.severity,
                f"Column {name!r} has {what}",
                "it is left out of the features",
                name,
                unique,
            )
        if fired is None:
            reason = _identifier_reason(name, column, logical, rules.identifier_column.unique_ratio)
            if reason is not None:
                fired = _rule(
                    "identifier_column",
                    rules.identifier_column.severity,
                    f"Column {name!r} looks like an identifier ({reason})",
                    "it is left out of the features",
                    name,
                    unique / max(column.present, 1),
                )
        if fired is not None:
            checks.append(fired)
            if fired.status == "warn":
                excluded.append(name)
            continue
        features.append(name)
        if logical in ("integer", "float") and column.infinite:
            check = _rule(
                "infinite_values",
                rules.infinite_values.severity,
                f"Column {name!r} has {column.infinite} infinite value(s)",
                "the model treats them as missing",
                name,
                column.infinite,
            )
            if check is not None:
                checks.append(check)
    return features, excluded


def _identifier_reason(name: str, column: ColumnFacts, logical: str, threshold: float) -> str | None:
    count = column.present
    if count < 2:
        return None
    unique = min(column.unique, count)
    ratio = unique / count
    if unique == count and (_ID_NAME.search(name) or _ID_CAMEL.search(name)):
        return "named like one, with every value unique"
    if ratio < threshold:
        return None
    if logical in ("string", "datetime"):
        return f"{ratio:.1%} of its values are unique"
    if logical == "integer":
        low, high = column.minimum, column.maximum
        span = high - low + 1.0
        if unique / span >= threshold:
            return f"{ratio:.1%} of its values are unique, filling the range {low:g} to {high:g}"
        if column.monotonic:
            return f"{ratio:.1%} of its values are unique and sorted"
    return None


def _label(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    return repr(value.item() if isinstance(value, np.generic) else value)
