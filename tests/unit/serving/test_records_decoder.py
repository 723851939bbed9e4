"""Large ``records`` bodies decoded straight into columns (``mlops.serving.records_decoder``): what the
decoder takes reads to the batch the general path reads, and what it refuses takes the general path,
so every body gets the same batch or the same error as before."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops.serving import features
from mlops.serving.errors import InvalidInput, PayloadTooLarge, ServingError
from mlops.serving.features import FeatureBatch, FeatureLayout, parse_predict_body, parse_predict_text
from mlops.serving.service import load_json
from mlops.signature import FeatureSpec, Signature
from mlops.signature_types import BULK_MAX_FEATURES, BULK_MIN_BODY_BYTES

Outcome = FeatureBatch | tuple[type[Exception], str]


def outcome(call: Callable[[], FeatureBatch]) -> Outcome:
    try:
        return call()
    except ServingError as error:
        return type(error), str(error)


def same(a: Outcome, b: Outcome) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return a == b
    return (
        a.rows == b.rows
        and a.numeric.shape == b.numeric.shape
        and bool(np.array_equal(a.numeric, b.numeric, equal_nan=True))
        and a.categorical == b.categorical
        and a.unseen == b.unseen
    )


class Recorder:
    """``parsed`` for ``parse_predict_text``: the general path's JSON, counting the calls."""

    def __init__(self, raw: str | bytes) -> None:
        self.raw = raw
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return load_json(self.raw)


def text_path(layout: FeatureLayout, raw: str | bytes, max_rows: int) -> tuple[Outcome, bool]:
    """The text path with every body counted as large; and whether the decoder answered alone."""
    parsed = Recorder(raw)
    with patch.object(features, "BULK_MIN_BODY_BYTES", 0):
        result = outcome(lambda: parse_predict_text(layout, raw, parsed, max_rows))
    return result, parsed.calls == 0


def check_both_paths(layout: FeatureLayout, body: Any, max_rows: int) -> bool:
    """The body as JSON text (str and UTF-8 bytes) read by the decoder and by the general path gives
    the same batch or the same error; returns whether the decoder took the text."""
    text = json.dumps(body)
    took = False
    for raw in (text, text.encode("utf-8", "surrogatepass")):
        reference = outcome(lambda raw=raw: parse_predict_body(layout, load_json(raw), max_rows))  # type: ignore[misc]
        decoded, by_decoder = text_path(layout, raw, max_rows)
        assert same(reference, decoded), (raw[:300], reference, decoded)
        took = took or by_decoder
    return took


# ---- a layout with awkward names, nullable and strict features, and excluded columns ---------------

NAMES = ["my feature", "class", "ünï", "records", "plan"]
SIGNATURE = Signature(
    task="classification",
    target="y",
    features=[
        FeatureSpec(name="my feature", input_name="f0", kind="numeric", dtype="float", nullable=True),
        FeatureSpec(name="class", input_name="f1", kind="numeric", dtype="integer", nullable=False),
        FeatureSpec(
            name="ünï",
            input_name="f2",
            kind="categorical",
            dtype="string",
            nullable=True,
            categories=["a", "3"],
        ),
        FeatureSpec(name="records", input_name="f3", kind="numeric", dtype="float", nullable=False),
        FeatureSpec(
            name="plan", input_name="f4", kind="categorical", dtype="string", nullable=False, categories=["x"]
        ),
    ],
    classes=["no", "yes"],
    excluded_columns=["id", "y"],
)
LAYOUT = FeatureLayout(SIGNATURE)


def row(**values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"my feature": 1.5, "class": 2, "ünï": "a", "records": -0.25, "plan": "x"}
    for name, value in values.items():
        out[{"my_feature": "my feature", "uni": "ünï"}.get(name, name)] = value
    return out


def test_clean_records_are_decoded_without_the_general_parse() -> None:
    body = {"records": [row(), row(my_feature=7, records=10**6, uni="new", plan="x"), row(id={"a": [1]})]}
    assert check_both_paths(LAYOUT, body, 10)
    batch, by_decoder = text_path(LAYOUT, json.dumps(body), 10)
    assert by_decoder and isinstance(batch, FeatureBatch)
    assert batch.numeric.tolist() == [[1.5, 2.0, -0.25], [7.0, 2.0, 1e6], [1.5, 2.0, -0.25]]
    assert batch.categorical == {"ünï": ["a", "new", "a"], "plan": ["x", "x", "x"]}
    assert batch.unseen == {"ünï": ["new"]}


def test_missing_values_where_nullable_are_decoded_too() -> None:
    body = {"records": [row(my_feature=None), row(uni=None), row()]}
    assert check_both_paths(LAYOUT, body, 10)
    batch, _ = text_path(LAYOUT, json.dumps(body), 10)
    assert isinstance(batch, FeatureBatch)
    assert math.isnan(batch.numeric[0, 0]) and batch.categorical["ünï"] == ["a", None, "a"]


@pytest.mark.parametrize(
    "body",
    [
        {"records": [row(), row(uni=3)]},  # a number for a category: the general path writes it as text
        {"records": [row(uni=3.0)]},
        {"records": [row(my_feature=True)]},  # booleans are numbers to the general path
        {"records": [row(records=math.nan)]},  # NaN: not JSON, the standard parser reads it
        {"records": [row(my_feature=math.inf)]},
        {"records": [row(records=10**400)]},
        {"records": [row(records=1e39)]},  # beyond float32: refused after decoding, as before
        {"records": [row(), row(records=None)]},
        {"records": [row(plan=None)]},
        {"records": [row(extra=1)]},
        {"records": [{"class": 1}]},
        {"records": [row(), [1, 2, 3, 4, 5]]},
        {"records": [row(), "row"]},
        {"records": []},
        {"records": [row()] * 4},  # more than max_rows
        {"records": [row()], "other": 1},
        {"instances": [[1.5, 2, "a", 0.5, "x"]]},
        {"dataframe_split": {"columns": NAMES, "data": [[1.5, 2, "a", 0.5, "x"]]}},
        {"records": [row(uni="\ud800")]},  # a lone surrogate
        {"records": [row(uni="Zürich ✓")]},
        [row()],
        "records",
    ],
)
def test_every_body_reads_as_the_general_path_reads_it(body: Any) -> None:
    check_both_paths(LAYOUT, body, 3)


def test_malformed_json_is_the_general_paths_error() -> None:
    deep = "[" * 200_000 + "]" * 200_000  # nested too deep for either parser, in a skipped column too
    malformed = [
        '{"records": [{"class": 1,}]}',
        '{"records": [] } x',
        "\ufeff{}",
        b'{"records": ["\xff"]}',
        '{"records": ' + deep + "}",
        json.dumps({"records": [row()]})[:-2] + ', {"id": ' + deep + "}]}",
    ]
    for raw in malformed:
        reference = outcome(lambda raw=raw: parse_predict_body(LAYOUT, load_json(raw), 3))  # type: ignore[misc]
        assert isinstance(reference, tuple) and reference[0] is InvalidInput
        assert text_path(LAYOUT, raw, 3)[0] == reference


def test_too_many_rows_is_payload_too_large_from_the_decoder() -> None:
    result, by_decoder = text_path(LAYOUT, json.dumps({"records": [row()] * 3}), 2)
    assert result == (PayloadTooLarge, "The batch has 3 rows; the limit is 2 rows per request.")
    assert by_decoder


def test_small_bodies_take_the_general_path() -> None:
    raw = json.dumps({"records": [row()]})
    parsed = Recorder(raw)
    parse_predict_text(LAYOUT, raw, parsed, 10)
    assert parsed.calls == 1 and len(raw) < BULK_MIN_BODY_BYTES


def test_a_large_body_is_decoded_and_matches() -> None:
    body = {"records": [row(my_feature=i / 7, uni=["a", "3", "b"][i % 3]) for i in range(2000)]}
    raw = json.dumps(body)
    assert len(raw) >= BULK_MIN_BODY_BYTES
    parsed = Recorder(raw)
    batch = parse_predict_text(LAYOUT, raw, parsed, 5000)
    assert parsed.calls == 0
    assert same(batch, parse_predict_body(LAYOUT, body, 5000))


def test_only_categorical_or_only_numeric_layouts() -> None:
    for kinds in (["numeric"], ["categorical"]):
        specs = [
            FeatureSpec(
                name=f"{kind}{i}",
                input_name=f"i{i}",
                kind=kind,
                dtype="float" if kind == "numeric" else "string",
            )
            for i, kind in enumerate(kinds * 3)
        ]
        layout = FeatureLayout(SIGNATURE.model_copy(update={"features": specs, "excluded_columns": []}))
        value: Any = 1.25 if kinds == ["numeric"] else "v"
        body = {"records": [{spec.name: value for spec in specs}] * 2}
        assert check_both_paths(layout, body, 10)


# ---- any body ------------------------------------------------------------------------------------

_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.sampled_from(["a", "3", "x", "", "Zürich", "1.5", "\ud800"]),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    records = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        record = dict(row())
        for name in draw(st.lists(st.sampled_from([*NAMES, "id", "y", "zip"]), max_size=3)):
            if draw(st.booleans()) and name in record:
                del record[name]
            else:
                record[name] = draw(_VALUES)
        records.append(record)
    return {"records": records}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_any_records_body_reads_as_the_general_path_reads_it(body: Any) -> None:
    check_both_paths(LAYOUT, body, 3)


def test_the_decoder_is_not_imported_at_init() -> None:
    """msgspec costs ~25 ms to import: the function's init and small bodies never pay it."""
    code = (
        "import sys, json\n"
        "from mlops.serving.features import FeatureLayout, parse_predict_text\n"
        "from mlops.serving.service import load_json\n"
        "from tests.unit.serving.test_records_decoder import LAYOUT, row\n"
        "raw = json.dumps({'records': [row()]})\n"
        "parse_predict_text(LAYOUT, raw, lambda: load_json(raw), 10)\n"
        "assert 'msgspec' not in sys.modules, 'imported for a small body'\n"
        "raw = json.dumps({'records': [row()] * 1000})\n"
        "parse_predict_text(LAYOUT, raw, lambda: load_json(raw), 1000)\n"
        "assert 'msgspec' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])


def test_threads_decoding_at_once_each_get_their_own_batch() -> None:
    """The local HTTP server answers in threads: one layout's decoder serves them all at once."""
    layout = FeatureLayout(SIGNATURE)
    bodies = [
        json.dumps({"records": [row(my_feature=float(t), records=i / 3) for i in range(1500)]})
        for t in range(4)
    ]
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda raw: parse_predict_text(layout, raw, Recorder(raw), 5000), bodies * 3))
    for k, batch in enumerate(batches):
        assert batch.numeric[:, 0].tolist() == [float(k % 4)] * 1500
        assert batch.numeric[:, 2].tolist() == [i / 3 for i in range(1500)]


def wide_layout(features: int) -> FeatureLayout:
    specs = [
        FeatureSpec(
            name=f"column {i}",
            input_name=f"i{i}",
            kind="categorical" if i % 5 == 0 else "numeric",
            dtype="string" if i % 5 == 0 else "float",
            nullable=i % 7 == 0,
        )
        for i in range(features)
    ]
    return FeatureLayout(SIGNATURE.model_copy(update={"features": specs, "excluded_columns": []}))


def test_keys_in_any_order_read_alike() -> None:
    """The decoder's fields are in signature order, where msgspec finds each key at once; keys in
    another order are searched for, and read to the same batch."""
    layout = wide_layout(60)
    record = {
        spec.name: ("v" if spec.kind == "categorical" else k / 3) for k, spec in enumerate(layout.features)
    }
    shuffled = list(record.items())
    random.Random(7).shuffle(shuffled)
    for items in (list(record.items()), sorted(record.items()), shuffled, list(reversed(record.items()))):
        body = {"records": [dict(items), {**dict(items), "column 7": None}]}
        assert check_both_paths(layout, body, 10)


def test_models_wider_than_the_decoder_takes_read_the_general_way() -> None:
    """Past BULK_MAX_FEATURES, keys in random order would decode slower than into dicts."""
    assert wide_layout(BULK_MAX_FEATURES).decodes_records
    layout = wide_layout(BULK_MAX_FEATURES + 1)
    assert not layout.decodes_records
    record = {spec.name: ("v" if spec.kind == "categorical" else 1.5) for spec in layout.features}
    raw = json.dumps({"records": [record] * 20})
    assert len(raw) >= BULK_MIN_BODY_BYTES
    parsed = Recorder(raw)
    batch = parse_predict_text(layout, raw, parsed, 100)
    assert parsed.calls == 1 and batch.rows == 20


def test_empty_and_blank_large_bodies() -> None:
    for raw, message in (
        ('{"records": []' + " " * BULK_MIN_BODY_BYTES + "}", "The batch is empty: send at least one row."),
        (
            " " * BULK_MIN_BODY_BYTES,
            f"The request body is not valid JSON: Expecting value at position {BULK_MIN_BODY_BYTES}.",
        ),
        (
            '{"records": [' + ",".join(["{}"] * 30_000) + "]}",
            "The batch has 30000 rows; the limit is 10 rows per request.",
        ),
    ):
        parsed = Recorder(raw)
        with pytest.raises(ServingError, match=re.escape(message)):
            parse_predict_text(LAYOUT, raw, parsed, 10)


def test_the_most_records_a_payload_holds_are_refused_by_count() -> None:
    """Lambda's 6 MB payload of the smallest records a one-feature model takes: 750,000 of them."""
    layout = FeatureLayout(
        SIGNATURE.model_copy(
            update={
                "features": [FeatureSpec(name="a", input_name="a", kind="numeric", dtype="float")],
                "excluded_columns": [],
            }
        )
    )
    raw = '{"records": [' + ",".join(['{"a":1}'] * 750_000) + "]}"
    assert len(raw) <= 6 * 1024 * 1024
    result, by_decoder = text_path(layout, raw, 10_000)
    assert by_decoder
    assert result == (PayloadTooLarge, "The batch has 750000 rows; the limit is 10000 rows per request.")


def test_long_and_empty_feature_names_and_long_values() -> None:
    specs = [
        FeatureSpec(name="", input_name="i0", kind="numeric", dtype="float"),
        FeatureSpec(name="n" * 20_000, input_name="i1", kind="categorical", dtype="string"),
        FeatureSpec(name="n" * 20_001, input_name="i2", kind="numeric", dtype="float"),
    ]
    layout = FeatureLayout(SIGNATURE.model_copy(update={"features": specs, "excluded_columns": []}))
    record = {"": 1.0, "n" * 20_000: "x" * 100_000, "n" * 20_001: -2.5}
    assert check_both_paths(layout, {"records": [record, {**record, "": 3}]}, 10)
