"""Request bodies to feature columns: the three body formats and every validation rule."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from mlops.serving.errors import InvalidInput, PayloadTooLarge
from mlops.serving.features import FeatureLayout, parse_predict_body
from mlops.signature import FeatureSpec, Signature
from tests.unit.serving.test_records_decoder import check_both_paths

SIGNATURE = Signature(
    task="classification",
    target="churned",
    features=[
        FeatureSpec(name="age", input_name="age", kind="numeric", dtype="integer", nullable=True),
        FeatureSpec(name="income", input_name="income", kind="numeric", dtype="float", nullable=False),
        FeatureSpec(
            name="city",
            input_name="city",
            kind="categorical",
            dtype="string",
            nullable=True,
            categories=["1", "3", "paris", "rome", "True"],
        ),
        FeatureSpec(
            name="plan",
            input_name="plan",
            kind="categorical",
            dtype="string",
            nullable=False,
            categories=["a", "b"],
        ),
    ],
    classes=["no", "yes"],
    excluded_columns=["customer_id", "churned"],
)
LAYOUT = FeatureLayout(SIGNATURE)
ORDER = ["age", "income", "city", "plan"]


def record(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"age": 30, "income": 1200.5, "city": "paris", "plan": "a"}
    row.update(values)
    return row


def parse(body: Any, max_rows: int = 100) -> Any:
    # Every rule holds on both readings of a body: the general one and the large-body decoder's.
    check_both_paths(LAYOUT, body, max_rows)
    return parse_predict_body(LAYOUT, body, max_rows)


def reject(body: Any, *fragments: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse(body)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def records_body(**values: Any) -> dict[str, Any]:
    return {"records": [record(), record(**values)]}


# ---- the three formats ------------------------------------------------------------------------


def test_records_instances_and_dataframe_split_give_the_same_batch() -> None:
    rows = [record(), record(age=None, city="rome", plan="b"), record(age=61, income=0, city=None)]
    as_records = parse({"records": rows})
    as_instances = parse({"instances": [[r[c] for c in ORDER] for r in rows]})
    shuffled = ["plan", "city", "income", "age"]
    as_split = parse(
        {"dataframe_split": {"columns": shuffled, "data": [[r[c] for c in shuffled] for r in rows]}}
    )
    for batch in (as_instances, as_split):
        assert batch.rows == 3
        np.testing.assert_array_equal(batch.numeric, as_records.numeric)
        assert batch.categorical == as_records.categorical
    assert as_records.numeric.shape == (3, 2)
    assert math.isnan(as_records.numeric[1, 0])
    assert as_records.categorical == {"city": ["paris", "rome", None], "plan": ["a", "b", "a"]}


def test_instances_of_objects_are_records() -> None:
    batch = parse({"instances": [record(age=5)]})
    assert batch.numeric[0, 0] == 5


def test_dataframe_split_index_is_ignored_and_excluded_columns_accepted() -> None:
    columns = ["customer_id", *ORDER]
    batch = parse(
        {"dataframe_split": {"columns": columns, "index": [7], "data": [["c1", 1, 2.0, "rome", "b"]]}}
    )
    assert batch.numeric.tolist() == [[1.0, 2.0]]
    assert batch.categorical["city"] == ["rome"]


def test_feature_rows_are_json_ready() -> None:
    batch = parse({"records": [record(age=None, city=None)]})
    assert batch.feature_rows(LAYOUT) == [{"age": None, "income": 1200.5, "city": None, "plan": "a"}]


@pytest.mark.parametrize("order", [["city", "age", "plan", "income"], ["age", "income"], ["plan", "city"]])
def test_feature_rows_keep_the_signature_order_whatever_the_kinds(order: list[str]) -> None:
    by_name = {f.name: f for f in SIGNATURE.features}
    signature = SIGNATURE.model_copy(update={"features": [by_name[name] for name in order]})
    layout = FeatureLayout(signature)
    rows = [{name: record(age=None)[name] for name in order}, {name: record()[name] for name in order}]
    batch = parse_predict_body(layout, {"records": rows}, 10)
    assert batch.feature_rows(layout) == rows
    assert [list(row) for row in batch.feature_rows(layout)] == [order, order]


# ---- the body ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([record()], "must be a JSON object"),
        ("records", "must be a JSON object"),
        ({}, "one of 'records', 'instances' or 'dataframe_split'"),
        ({"records": [record()], "instances": [[1, 2, "a", "b"]]}, "Send only one of 'instances', 'records'"),
        ({"record": [record()]}, "Unknown field(s) 'record'"),
        ({"records": record()}, "'records' must be a list of rows"),
        ({"records": [record(), [1, 2]]}, "Row 1 of 'records' must be an object"),
        ({"records": [record(), "abcd", record()]}, "Row 1 of 'records' must be an object"),
        ({"records": [record(), None]}, "Row 1 of 'records' must be an object"),
        ({"records": [record(), record(zip=1), record()]}, "Row 1 has unknown feature(s) 'zip'"),
        (
            {"instances": [[1, 2, "a"]]},
            "Row 0 of 'instances' has 3 values; the model takes 4, in this order: age",
        ),
        ({"instances": ["x"]}, "Row 0 of 'instances' must be a list"),
        ({"dataframe_split": [1]}, "'dataframe_split' must be an object"),
        (
            {"dataframe_split": {"columns": ORDER, "data": [], "x": 1}},
            "Unknown field(s) 'x' in 'dataframe_split'",
        ),
        ({"dataframe_split": {"columns": "age", "data": []}}, "'dataframe_split.columns' must be a list"),
        ({"dataframe_split": {"columns": [*ORDER, "age"], "data": []}}, "names 'age' more than once"),
        ({"dataframe_split": {"columns": ORDER, "data": {}}}, "'dataframe_split.data' must be a list"),
        ({"dataframe_split": {"columns": ORDER[:3], "data": [[1, 2, "a"]]}}, "missing feature(s) 'plan'"),
        (
            {"dataframe_split": {"columns": [*ORDER, "zip"], "data": [[1, 2, "a", "b", 3]]}},
            "unknown feature(s) 'zip'",
        ),
        (
            {"dataframe_split": {"columns": ORDER, "data": [[1, 2, "a"]]}},
            "Row 0 of 'dataframe_split.data' must be a list of 4",
        ),
    ],
)
def test_malformed_bodies_are_refused_with_a_sentence(body: Any, fragment: str) -> None:
    message = reject(body, fragment)
    assert message.endswith(".")


@pytest.mark.parametrize(
    "body", [{"records": []}, {"instances": []}, {"dataframe_split": {"columns": ORDER, "data": []}}]
)
def test_an_empty_batch_is_refused(body: Any) -> None:
    reject(body, "The batch is empty")


def test_too_many_rows_is_payload_too_large() -> None:
    with pytest.raises(PayloadTooLarge, match="The batch has 3 rows; the limit is 2 rows per request"):
        parse({"records": [record()] * 3}, max_rows=2)


# ---- features ---------------------------------------------------------------------------------


def test_missing_and_unknown_features_are_named() -> None:
    row = record()
    del row["income"]
    reject({"records": [record(), row]}, "Row 1 is missing feature(s) 'income'")
    reject({"records": [record(zip_code=75001)]}, "Row 0 has unknown feature(s) 'zip_code'", "'age', 'city'")


def test_excluded_columns_are_accepted_and_ignored() -> None:
    batch = parse({"records": [record(customer_id="c-1", churned="yes")]})
    assert set(batch.categorical) == {"city", "plan"}
    assert batch.numeric.shape == (1, 2)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("42", "Feature 'age' in row 1 must be a number (or null), got the string '42'"),
        ([1], "Feature 'age' in row 1 must be a number (or null), got a list"),
        ({"v": 1}, "got an object"),
        (math.inf, "Feature 'age' in row 1 is Infinity: send a finite number, or null if missing"),
        (-math.inf, "is -Infinity"),
        (1e39, "Feature 'age' in row 1 is too large for a float32 feature"),
        (10**400, "too large for a float32 feature"),
    ],
)
def test_numeric_features_refuse_what_is_not_a_finite_number(value: Any, fragment: str) -> None:
    reject(records_body(age=value), fragment)


def test_numbers_and_booleans_are_numeric_values() -> None:
    batch = parse({"records": [record(age=True, income=3), record(age=False, income=2**70)]})
    assert batch.numeric.tolist() == [[1.0, 3.0], [0.0, float(2**70)]]


def test_null_and_nan_are_missing_where_the_feature_is_nullable_only() -> None:
    batch = parse({"records": [record(age=None), record(age=math.nan)]})
    assert np.isnan(batch.numeric[:, 0]).all()
    reject(
        records_body(income=None),
        "Feature 'income' in row 1 is missing, and the model takes no missing values",
    )
    reject(records_body(income=math.nan), "Feature 'income' in row 1 is missing")


@pytest.mark.parametrize(
    ("value", "category"),
    [
        (3, "3"),
        (3.0, "3"),
        (1.0, "1"),
        (2.5, "2.5"),
        (7.0, "7.0"),
        (True, "True"),
        ("rome", "rome"),
        ("", ""),
    ],
)
def test_categorical_values_become_the_text_pandas_read(value: Any, category: str) -> None:
    assert parse(records_body(city=value)).categorical["city"][1] == category


def test_missing_categories_follow_nullable() -> None:
    assert parse(records_body(city=None)).categorical["city"][1] is None
    assert parse(records_body(city=math.nan)).categorical["city"][1] is None
    reject(records_body(plan=None), "Feature 'plan' in row 1 is missing")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [([1], "must be a string (a category), got a list"), (math.inf, "is Infinity: send a category")],
)
def test_categorical_features_refuse_lists_and_infinity(value: Any, fragment: str) -> None:
    reject(records_body(city=value), fragment)


def test_unseen_categories_are_accepted_and_reported() -> None:
    batch = parse({"records": [record(city="oslo"), record(city="lima"), record(city=""), record(city=7)]})
    assert batch.unseen == {"city": ["7", "lima", "oslo"]}
    assert batch.categorical["city"] == ["oslo", "lima", "", "7"]


def test_text_that_is_not_unicode_is_refused() -> None:
    reject(records_body(city="\ud800"), "Feature 'city' in row 1 is not valid Unicode text")
    assert parse(records_body(city="Zürich ✓")).unseen == {"city": ["Zürich ✓"]}
