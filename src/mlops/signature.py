"""The model signature: what a model takes and gives, stored beside ``model.onnx`` as ``signature.json``.

Written by the conversion step, read by the inference function (validation of requests, building the
ONNX feed) and by drift evaluation. Conventions of every ``model.onnx`` this project produces:

- one ONNX input per feature column, shape ``[N, 1]``; numeric features are ``tensor(float)``
  (float32), categorical features ``tensor(string)``;
- a missing numeric value is fed as NaN (the model imputes it when ``nullable``); a missing
  categorical value is fed as the empty string ``""``, which the model treats like any category it
  never saw (one-hot encoding that ignores unknown categories);
- classifiers output ``label`` ``[N]`` and ``probabilities`` ``[N, len(classes)]`` (no ZipMap);
  regressors output ``variable`` ``[N, 1]``.

The inference function reads signatures without pydantic, into ``mlops.signature_types``' plain types
(the conventions' constants live there, with no dependencies).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops.signature_types import MISSING_CATEGORY, ClassLabel, FeatureKind, Task

__all__ = ["MISSING_CATEGORY", "ClassLabel", "FeatureKind", "FeatureSpec", "Signature"]


class FeatureSpec(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str = Field(description="The CSV column name; requests use it.")
    input_name: str = Field(description="The ONNX graph input fed with this feature.")
    kind: FeatureKind
    dtype: str = Field(description="Logical type from the dataset schema: integer, float, boolean, string.")
    nullable: bool = Field(
        default=True, description="Whether null is accepted (numeric: imputed; categorical: unknown)."
    )
    categories: list[str] | None = Field(
        default=None, description="Categories seen in training (categorical features)."
    )


class Signature(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    schema_version: Literal[1] = 1
    task: Task
    target: str
    features: list[FeatureSpec]
    classes: list[ClassLabel] | None = None
    label_output: str = "label"
    probabilities_output: str | None = "probabilities"
    value_output: str | None = None
    excluded_columns: list[str] = Field(
        default_factory=list, description="Columns of the dataset the model does not use (identifiers)."
    )

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def all_numeric(self) -> bool:
        return all(f.kind == "numeric" for f in self.features)
