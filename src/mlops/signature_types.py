"""The signature's conventions and its plain types, with no dependencies.

``mlops.signature`` holds the pydantic models the conversion step validates and writes; serving reads
the same documents into the frozen dataclasses here (``mlops.serving.records``), so the inference
function's import graph never loads pydantic. Serving code takes either through the two Protocols:
what it reads of a signature, whichever class holds it (batch scoring and shadow checks pass the
pydantic records they already have). A test holds the dataclasses' fields to the pydantic models'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

FeatureKind = Literal["numeric", "categorical"]
ClassLabel = str | int | float | bool
Task = Literal["classification", "regression"]

MISSING_CATEGORY = ""
# A model version's artifacts: the graph every request can take, and a tree ensemble's bulk graph
# (one kernel per tree) that requests of ``BULK_MIN_ROWS`` rows or more take (``mlops.ml.tree_batches``).
ONNX_ARTIFACT = "onnx"
BULK_ARTIFACT = "onnx_bulk"
BULK_MIN_ROWS = 512
# Predict bodies of this many characters or more (~170 records of 20 features) are decoded straight into
# columns (``mlops.serving.records_decoder``); smaller ones do not pay for importing the decoder.
BULK_MIN_BODY_BYTES = 64 * 1024
# ... for models of at most this many features: msgspec finds a key at once when keys come in the
# order of the model's features, and searches the fields for one that does not, so keys in random
# order decode slower than into dicts past ~400 features (docs/performance.md).
BULK_MAX_FEATURES = 400


class FeatureSpecLike(Protocol):
    """What serving reads of one feature (``mlops.signature.FeatureSpec`` or ``PlainFeatureSpec``)."""

    @property
    def name(self) -> str: ...
    @property
    def input_name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def nullable(self) -> bool: ...
    @property
    def categories(self) -> Sequence[str] | None: ...


class SignatureLike(Protocol):
    """What serving reads of a signature (``mlops.signature.Signature`` or ``PlainSignature``)."""

    @property
    def task(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def features(self) -> Sequence[FeatureSpecLike]: ...
    @property
    def classes(self) -> Sequence[ClassLabel] | None: ...
    @property
    def label_output(self) -> str: ...
    @property
    def probabilities_output(self) -> str | None: ...
    @property
    def value_output(self) -> str | None: ...
    @property
    def excluded_columns(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class PlainFeatureSpec:
    name: str
    input_name: str
    kind: FeatureKind
    dtype: str
    nullable: bool = True
    categories: list[str] | None = None


@dataclass(frozen=True)
class PlainSignature:
    task: Task
    target: str
    features: list[PlainFeatureSpec]
    classes: list[ClassLabel] | None = None
    label_output: str = "label"
    probabilities_output: str | None = "probabilities"
    value_output: str | None = None
    excluded_columns: list[str] = field(default_factory=list)
    schema_version: Literal[1] = 1
