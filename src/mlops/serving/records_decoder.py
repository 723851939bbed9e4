"""Large ``records`` bodies decoded straight into columns, typed by the model's signature.

msgspec decodes each record into a slotted object whose fields are the model's features, in signature
order (numbers as floats, categories as strings, ``null`` where the feature is nullable); the numeric
values then go into the matrix in one pass and each categorical column is one C-level pass. Against
``orjson.loads`` into dicts and a look-up per feature and row, this skips building, hashing and
freeing a dict per record (docs/performance.md, "10,000-row bodies").

The decoder accepts only clean bodies: ``{"records": [...]}`` whose records hold exactly the model's
features (and, optionally, the dataset's excluded columns, which are skipped unread) with values of
those types. Anything else (another body form, a missing or unknown field, a number sent for a
category, ``NaN``, a number beyond float64, malformed JSON) makes ``batch`` return None, and the body
takes the general path (``mlops.serving.features.parse_predict_body``), which accepts or refuses it as
before and names the fault. What the decoder accepts, the general path reads to the same batch.

msgspec is imported on the first large body (importing it takes ~25 ms), not at init.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import numpy.typing as npt

from mlops.serving.features import check_rows, from_columns, from_typed, row_locator, tuple_getter

if TYPE_CHECKING:
    from mlops.serving.features import FeatureBatch, FeatureLayout

# What a refused body raises: msgspec's decode and validation errors, a str body that is not valid
# Unicode (a lone surrogate cannot be encoded to UTF-8), nesting too deep.
_REFUSED = (msgspec.MsgspecError, UnicodeError, RecursionError)


class RecordsDecoder:
    """One model layout's decoder of ``{"records": [...]}`` bodies into a feature batch."""

    def __init__(self, layout: FeatureLayout) -> None:
        self.layout = layout
        # The record's fields in signature order, then the ignored columns: msgspec finds a key at
        # once when keys come in its fields' order (as clients send them, in the order of the
        # model's features) and searches the fields for one that does not.
        specs = layout.features
        # Strict: no missing value, so the numbers go into the matrix in one pass, unchecked for
        # None. Where a feature is nullable, a body the strict decoder refuses is tried once more
        # with null allowed there.
        self._strict = _decoder(layout, nullable=False)
        nullable = any(spec.nullable for spec in specs)
        self._lenient = _decoder(layout, nullable=True) if nullable else None
        self._numeric_count = len(layout.numeric)
        # A record's numeric values, in the order of the layout's numeric features.
        self._numeric_part = tuple_getter(layout.numeric_positions) if layout.numeric else None
        self._astuple = msgspec.structs.astuple
        self._getters = [(spec.name, attrgetter(f"f{k}")) for k, spec in enumerate(specs)]
        self._categorical_getters = [
            (name, get)
            for (name, get), spec in zip(self._getters, specs, strict=True)
            if spec.kind != "numeric"
        ]

    def batch(self, raw: str | bytes, max_rows: int) -> FeatureBatch | None:
        """The body's batch, checked as ``parse_predict_body`` checks it (a value it refuses raises the
        same error); None for a body the decoder does not take."""
        try:
            records = self._strict(raw).records
        except _REFUSED:
            records = None
        if records is not None:
            check_rows(len(records), max_rows)
            categorical = {name: list(map(get, records)) for name, get in self._categorical_getters}
            return from_typed(self.layout, len(records), self._numeric_matrix(records), categorical)
        if self._lenient is None:
            return None
        try:
            records = self._lenient(raw).records
        except _REFUSED:
            return None
        # Missing values: the general reading of the columns handles them.
        check_rows(len(records), max_rows)
        columns = {name: list(map(get, records)) for name, get in self._getters}
        return from_columns(self.layout, columns, len(records), row_locator)

    def _numeric_matrix(self, records: list[Any]) -> npt.NDArray[np.float64]:
        """The numeric values, all floats, as an ``[N, F]`` matrix in one C-level pass over the
        records (``fromiter`` with the count fills a buffer allocated once)."""
        count, part = self._numeric_count, self._numeric_part
        if part is None:
            return np.empty((0, 0), dtype=np.float64)
        values = chain.from_iterable(map(part, map(self._astuple, records)))
        return np.fromiter(values, dtype=np.float64, count=len(records) * count).reshape(-1, count)


def _decoder(layout: FeatureLayout, nullable: bool) -> Callable[[str | bytes], Any]:
    """A decoder of ``{"records": [...]}``: each record one object with a field per feature (numbers
    as floats, categories as strings; ``null`` too for a nullable feature if ``nullable``), then the
    dataset's excluded columns, optional, skipped unread. Attribute names are positional (a feature's
    name need not be an identifier); ``rename`` maps them to the names the JSON uses."""
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    for k, spec in enumerate(layout.features):
        kind: Any = float if spec.kind == "numeric" else str
        fields.append((f"f{k}", kind | None if nullable and spec.nullable else kind))
        rename[f"f{k}"] = spec.name
    for k, name in enumerate(sorted(layout.ignored)):
        fields.append((f"x{k}", msgspec.Raw, msgspec.UNSET))  # Raw: any value, kept as its bytes
        rename[f"x{k}"] = name
    row = msgspec.defstruct("Row", fields, forbid_unknown_fields=True, gc=False, rename=rename)
    body = msgspec.defstruct("Body", [("records", list[row])], forbid_unknown_fields=True)  # type: ignore[valid-type]
    decode: Callable[[str | bytes], Any] = msgspec.json.Decoder(body).decode
    return decode
