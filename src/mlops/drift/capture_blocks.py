"""The fast path of reading captured traffic: blocks of JSON Lines parsed by pyarrow into columns.

``mlops.drift.capture_reader`` imports this module at its first read (pyarrow stays out of the drift
function's cold start). Lines as the inference function writes them are parsed here, typed by a
schema built from the model's signature, without a Python object per value. A block that does not fit
(a malformed line, records run together, another spelling of a timestamp, a null where the writer
never writes one, a value of another type, a text longer than the bound) is handed back, and the
reader parses it record by record, so both paths give the same rows and counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from mlops.drift.capture_reader import PREDICTION, REQUEST_ID
from mlops.signature import Signature

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_SPLIT_BYTES = 32 * 1024
"""A block that does not fit is halved down to about this size (some 70 lines) before the record path."""
_READ = pj.ReadOptions(use_threads=False)
_STAMP_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
_NOT_FITTING = (
    pa.ArrowInvalid,
    pa.ArrowNotImplementedError,
    pa.ArrowTypeError,
    KeyError,
    ValueError,
    TypeError,
)
_LABEL_TYPES = (pa.types.is_string, pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)


@dataclass
class ParsedBlock:
    """One block's rows of the model version in the window, as columns."""

    numbers: dict[str, npt.NDArray[np.float64]]
    keyed: dict[str, tuple[list[Any], npt.NDArray[np.int64]]]
    rows: npt.NDArray[np.int64]
    other_versions: int
    outside_window: int


class BlockParser:
    def __init__(
        self, model: str, version: int, signature: Signature, since: datetime, until: datetime
    ) -> None:
        self.model = model
        self.version = version
        self.signature = signature
        # Microseconds since the epoch: timestamp scalars would import pandas (a quarter of a second).
        self.since = (since.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)
        self.until = (until.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)
        features = pa.struct(
            [(s.name, pa.float64() if s.kind == "numeric" else pa.string()) for s in signature.features]
        )
        self.fields = [
            (REQUEST_ID, pa.string()),
            ("model", pa.string()),
            ("version", pa.int64()),
            ("timestamp", pa.string()),
            ("row", pa.int64()),
            ("features", features),
        ]
        self.label_type: pa.DataType | None = None
        if signature.task == "classification":
            # Class labels keep their JSON type (numbers, booleans or text), which ``class_key`` needs:
            # the first block's is inferred, and the later blocks are read with it.
            schema = pa.schema(self.fields)
            self.options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
        else:
            self.label_type = pa.float64()
            self.options = self._with_label(self.label_type)

    def _with_label(self, label: pa.DataType) -> pj.ParseOptions:
        # Fields the evaluation does not read (probabilities, ...) are skipped, not typed.
        schema = pa.schema([*self.fields, (PREDICTION, label)])
        return pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")

    @property
    def ready(self) -> bool:
        """Whether every block is read with the same options from now on (so may be parsed at once)."""
        return self.label_type is not None

    @staticmethod
    def release_memory() -> None:
        """Hand pyarrow's freed blocks back: its allocator keeps them for reuse (once, after the read:
        after each block it costs a page fault per page of the next)."""
        pa.default_memory_pool().release_unused()

    def parse_pieces(self, block: bytes) -> list[ParsedBlock | bytes]:
        """The block's rows in order: parsed pieces, and the stretches pyarrow cannot read as bytes for
        the record path.

        A block that does not fit is halved at a line break and each half tried again, down to
        ``MIN_SPLIT_BYTES``: one malformed line sends its few neighbours to the record path (about
        7x slower a row), not the whole block. When both halves fail the cause is all over the block
        (another writer's format), and it goes to the record path whole.
        """
        parsed = self.parse(block)
        if parsed is not None:
            return [parsed]
        return self._split(block)

    def _split(self, block: bytes) -> list[ParsedBlock | bytes]:
        if len(block) <= MIN_SPLIT_BYTES or not self.ready:
            return [block]
        cut = block.find(b"\n", len(block) // 2) + 1
        if not 0 < cut < len(block):
            return [block]
        first, second = block[:cut], block[cut:]
        first_parsed, second_parsed = self.parse(first), self.parse(second)
        if first_parsed is None and second_parsed is None:
            return [block]
        left = [first_parsed] if first_parsed is not None else self._split(first)
        right = [second_parsed] if second_parsed is not None else self._split(second)
        return [*left, *right]

    def parse(self, block: bytes) -> ParsedBlock | None:
        """The block's rows as columns, or None when it does not fit (the record-by-record path).

        Safe to call from several threads once ``ready``."""
        try:
            table = pj.read_json(pa.BufferReader(block), read_options=_READ, parse_options=self.options)
            parsed = self._columns(table)
        except _NOT_FITTING:
            return None
        if parsed is not None and self.label_type is None:
            self.label_type = table.column(PREDICTION).type
            self.options = self._with_label(self.label_type)
        return parsed

    def _columns(self, table: pa.Table) -> ParsedBlock | None:
        if not len(table):
            return None
        if any(table.column(name).null_count for name, _ in self.fields):
            return None  # the writer writes each of them; an absent one is read record by record
        if not any(is_type(table.column(PREDICTION).type) for is_type in _LABEL_TYPES):
            return None  # e.g. a block of null predictions only
        stamps = table.column("timestamp")
        if not pc.all(pc.match_substring_regex(stamps, _STAMP_PATTERN)).as_py():
            return None
        # An impossible date raises: the record path.
        moments = pc.cast(pc.cast(stamps, pa.timestamp("us", tz="UTC")), pa.int64())
        ours = pc.and_(
            pc.equal(table.column("model"), self.model), pc.equal(table.column("version"), self.version)
        )
        inside = pc.and_(pc.greater_equal(moments, self.since), pc.less_equal(moments, self.until))
        kept = pc.and_(ours, inside)
        ours_rows = int(pc.sum(pc.cast(ours, pa.int64())).as_py())
        kept_rows = int(pc.sum(pc.cast(kept, pa.int64())).as_py())
        total = len(table)
        if kept_rows < total:
            table = table.filter(kept)
        features = table.column("features").combine_chunks()
        numbers: dict[str, npt.NDArray[np.float64]] = {}
        keyed: dict[str, tuple[list[Any], npt.NDArray[np.int64]]] = {}
        for spec in self.signature.features:
            values = features.field(spec.name)
            if spec.kind == "numeric":
                numbers[spec.name] = _floats(values)
            else:
                keyed[spec.name] = _encoded(values)
        prediction = table.column(PREDICTION).combine_chunks()
        if self.signature.task == "classification":
            keyed[PREDICTION] = _encoded(prediction)
        else:
            numbers[PREDICTION] = _floats(prediction)
        keyed[REQUEST_ID] = _encoded(table.column(REQUEST_ID).combine_chunks())
        rows = table.column("row").combine_chunks().to_numpy(zero_copy_only=False).astype(np.int64)
        return ParsedBlock(
            numbers=numbers,
            keyed=keyed,
            rows=rows,
            other_versions=total - ours_rows,
            outside_window=ours_rows - kept_rows,
        )


def _floats(values: pa.Array) -> npt.NDArray[np.float64]:
    """Float64 with NaN for null (as pyarrow gives them) and for a number too large for a double."""
    floats: npt.NDArray[np.float64] = values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    infinite = np.isinf(floats)
    if infinite.any():
        floats = floats.copy()  # pyarrow's own buffer is read-only
        floats[infinite] = np.nan
    return floats


def _encoded(values: pa.Array) -> tuple[list[Any], npt.NDArray[np.int64]]:
    """Distinct values in order of first appearance (None for null) and each row's index into them."""
    encoded = pc.dictionary_encode(values)
    distinct: list[Any] = encoded.dictionary.to_pylist()
    indices = encoded.indices
    if indices.null_count:
        # Null takes its place among the values by its first appearance, as a Counter would see it.
        first_null = pc.index(pc.is_null(indices), True).as_py()
        before = pc.max(indices.slice(0, first_null)).as_py() if first_null else None
        at = 0 if before is None else before + 1
        distinct.insert(at, None)
        indices = pc.fill_null(pc.if_else(pc.greater_equal(indices, at), pc.add(indices, 1), indices), at)
    return distinct, indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
