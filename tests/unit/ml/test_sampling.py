"""Bounded samples: evenly spaced, deterministic, the table itself when small; the Parquet reader takes
the same rows as sampling the whole frame, one row group at a time."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops.ml.dataset import read_parquet_bytes, to_parquet_bytes
from mlops.ml.sampling import evenly_spaced, read_parquet_sample, sample_frame


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "n": np.arange(rows),
            "colour": rng.choice(["red", "green", "blue"], size=rows),
        }
    )


def test_evenly_spaced_covers_both_ends_and_is_the_whole_range_when_small() -> None:
    positions = evenly_spaced(1_000_000, 1_000)
    assert len(positions) == 1_000 and positions[0] == 0 and positions[-1] == 999_999
    assert np.all(np.diff(positions) > 0)
    assert list(evenly_spaced(5, 10)) == [0, 1, 2, 3, 4]


def test_a_small_frame_is_its_own_sample_and_a_big_one_is_bounded_and_deterministic() -> None:
    small = frame(50)
    assert sample_frame(small, 100) is small
    big = frame(10_000)
    first, second = sample_frame(big, 300), sample_frame(big, 300)
    assert len(first) == 300
    pd.testing.assert_frame_equal(first, second)


def test_the_parquet_sample_reads_row_groups_and_equals_the_frame_sample() -> None:
    data = frame(10_000)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), buffer, row_group_size=700)
    parquet = buffer.getvalue()
    assert pq.ParquetFile(io.BytesIO(parquet)).num_row_groups > 10
    sampled = read_parquet_sample(parquet, 333, columns=["n", "x"])
    expected = sample_frame(read_parquet_bytes(parquet), 333)[["n", "x"]]
    pd.testing.assert_frame_equal(sampled, expected)
    whole = read_parquet_sample(to_parquet_bytes(data), 20_000)
    pd.testing.assert_frame_equal(whole, read_parquet_bytes(to_parquet_bytes(data)))
