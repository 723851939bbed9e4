"""Streaming ingest against the whole-file reader: same sha256, schema, profile and Parquet content."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from mlops.demo import wine_frame
from mlops.errors import IngestRefused
from mlops.ml import csvstream
from mlops.ml import dataset as ds
from tests.unit.ml.ml_testdata import make_frame
from tests.unit.ml.test_ml_dataset import REFUSALS


class MemoryOutput(io.BytesIO):
    """A Parquet destination in memory that remembers being abandoned."""

    aborted = False

    def abort(self) -> None:
        self.aborted = True


def stream(data: bytes, block_size: int = 1 << 20) -> tuple[csvstream.StreamedTable, list[MemoryOutput]]:
    outputs: list[MemoryOutput] = []

    def open_output() -> MemoryOutput:
        outputs.append(MemoryOutput())
        return outputs[-1]

    return csvstream.stream_csv(lambda: io.BytesIO(data), open_output, block_size=block_size), outputs


def assert_close(streamed: Any, whole: Any, path: str = "") -> None:
    """Equal, floats within rounding (a merged mean adds in another order than numpy's)."""
    if isinstance(whole, dict):
        assert list(streamed) == list(whole), path
        for key in whole:
            assert_close(streamed[key], whole[key], f"{path}.{key}")
    elif isinstance(whole, list):
        assert len(streamed) == len(whole), path
        for i, (a, b) in enumerate(zip(streamed, whole, strict=True)):
            assert_close(a, b, f"{path}[{i}]")
    elif isinstance(whole, float) and isinstance(streamed, float):
        assert streamed == pytest.approx(whole, rel=1e-9, abs=1e-15), path
    else:
        assert streamed == whole, path


def assert_same_as_whole_file(data: bytes, block_size: int) -> csvstream.StreamedTable:
    table, outputs = stream(data, block_size)
    frame = ds.read_csv_bytes(data)
    schema = ds.infer_schema(frame)
    assert table.sha256 == ds.content_sha256(data)
    assert table.size == len(data)
    assert (table.rows, table.columns) == (len(frame), list(frame.columns))
    assert table.column_types == schema
    assert_close(table.profile, ds.profile(frame, schema))
    json.dumps(table.profile, allow_nan=False)
    parquet = outputs[-1].getvalue()
    pd.testing.assert_frame_equal(
        ds.read_parquet_bytes(parquet), ds.read_parquet_bytes(ds.to_parquet_bytes(frame))
    )
    assert not outputs[-1].aborted
    return table


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


SAMPLES: dict[str, Callable[[], bytes]] = {
    "demo-wine": lambda: _csv(wine_frame()),
    "iris": lambda: _csv(load_iris(as_frame=True).frame),
    "diabetes": lambda: _csv(load_diabetes(as_frame=True).frame),
    "breast-cancer": lambda: _csv(load_breast_cancer(as_frame=True).frame),
    "wine": lambda: _csv(load_wine(as_frame=True).frame),
    "test-binary": lambda: _csv(make_frame(400, "binary")),
    "test-multiclass": lambda: _csv(make_frame(450, "multiclass", seed=1)),
    "test-regression": lambda: _csv(make_frame(400, "regression", seed=2)),
}


@pytest.mark.parametrize("name", list(SAMPLES))
@pytest.mark.parametrize("block_size", [1 << 20, 4096], ids=["one-block", "many-blocks"])
def test_sample_datasets_stream_to_the_same_results(name: str, block_size: int) -> None:
    assert_same_as_whole_file(SAMPLES[name](), block_size)


@pytest.mark.parametrize(
    "data",
    [
        b" id , size ,color, ok\n1,2.5,red,true\n2,,blue,false\n3,4.0,,\n",
        b"i,i_gap,f,whole,b,s,d,ts,mixed\n"
        b"1,1,1.5,1.0,True,x,2024-01-02,2024-01-02T10:00:00Z,1\n"
        b"2,,2.5,2.0,False,y,2024-02-03,2024-01-02 11:30:00,a\n"
        b"3,3,,3.0,,z,2024-03-04,2024-01-03T00:00:00.123+02:00,2\n",
        "\ufeffname,city\nJosé,Zürich\nAnn,Oslo\n".encode(),
        "name,price\ncafé,3€\nthé,2€\n".encode("cp1252"),
        b"a;b;c\n1;2,5;x\n",
        b"a,b\r1,x\r2,y\r",
        b'a,b\r\n1,"two\nlines"\r\n2,z\r\n',
        b"a,b\n1.5,x\n2,y\n,\n,\n",
        b"a,b,c\n1, 2 , red \n3, ,blue\n",
        b"a,b,c\n+5,NA,inf\n-3,None,-1.5\n7,n/a,\n",
        b"a,b\n,\n,x\n",
    ],
    ids=[
        "types",
        "logical-types",
        "bom",
        "windows-1252",
        "semicolons",
        "cr",
        "multiline-field",
        "empty-rows",
        "spaces",
        "signs-and-markers",
        "leading-empty-column",
    ],
)
def test_small_files_read_the_same(data: bytes) -> None:
    assert_same_as_whole_file(data, 1 << 20)


def _long_columns() -> bytes:
    """Columns whose type is settled past the first fields a cast is tried on."""
    rows = 2 * csvstream.CAST_SAMPLE
    lines = ["ints_then_decimal,plus_then_ints,text_then_numbers,ints_then_text"]
    for i in range(rows):
        last = i == rows - 1
        lines.append(
            f"{'2.5' if last else i},{'+' if i < csvstream.CAST_SAMPLE else ''}{i},"
            f"{'x' if i == 0 else i},{'word' if last else i}"
        )
    return ("\n".join(lines) + "\n").encode()


def test_types_settled_past_the_first_fields_read_the_same() -> None:
    table = assert_same_as_whole_file(_long_columns(), 1 << 20)
    assert table.column_types == {
        "ints_then_decimal": "float",
        "plus_then_ints": "integer",
        "text_then_numbers": "string",
        "ints_then_text": "string",
    }


def test_empty_rows_do_not_make_an_integer_column_float() -> None:
    """Deliberately unlike the whole-file reader, where pandas types the column before the empty rows
    (a spreadsheet's trailing ones) are dropped, so their gaps made it float."""
    table, _ = stream(b"a,b\n1,x\n2,y\n,\n,\n")
    assert table.rows == 2 and table.column_types == {"a": "integer", "b": "string"}


@pytest.mark.parametrize(("data", "expected"), REFUSALS)
def test_refusals_are_the_same_sentences(data: bytes, expected: str) -> None:
    with pytest.raises(IngestRefused) as caught:
        stream(data)
    assert str(caught.value).startswith(expected)


def _changing(rows: int, value: Callable[[int], str]) -> bytes:
    lines = ["id,x,label", *(f"{i},{value(i)},{'ab'[i % 2]}" for i in range(rows))]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (lambda i: str(i) if i < 3000 else f"{i}.5", "float"),
        (lambda i: str(i) if i < 2000 else (f"{i}.5" if i < 4000 else f"w{i}"), "string"),
        (lambda i: "" if i < 3000 else str(i), "integer"),
        (lambda i: "" if i < 3000 else "true", "boolean"),
        (lambda i: "true" if i < 3000 else "7", "string"),
        (lambda i: "2024-01-01" if i < 3000 else "soon", "string"),
    ],
    ids=[
        "int-then-float",
        "int-float-text",
        "empty-then-int",
        "empty-then-bool",
        "bool-then-int",
        "date-then-text",
    ],
)
def test_a_type_change_after_the_first_block_is_typed_as_a_whole_file_read_types_it(
    value: Callable[[int], str], expected: str
) -> None:
    data = _changing(5000, value)
    table = assert_same_as_whole_file(data, 4096)
    assert table.column_types["x"] == expected


def test_invalid_utf8_past_the_first_block_is_read_as_windows_1252() -> None:
    head = "a,b\n" + "".join(f"{i},x\n" for i in range(12_000))
    data = head.encode() + "9,café\n".encode("cp1252")
    table = assert_same_as_whole_file(data, 4096)
    assert table.profile["columns"]["b"]["top"][-1]["value"] == "café"


def test_a_ragged_line_in_the_middle_fails_naming_the_line() -> None:
    lines = [f"{i},{i * 2},x" for i in range(50_000)]
    lines[30_000] = "1,2,3,4"
    data = ("a,b,c\n" + "\n".join(lines) + "\n").encode()
    with pytest.raises(IngestRefused) as caught:
        stream(data, 64 * 1024)
    assert str(caught.value) == (
        "The file is not a well-formed CSV: line 30002 has 4 fields where the header has 3."
    )


def test_a_truncated_file_fails_naming_its_last_line_and_abandons_its_parquet() -> None:
    data = ("a,b,c\n" + "".join(f"{i},{i * 2},x\n" for i in range(50_000))).encode()
    cut = data[: len(data) - 7]  # the last row loses its end
    outputs: list[MemoryOutput] = []

    def open_output() -> MemoryOutput:
        outputs.append(MemoryOutput())
        return outputs[-1]

    with pytest.raises(IngestRefused) as caught:
        csvstream.stream_csv(lambda: io.BytesIO(cut), open_output, block_size=64 * 1024)
    assert str(caught.value) == (
        "The file is not a well-formed CSV: line 50001 has 2 fields where the header has 3."
    )
    assert outputs and all(output.aborted for output in outputs)


@pytest.mark.parametrize(
    ("byte", "what"), [("\x00", "NUL bytes"), ("\x1b", "control characters"), ("\x7f", "control characters")]
)
def test_binary_bytes_in_the_middle_fail_naming_the_line(byte: str, what: str) -> None:
    lines = [f"{i},{i * 2},x" for i in range(50_000)]
    lines[40_000] = f"1,{byte}2,x"
    data = ("a,b,c\r\n" + "\t\n".join(lines) + "\n").encode()  # tabs and CRs are text
    with pytest.raises(IngestRefused) as caught:
        stream(data, 64 * 1024)
    assert str(caught.value) == (
        f"The file contains {what} at line 40,002, so it is binary, not a CSV text file."
    )


def test_a_file_over_the_limit_is_refused_while_reading() -> None:
    data = ("a,b\n" + "".join(f"{i},{i}\n" for i in range(100_000))).encode()
    with pytest.raises(IngestRefused, match=r"The file is over 200000 bytes, the limit for uploads\."):
        csvstream.stream_csv(lambda: io.BytesIO(data), MemoryOutput, max_bytes=200_000, block_size=64 * 1024)


def test_join_is_the_widening_lattice() -> None:
    assert csvstream.join("null", "integer") == "integer"
    assert csvstream.join("integer", "float") == "float"
    assert csvstream.join("float", "integer") == "float"
    assert csvstream.join("boolean", "null") == "boolean"
    assert csvstream.join("boolean", "integer") == "string"
    assert csvstream.join("float", "string") == "string"


def test_a_many_valued_column_keeps_its_profile_within_sketch_error() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"v": rng.normal(size=120_000).round(6), "k": rng.integers(0, 50, 120_000)})
    data = _csv(frame)
    table, _ = stream(data, 256 * 1024)
    whole = ds.profile(ds.read_csv_bytes(data))["columns"]["v"]
    got = table.profile["columns"]["v"]
    assert got["unique"] == pytest.approx(whole["unique"], rel=0.02)
    assert (got["min"], got["max"]) == (whole["min"], whole["max"])
    assert got["mean"] == pytest.approx(whole["mean"], rel=1e-9)
    values = np.sort(frame["v"].to_numpy())
    for name, quantile in got["quantiles"].items():
        rank = np.searchsorted(values, quantile) / len(values)
        assert abs(rank - int(name[1:]) / 100) < 0.01, name
    assert table.profile["columns"]["k"]["unique"] == 50


def test_a_row_longer_than_a_read_block_is_read_with_a_bigger_block() -> None:
    data = b"a,b\n1," + b"x" * (5 * 1024**2) + b"\n2,y\n"
    table, _ = stream(data, csvstream.BLOCK_SIZE)
    assert (table.rows, table.column_types) == (2, {"a": "integer", "b": "string"})
