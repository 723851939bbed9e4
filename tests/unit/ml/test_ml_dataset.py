from __future__ import annotations

import gzip
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from mlops.errors import IngestRefused
from mlops.ml import dataset as ds
from tests.unit.ml.ml_testdata import make_frame

REFUSALS = [
    pytest.param(b"", "The file is empty (0 bytes).", id="zero-bytes"),
    pytest.param(
        b"  \r\n\t\n  ", "The file contains only whitespace: no header and no data.", id="whitespace"
    ),
    pytest.param(
        b"a,b\n1,\x002\n",
        "The file contains NUL bytes, so it is binary, not a CSV text file.",
        id="nul-bytes",
    ),
    pytest.param(
        gzip.compress(b"a,b\n1,2\n"), "The file is gzip-compressed; upload the uncompressed CSV.", id="gzip"
    ),
    pytest.param(
        b"PK\x03\x04rest-of-a-workbook", "The file is a ZIP archive (an Excel workbook is one)", id="zip"
    ),
    pytest.param(b"PAR1\x15\x04", "The file is a Parquet file; upload a CSV.", id="parquet"),
    pytest.param(
        bytes(range(1, 40)) * 3, "The file contains control characters, so it is binary", id="control-chars"
    ),
    pytest.param(
        b"a,b\n\x81\x8d\x8f,\xff\n", "The file is neither UTF-8 nor Windows-1252 text", id="undecodable"
    ),
    pytest.param(b"a,b\n", "The file has a header but no data rows.", id="header-only"),
    pytest.param(b"a,b\n,\n , \n\n", "The file has a header but no data rows.", id="only-empty-rows"),
    pytest.param(
        b"just one column\nx\ny\n",
        "The file's header has a single column ('just one column')",
        id="single-column",
    ),
    pytest.param(b'{"records": [1, 2, 3]}', "The file has a header but no data rows.", id="json"),
    pytest.param(
        b"a,,c\n1,2,3\n", "Column 2 of the header has no name; every column needs one.", id="empty-name"
    ),
    pytest.param(b"a,b,   \n1,2,3\n", "Column 3 of the header has no name", id="blank-name"),
    pytest.param(
        b"a, b ,b\n1,2,3\n",
        "Column name 'b' appears 2 times in the header; column names must be unique.",
        id="duplicate-name",
    ),
    pytest.param(
        b"a,b\n1,2\n3,4,5\n",
        "The file is not a well-formed CSV: line 3 has 3 fields where the header has 2.",
        id="ragged-row",
    ),
]


@pytest.mark.parametrize(("data", "expected"), REFUSALS)
def test_refused_files_say_why_in_one_sentence(data: bytes, expected: str) -> None:
    with pytest.raises(IngestRefused) as caught:
        ds.read_csv_bytes(data)
    message = str(caught.value)
    assert message.startswith(expected)
    assert message.endswith(".") and message.count(". ") == 0


def test_reads_a_plain_csv_with_types() -> None:
    frame = ds.read_csv_bytes(b" id , size ,color, ok\n1,2.5,red,true\n2,,blue,false\n3,4.0,,\n")
    assert list(frame.columns) == ["id", "size", "color", "ok"]
    assert frame["id"].dtype == np.int64
    assert frame["size"].dtype == np.float64
    assert frame["ok"].dtype == "boolean"
    assert frame["ok"].isna().tolist() == [False, False, True]
    assert frame["color"].isna().tolist() == [False, False, True]


def test_utf8_bom_and_windows_1252_are_read() -> None:
    bom = ds.read_csv_bytes("\ufeffname,city\nJosé,Zürich\nAnn,Oslo\n".encode())
    assert list(bom.columns) == ["name", "city"]
    assert bom["name"].tolist() == ["José", "Ann"]
    legacy = ds.read_csv_bytes("name,price\ncafé,3€\nthé,2€\n".encode("cp1252"))
    assert legacy["name"].tolist() == ["café", "thé"]
    assert legacy["price"].tolist() == ["3€", "2€"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_are_detected(delimiter: str) -> None:
    text = delimiter.join(["a", "b", "c"]) + "\n" + delimiter.join(["1", "2,5", "x"]) + "\n"
    frame = ds.read_csv_bytes(text.encode())
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame.iloc[0].tolist() == [1, "2,5", "x"]


@pytest.mark.parametrize(
    "data",
    [b"a,b\r1,x\r2,y\r", b"a,b\r\n1,x\r\n2,y", b'"a",b\n1,x\n2,"y"\n'],
    ids=["cr", "crlf", "quoted"],
)
def test_line_endings_and_quotes(data: bytes) -> None:
    frame = ds.read_csv_bytes(data)
    assert list(frame.columns) == ["a", "b"]
    assert frame.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}


def test_a_quoted_field_may_span_lines() -> None:
    frame = ds.read_csv_bytes(b'a,b\r\n1,"two\nlines"\r\n2,z\r\n')
    assert frame["b"].tolist() == ["two\nlines", "z"]


def test_trailing_empty_rows_are_dropped() -> None:
    frame = ds.read_csv_bytes(b"a,b\n1,x\n2,y\n,\n,\n")
    assert len(frame) == 2


def test_spaces_around_fields_are_ignored() -> None:
    frame = ds.read_csv_bytes(b"a,b,c\n1, 2 , red \n3, ,blue\n")
    assert frame["b"].dtype == np.float64
    assert frame["b"].isna().tolist() == [False, True]
    assert frame["c"].tolist() == ["red", "blue"]


def test_infer_schema_logical_types() -> None:
    frame = ds.read_csv_bytes(
        b"i,i_gap,f,whole,b,s,d,ts,mixed\n"
        b"1,1,1.5,1.0,True,x,2024-01-02,2024-01-02T10:00:00Z,1\n"
        b"2,,2.5,2.0,False,y,2024-02-03,2024-01-02 11:30:00,a\n"
        b"3,3,,3.0,,z,2024-03-04,2024-01-03T00:00:00.123+02:00,2\n"
    )
    assert ds.infer_schema(frame) == {
        "i": "integer",
        "i_gap": "integer",
        "f": "float",
        "whole": "float",
        "b": "boolean",
        "s": "string",
        "d": "datetime",
        "ts": "datetime",
        "mixed": "string",
    }


def test_profile_is_json_with_numeric_and_category_statistics() -> None:
    frame = make_frame(300, "binary")
    frame["empty"] = np.nan
    frame["many"] = [f"v{i % 50}" for i in range(len(frame))]
    report = ds.profile(frame)
    json.dumps(report, allow_nan=False)
    assert report["rows"] == 300
    income = report["columns"]["income"]
    assert income["type"] == "float"
    assert income["missing"] == int(frame["income"].isna().sum())
    assert income["min"] <= income["quantiles"]["p01"] <= income["quantiles"]["p50"] <= income["max"]
    assert income["mean"] == pytest.approx(frame["income"].mean())
    color = report["columns"]["color"]
    assert {entry["value"] for entry in color["top"]} == {"red", "green", "blue", "yellow"}
    assert sum(entry["count"] for entry in color["top"]) == frame["color"].notna().sum()
    many = report["columns"]["many"]
    assert len(many["top"]) == ds.TOP_CATEGORIES
    assert many["other_count"] == 300 - sum(entry["count"] for entry in many["top"])
    assert report["columns"]["member"]["true_ratio"] == pytest.approx(frame["member"].dropna().mean())
    assert report["columns"]["empty"]["min"] is None
    assert report["columns"]["empty"]["missing_ratio"] == 1.0


def test_parquet_round_trip_keeps_columns_dtypes_and_values() -> None:
    frame = ds.read_csv_bytes(
        b"n,f,s,b,d\n1,1.5,x,true,2024-01-01\n2,,,false,2024-01-02\n3,3.25,z,,2024-01-03\n"
    )
    back = ds.read_parquet_bytes(ds.to_parquet_bytes(frame))
    pd.testing.assert_frame_equal(back, frame)
    assert ds.infer_schema(back) == ds.infer_schema(frame)


def test_content_sha256_is_the_hex_digest() -> None:
    assert ds.content_sha256(b"a,b\n1,2\n") == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
