from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from mlops.config import DatasetConfig, ValidationConfig
from mlops.ml.dataset import infer_schema
from mlops.ml.validation import ValidationReport, validate
from tests.unit.ml.ml_testdata import make_frame


def config(target: str = "churned", task: str = "classification", **rules: Any) -> DatasetConfig:
    return DatasetConfig(target=target, task=task, validation=ValidationConfig(**rules))  # type: ignore[arg-type]


def checks(report: ValidationReport, rule: str) -> list[tuple[str | None, str]]:
    return [(check.column, check.status) for check in report.checks if check.rule == rule]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame(300, "binary")


def test_clean_frame_passes_and_excludes_the_identifier(frame: pd.DataFrame) -> None:
    report = validate(frame, config(), None)
    assert report.passed and report.failure is None
    assert report.feature_columns == ["income", "age", "score", "member", "color", "city"]
    assert report.excluded_columns == ["customer_id"]
    assert report.rows == 300
    assert report.column_types == infer_schema(frame)
    assert report.summary["classes"] == frame["churned"].value_counts().to_dict()
    assert {check.status for check in report.checks} <= {"pass", "warn"}
    ValidationReport.model_validate_json(report.model_dump_json())


def test_missing_target_column_fails(frame: pd.DataFrame) -> None:
    report = validate(frame, config(target="label"), None)
    assert not report.passed
    assert report.failure is not None
    assert report.failure.startswith(
        "Column 'label' (target) is not in the file; its columns are customer_id,"
    )
    assert checks(report, "target_present") == [("label", "fail")]


def test_single_class_target_fails_with_the_class_named() -> None:
    iris = load_iris(as_frame=True).frame
    iris["species"] = "setosa"
    report = validate(iris.drop(columns="target"), config(target="species"), None)
    assert report.failure == (
        "Column 'species' (target) has a single class 'setosa'; classification needs at least 2."
    )


def test_class_with_too_few_rows_fails(frame: pd.DataFrame) -> None:
    rare = frame.copy()
    rare.loc[0, "churned"] = "maybe"
    report = validate(rare, config(min_class_count=2), None)
    assert report.failure == (
        "Column 'churned' (target) class 'maybe' has 1 row(s), fewer than validation.min_class_count 2."
    )
    assert validate(rare, config(min_class_count=1), None).passed


def test_continuous_target_as_classification_hints_at_regression() -> None:
    data = make_frame(200, "regression")
    report = validate(data, config(target="spend"), None)
    assert report.failure is not None
    assert "classes with fewer than validation.min_class_count 2 rows" in report.failure
    assert report.failure.endswith("; for a continuous value set the task to regression.")


def test_integer_labels_are_a_valid_classification_target() -> None:
    data = make_frame(300, "multiclass")
    report = validate(data, config(target="tier"), None)
    assert report.passed
    assert report.summary["class_count"] == 3


def test_regression_needs_a_numeric_varying_target(frame: pd.DataFrame) -> None:
    text = validate(frame, config(task="regression"), None)
    assert text.failure == "Column 'churned' (target) is string; regression needs a numeric target."
    constant = frame.assign(churned=3.0)
    assert validate(constant, config(task="regression"), None).failure == (
        "Column 'churned' (target) has a single value 3; regression needs it to vary."
    )
    numeric = frame.assign(churned=np.linspace(0, 1, len(frame)))
    assert validate(numeric, config(task="regression"), None).passed


def test_rows_without_target_warn_then_fail_above_the_ratio(frame: pd.DataFrame) -> None:
    some = frame.copy()
    some.loc[:5, "churned"] = np.nan
    report = validate(some, config(max_target_missing_ratio=0.1), None)
    assert report.passed
    assert checks(report, "target_missing") == [("churned", "warn")]
    assert report.summary["target_missing_rows"] == 6
    many = frame.copy()
    many.loc[:99, "churned"] = np.nan
    failed = validate(many, config(max_target_missing_ratio=0.1), None)
    assert failed.failure == (
        "Column 'churned' (target) is missing in 33.3% of rows, above "
        "validation.max_target_missing_ratio 10.0%."
    )


def test_too_few_rows_fail(frame: pd.DataFrame) -> None:
    report = validate(frame.head(40), config(min_rows=50), None)
    assert report.failure == "The dataset has 40 row(s) with a target, fewer than validation.min_rows 50."


def test_schema_changes_against_the_previous_version(frame: pd.DataFrame) -> None:
    previous = infer_schema(frame)
    assert checks(validate(frame, config(), previous), "schema_compatible") == [(None, "pass")]

    vanished = validate(frame.drop(columns="score"), config(), previous)
    assert vanished.failure == "Column 'score' is missing; the previous version of the dataset has it."

    flipped = frame.assign(score=frame["score"].map(lambda v: f"s{v:.2f}"))
    assert validate(flipped, config(), previous).failure == (
        "Column 'score' changed type from float to string since the previous version of the dataset."
    )

    widened = frame.assign(age=frame["age"] + 0.5)  # integer -> float is compatible
    assert previous["age"] == "integer"
    assert validate(widened, config(), previous).passed

    added = validate(frame.assign(extra=1.5 * frame["score"]), config(), previous)
    assert added.passed
    assert ("extra", "warn") in checks(added, "schema_compatible")


def test_feature_missing_above_the_ratio_fails(frame: pd.DataFrame) -> None:
    gappy = frame.copy()
    gappy.loc[: len(gappy) * 0.6, "income"] = np.nan
    report = validate(gappy, config(max_missing_ratio=0.5), None)
    assert report.failure is not None
    ratio = gappy["income"].isna().mean()
    assert report.failure == (
        f"Column 'income' is missing in {ratio:.1%} of rows, above validation.max_missing_ratio 50.0%."
    )


def test_empty_column_is_excluded_when_missing_values_are_allowed(frame: pd.DataFrame) -> None:
    report = validate(frame.assign(notes=np.nan), config(max_missing_ratio=1.0), None)
    assert report.passed
    assert "notes" in report.excluded_columns


def test_duplicate_rows_warn_then_fail(frame: pd.DataFrame) -> None:
    doubled = pd.concat([frame, frame.head(30)], ignore_index=True)
    warned = validate(doubled, config(), None)
    assert warned.passed
    assert checks(warned, "duplicate_rows") == [(None, "warn")]
    assert warned.summary["duplicate_rows"] == 30
    failed = validate(doubled, config(max_duplicate_ratio=0.05), None)
    assert (
        failed.failure == "30 row(s) (9.1%) repeat an earlier row, above validation.max_duplicate_ratio 5.0%."
    )


def test_constant_column_is_excluded_with_a_warning(frame: pd.DataFrame) -> None:
    report = validate(frame.assign(country="NO"), config(), None)
    assert report.passed
    assert "country" in report.excluded_columns
    assert ("country", "warn") in checks(report, "constant_column")


def test_identifier_like_columns_are_excluded(frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(3)
    data = frame.assign(
        email=[f"user{i}@example.com" for i in range(len(frame))],
        row_number=rng.permutation(len(frame)),
        orderId=rng.choice(10**9, len(frame), replace=False),
        balance_cents=rng.choice(10**7, len(frame), replace=False),
    )
    report = validate(data, config(), None)
    assert report.passed
    flagged = {column for column, status in checks(report, "identifier_column") if status == "warn"}
    assert flagged == {"customer_id", "email", "row_number", "orderId"}
    # A unique but unordered, sparse measurement is a feature, not an identifier.
    assert "balance_cents" in report.feature_columns


def test_infinite_values_warn(frame: pd.DataFrame) -> None:
    data = frame.copy()
    data.loc[3, "score"] = np.inf
    report = validate(data, config(), None)
    assert report.passed
    assert ("score", "warn") in checks(report, "infinite_values")


def test_no_usable_feature_fails(frame: pd.DataFrame) -> None:
    data = frame[["customer_id", "churned"]].assign(country="NO")
    report = validate(data, config(), None)
    assert report.failure == (
        "No usable feature column is left once the target, identifiers and constant columns are set aside."
    )
    assert report.feature_columns == []


def test_failure_is_the_first_failing_check(frame: pd.DataFrame) -> None:
    data = frame.head(20).drop(columns="score")
    report = validate(data, config(min_rows=50), infer_schema(frame))
    fails = [check for check in report.checks if check.status == "fail"]
    assert len(fails) == 2
    assert report.failure == fails[0].message
    assert fails[0].rule == "schema_compatible"
