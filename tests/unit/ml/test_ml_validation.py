from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from mlops.config import DatasetConfig, ValidationConfig
from mlops.ml.dataset import infer_schema
from mlops.ml.validation import AcceptedSchema, ValidationReport, prepare_frame, validate
from tests.unit.ml.ml_testdata import make_frame


def config(target: str = "churned", task: str = "classification", **rules: Any) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {"target": target, "task": task, "validation": ValidationConfig.model_validate(rules).model_dump()}
    )


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


def test_rare_class_warns_by_default_and_fails_or_is_off_when_configured(frame: pd.DataFrame) -> None:
    rare = frame.copy()
    rare.loc[0, "churned"] = "maybe"
    warned = validate(rare, config(), None)
    assert warned.passed
    assert [c.message for c in warned.checks if c.rule == "rare_class"] == [
        "Column 'churned' (target) class 'maybe' has 1 row(s), fewer than validation.rare_class.min_count 2; "
        "they are kept, and the holdout may miss them."
    ]
    failed = validate(rare, config(rare_class={"severity": "fail"}), None)
    assert failed.failure == (
        "Column 'churned' (target) class 'maybe' has 1 row(s), fewer than validation.rare_class.min_count 2."
    )
    off = validate(rare, config(rare_class={"severity": "off"}), None)
    assert off.passed and checks(off, "rare_class") == []


def test_continuous_target_as_classification_hints_at_regression() -> None:
    data = make_frame(200, "regression")
    report = validate(data, config(target="spend"), None)
    assert report.failure is not None
    assert "classes with fewer than validation.rare_class.min_count 2 rows" in report.failure
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


def test_rows_without_target_are_dropped_and_counted_or_fail_above_the_ratio(frame: pd.DataFrame) -> None:
    some = frame.copy()
    some.loc[:56, "churned"] = np.nan  # 19% unlabelled: refused by earlier defaults
    report = validate(some, config(), None)
    assert report.passed
    assert checks(report, "target_missing") == [("churned", "warn")]
    assert report.summary["target_missing_rows"] == 57
    assert [c.message for c in report.checks if c.rule == "target_missing"] == [
        "Column 'churned' (target) is missing in 57 row(s) (19.0%); those rows are dropped for training."
    ]
    failed = validate(some, config(target_missing={"severity": "fail", "max_ratio": 0.1}), None)
    assert failed.failure == (
        "Column 'churned' (target) is missing in 57 row(s) (19.0%), above "
        "validation.target_missing.max_ratio 10.0%."
    )
    assert validate(some, config(target_missing={"severity": "fail", "max_ratio": 0.2}), None).passed
    off = validate(some, config(target_missing={"severity": "off"}), None)
    assert off.passed and checks(off, "target_missing") == []


def test_too_few_rows_fail(frame: pd.DataFrame) -> None:
    report = validate(frame.head(40), config(min_rows=50), None)
    assert report.failure == "The dataset has 40 row(s) with a target, fewer than validation.min_rows 50."


def test_schema_changes_against_the_last_accepted_version(frame: pd.DataFrame) -> None:
    previous = infer_schema(frame)
    assert checks(validate(frame, config(), previous), "column_removed") == [(None, "pass")]

    vanished = validate(frame.drop(columns="score"), config(), previous)
    assert vanished.failure == "Column 'score' is missing; the last accepted version of the dataset has it."
    kept_going = validate(frame.drop(columns="score"), config(column_removed={"severity": "warn"}), previous)
    assert kept_going.passed and ("score", "warn") in checks(kept_going, "column_removed")

    flipped = frame.assign(score=frame["score"].map(lambda v: f"s{v:.2f}"))
    assert validate(flipped, config(), previous).failure == (
        "Column 'score' changed type from float to string since the last accepted version of the dataset."
    )
    assert validate(flipped, config(column_retyped={"severity": "off"}), previous).passed

    widened = frame.assign(age=frame["age"] + 0.5)  # integer -> float is compatible
    assert previous["age"] == "integer"
    assert validate(widened, config(), previous).passed

    added = validate(frame.assign(extra=1.5 * frame["score"]), config(), previous)
    assert added.passed
    assert ("extra", "warn") in checks(added, "column_added")
    refused = validate(
        frame.assign(extra=1.5 * frame["score"]), config(column_added={"severity": "fail"}), previous
    )
    assert refused.failure == "Column 'extra' is new since the last accepted version of the dataset."


def test_a_removed_column_production_never_used_is_no_failure(frame: pd.DataFrame) -> None:
    previous = AcceptedSchema(
        column_types=infer_schema(frame), feature_columns=["income", "age", "score"], target="churned"
    )
    assert validate(frame.drop(columns="city"), config(), previous).passed
    assert not validate(frame.drop(columns="age"), config(), previous).passed


def test_mostly_empty_column_is_left_out_with_a_warning(frame: pd.DataFrame) -> None:
    gappy = frame.copy()
    gappy.loc[: len(gappy) * 0.85, "income"] = np.nan
    ratio = gappy["income"].isna().mean()
    report = validate(gappy, config(), None)
    assert report.passed
    assert "income" in report.excluded_columns and "income" not in report.feature_columns
    assert [c.message for c in report.checks if c.rule == "feature_missing"] == [
        f"Column 'income' is missing in {ratio:.1%} of rows, above validation.feature_missing.max_ratio "
        "50.0%; it is left out of the features."
    ]
    failed = validate(gappy, config(feature_missing={"severity": "fail"}), None)
    assert failed.failure == (
        f"Column 'income' is missing in {ratio:.1%} of rows, above validation.feature_missing.max_ratio 50.0%."
    )
    off = validate(gappy, config(feature_missing={"severity": "off"}), None)
    assert off.passed and "income" in off.feature_columns


def test_empty_column_is_left_out(frame: pd.DataFrame) -> None:
    report = validate(frame.assign(notes=np.nan), config(), None)
    assert report.passed
    assert "notes" in report.excluded_columns
    assert ("notes", "warn") in checks(report, "constant_column")


def test_duplicate_rows_are_kept_with_a_warning_or_fail_when_configured(frame: pd.DataFrame) -> None:
    doubled = pd.concat([frame, frame.head(30)], ignore_index=True)
    warned = validate(doubled, config(), None)
    assert warned.passed
    assert [c.message for c in warned.checks if c.rule == "duplicate_rows"] == [
        "30 row(s) (9.1%) repeat an earlier row; they are kept as repeated observations."
    ]
    assert warned.summary["duplicate_rows"] == 30
    failed = validate(doubled, config(duplicate_rows={"severity": "fail", "max_ratio": 0.05}), None)
    assert failed.failure == (
        "30 row(s) (9.1%) repeat an earlier row, above validation.duplicate_rows.max_ratio 5.0%."
    )
    off = validate(doubled, config(duplicate_rows={"severity": "off"}), None)
    assert off.passed and checks(off, "duplicate_rows") == []


def test_passenger_table_with_most_rows_repeated_trains() -> None:
    rng = np.random.default_rng(0)
    rows = 2000
    table = pd.DataFrame(
        {
            "class": rng.choice(["1st", "2nd", "3rd", "crew"], rows),
            "age": rng.choice(["adult", "child"], rows),
            "sex": rng.choice(["male", "female"], rows),
            "survived": rng.choice(["yes", "no"], rows),
        }
    )
    report = validate(table, config(target="survived"), None)
    assert report.passed, report.failure
    assert report.summary["duplicate_rows"] > rows * 0.6
    assert report.feature_columns == ["class", "age", "sex"]
    assert ("survived", "warn") in checks(report, "conflicting_labels")
    assert report.summary["conflicting_label_rows"] > 0


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
    assert validate(data, config(infinite_values={"severity": "fail"}), None).failure == (
        "Column 'score' has 1 infinite value(s)."
    )


def test_constant_and_identifier_columns_can_be_kept_or_refused(frame: pd.DataFrame) -> None:
    constant = frame.assign(country="NO")
    kept = validate(constant, config(constant_column={"severity": "off"}), None)
    assert "country" in kept.feature_columns
    assert validate(constant, config(constant_column={"severity": "fail"}), None).failure == (
        "Column 'country' has a single value."
    )
    ids = validate(frame, config(identifier_column={"severity": "off"}), None)
    assert "customer_id" in ids.feature_columns


def test_a_stray_text_value_in_a_numeric_column_is_parsed_with_a_warning(frame: pd.DataFrame) -> None:
    data = frame.astype({"income": object})
    data.loc[7, "income"] = "abc"
    report = validate(data, config(), None)
    assert report.passed
    assert report.column_types["income"] == "float"
    present = int(data["income"].notna().sum())
    assert [c.message for c in report.checks if c.rule == "numeric_parsing"] == [
        f"Column 'income' is numeric but 1 of its {present} values ({1 / present:.1%}) are not numbers "
        "(e.g. 'abc'); they are set to missing."
    ]
    assert prepare_frame(data, config())["income"].isna().sum() == len(data) - present + 1
    failed = validate(data, config(numeric_parsing={"severity": "fail"}), None)
    assert failed.failure is not None and "'abc'" in failed.failure
    off = validate(data, config(numeric_parsing={"severity": "off"}), None)
    assert off.column_types["income"] == "string" and checks(off, "numeric_parsing") == []


def test_a_column_with_many_text_values_stays_text_and_says_why(frame: pd.DataFrame) -> None:
    data = frame.astype({"income": object})
    data.loc[:29, "income"] = "unknown"
    present = int(data["income"].notna().sum())
    report = validate(data, config(), None)
    assert report.column_types["income"] == "string"
    assert [c.message for c in report.checks if c.rule == "numeric_parsing"] == [
        f"Column 'income' is read as text: 30 of its {present} values ({30 / present:.1%}) are not numbers "
        "(e.g. 'unknown'), above validation.numeric_parsing.max_invalid_ratio 5.0%."
    ]


def test_decimal_commas_are_parsed_as_numbers(frame: pd.DataFrame) -> None:
    data = frame.assign(score=[f"{v:.3f}".replace(".", ",") for v in frame["score"]])
    report = validate(data, config(), infer_schema(frame))
    assert report.passed, report.failure
    assert report.column_types["score"] == "float"
    assert ("score", "warn") in checks(report, "numeric_parsing")
    parsed = prepare_frame(data, config())["score"].to_numpy()
    assert np.allclose(parsed, frame["score"].round(3).to_numpy())


def test_no_usable_feature_fails(frame: pd.DataFrame) -> None:
    data = frame[["customer_id", "churned"]].assign(country="NO")
    report = validate(data, config(), None)
    assert report.failure == (
        "No usable feature column is left once the target, identifiers, empty and constant columns are "
        "set aside."
    )
    assert report.feature_columns == []


def test_failure_is_the_first_failing_check(frame: pd.DataFrame) -> None:
    data = frame.head(20).drop(columns="score")
    report = validate(data, config(min_rows=50), infer_schema(frame))
    fails = [check for check in report.checks if check.status == "fail"]
    assert len(fails) == 2
    assert report.failure == fails[0].message
    assert fails[0].rule == "column_removed"


def test_configs_of_earlier_releases_load() -> None:
    stored = {
        "target": "y",
        "validation": {
            "min_rows": 50,
            "max_missing_ratio": 0.5,
            "max_target_missing_ratio": 0.1,
            "max_duplicate_ratio": 0.2,
            "identifier_unique_ratio": 0.95,
            "min_class_count": 2,
        },
    }
    loaded = DatasetConfig.model_validate(stored)
    # Defaults nobody chose take the new defaults; a value someone set keeps failing above it.
    assert loaded.validation.feature_missing.severity == "warn"
    assert loaded.validation.target_missing.severity == "warn"
    assert loaded.validation.duplicate_rows.severity == "fail"
    assert loaded.validation.duplicate_rows.max_ratio == 0.2


def _firing(frame: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, dict[str, str] | None]]:
    """For each configurable rule, data (and a previous schema) that fires it."""
    previous = infer_schema(frame)
    gappy = frame.copy()
    gappy.loc[: len(gappy) * 0.8, "income"] = np.nan
    unlabelled = frame.copy()
    unlabelled.loc[:9, "churned"] = np.nan
    head = frame.head(5)
    flipped = head.assign(churned=np.where(head["churned"] == "yes", "no", "yes"))
    conflicting = pd.concat([frame, flipped], ignore_index=True)
    infinite = frame.copy()
    infinite.loc[3, "score"] = np.inf
    stray = frame.astype({"income": object})
    stray.loc[7, "income"] = "abc"
    rare = frame.copy()
    rare.loc[0, "churned"] = "maybe"
    return {
        "target_missing": (unlabelled, None),
        "feature_missing": (gappy, None),
        "duplicate_rows": (pd.concat([frame, frame.head(3)], ignore_index=True), None),
        "conflicting_labels": (conflicting, None),
        "constant_column": (frame.assign(country="NO"), None),
        "identifier_column": (frame, None),
        "numeric_parsing": (stray, None),
        "infinite_values": (infinite, None),
        "rare_class": (rare, None),
        "column_removed": (frame.drop(columns="score"), previous),
        "column_retyped": (frame.assign(score=frame["score"].map(lambda v: f"s{v:.2f}")), previous),
        "column_added": (frame.assign(extra=2.0 * frame["score"]), previous),
    }


RULES = (
    "target_missing",
    "feature_missing",
    "duplicate_rows",
    "conflicting_labels",
    "constant_column",
    "identifier_column",
    "numeric_parsing",
    "infinite_values",
    "rare_class",
    "column_removed",
    "column_retyped",
    "column_added",
)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("severity", ["fail", "warn", "off"])
def test_every_rule_fails_warns_or_is_off_as_configured(
    frame: pd.DataFrame, rule: str, severity: str
) -> None:
    data, previous = _firing(frame)[rule]
    configured = DatasetConfig.model_validate(
        {"target": "churned", "validation": {rule: {"severity": severity}}}
    )
    report = validate(data, configured, previous)
    fired = [c for c in report.checks if c.rule == rule and c.status != "pass"]
    if severity == "off":
        assert fired == [] and report.passed, report.failure
    elif severity == "warn":
        assert report.passed, report.failure
        assert fired and all(c.status == "warn" for c in fired)
        assert all(c.column is None or c.column in c.message for c in fired)
    else:
        assert not report.passed
        assert report.failure == fired[0].message and fired[0].status == "fail"


def test_a_comma_that_could_be_a_thousands_separator_keeps_the_column_text(frame: pd.DataFrame) -> None:
    data = frame.assign(amount=[f"{1 + i % 9},{i % 1000:03d}" for i in range(len(frame))])
    report = validate(data, config(), None)
    assert report.column_types["amount"] == "string"
    assert [c.message for c in report.checks if c.rule == "numeric_parsing"] == [
        "Column 'amount' is read as text: its values like '1,000' have three digits after the comma, so the "
        "comma could be a decimal point or a thousands separator."
    ]
