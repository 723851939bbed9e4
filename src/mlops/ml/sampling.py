"""Deterministic, bounded samples of big tables, for the stages that need a picture of the data rather
than every row: the drift baseline, and the holdout that conversion's parity gate and promotion's
comparison score.

A sample is evenly spaced rows (first, last and every ``rows / size``-th between), so the same table
always gives the same sample, with no seed to keep, and a table at or under the size is itself. Sizes
and why each gives the same answer as the whole table are in docs/performance.md ("Bounded stages").
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

# The drift baseline's histograms and KS sample: the baseline keeps a 100,000-value sample per feature.
BASELINE_ROWS = 100_000
# The stored holdout, which conversion (parity) and promotion (candidate against production) score.
HOLDOUT_ROWS = 200_000


def evenly_spaced(total: int, size: int) -> npt.NDArray[np.int64]:
    """``size`` row positions spread evenly over ``total`` rows (all of them when ``total <= size``)."""
    if total <= size:
        return np.arange(total, dtype=np.int64)
    return np.unique(np.linspace(0, total - 1, size).round().astype(np.int64))


def sample_frame(frame: pd.DataFrame, size: int) -> pd.DataFrame:
    """The frame's evenly spaced sample of at most ``size`` rows (the frame itself when it is smaller)."""
    if len(frame) <= size:
        return frame
    return frame.iloc[evenly_spaced(len(frame), size)].reset_index(drop=True)


def read_parquet_sample(data: bytes, size: int, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The evenly spaced sample of a Parquet file, read one row group at a time: only the sampled rows
    of ``columns`` are ever held as a frame, whatever the file's row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops.ml.dataset import read_parquet_bytes

    parquet = pq.ParquetFile(io.BytesIO(data))
    total = parquet.metadata.num_rows
    if total <= size:
        return read_parquet_bytes(data) if columns is None else read_parquet_bytes(data)[list(columns)]
    wanted = evenly_spaced(total, size)
    pieces: list[pa.Table] = []
    start = 0
    for group in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        inside = wanted[(wanted >= start) & (wanted < start + rows)] - start
        if inside.size:
            table = parquet.read_row_group(group, columns=list(columns) if columns is not None else None)
            pieces.append(table.take(pa.array(inside)))
        start += rows
    sample = pa.concat_tables(pieces)
    buffer = io.BytesIO()
    pq.write_table(sample, buffer)
    # Through the canonical reader, so the sample's types are what every stage reads from the file.
    return read_parquet_bytes(buffer.getvalue())
