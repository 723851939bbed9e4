"""The API's documents as pydantic models: they give ``GET /openapi.json`` its schemas.

The predict routes parse bodies without building these models (``mlops.serving.service`` explains
why); the models describe exactly what those parsers accept and what the routes answer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataframeSplit(_Doc):
    columns: list[str] = Field(description="Column names: every feature of the model, in any order.")
    data: list[list[Any]] = Field(min_length=1, description="Rows, one value per column.")
    index: list[Any] | None = Field(default=None, description="Row labels (ignored).")


class PredictRequest(_Doc):
    """Exactly one of the three fields. Rows carry the model's own features: ``GET /models/{name}``
    lists them (the examples show the shape only)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"records": [{"tenure": 12, "monthly_charges": 70.5, "contract": "month-to-month"}]},
                {"instances": [[12, 70.5, "month-to-month"]]},
                {
                    "dataframe_split": {
                        "columns": ["tenure", "monthly_charges", "contract"],
                        "data": [[12, 70.5, "month-to-month"]],
                    }
                },
            ]
        },
    )

    records: list[dict[str, Any]] | None = Field(
        default=None, min_length=1, description="One object per row, with every feature of the model."
    )
    instances: list[list[Any]] | None = Field(
        default=None, min_length=1, description="One list per row, values in the signature's feature order."
    )
    dataframe_split: DataframeSplit | None = Field(default=None, description="MLflow's scoring format.")


class PredictResponse(_Doc):
    model: str
    version: int
    predictions: list[Any] = Field(description="Class labels (classifiers) or values (regressors).")
    probabilities: list[list[float]] | None = Field(
        default=None, description="Classifiers only: one row per prediction, columns in the order of classes."
    )
    unseen_categories: dict[str, list[str]] | None = Field(
        default=None, description="Present when a categorical feature held a category the model never saw."
    )


class FeatureDocument(_Doc):
    name: str
    kind: Literal["numeric", "categorical"]
    dtype: str
    nullable: bool
    categories: list[str] | None


class ModelDocument(_Doc):
    model: str
    version: int
    task: Literal["classification", "regression"]
    target: str
    features: list[FeatureDocument]
    classes: list[Any] | None
    metrics: dict[str, float]
    trained_at: str
    created_at: str
    deployed_at: str | None
    dataset_version: str
    run_id: str
    onnx_sha256: str


class ErrorDetail(_Doc):
    code: str = Field(
        description="invalid_input, model_not_found, not_found, method_not_allowed, payload_too_large, "
        "no_production_model, model_unavailable, service_unavailable, internal_error; from the gateway "
        "itself also invalid_api_key, throttled, timeout"
    )
    message: str = Field(description="One sentence naming the problem.")


class ErrorResponse(_Doc):
    error: ErrorDetail


class V2Error(_Doc):
    error: str


V2Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]


class V2Tensor(_Doc):
    name: str = Field(min_length=1)
    shape: list[Annotated[int, Field(ge=0)]]
    datatype: V2Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any] = Field(description="Row-major values, flat or nested.")


class V2RequestedOutput(_Doc):
    name: str
    parameters: dict[str, Any] | None = None


class V2InferRequest(_Doc):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[V2Tensor] = Field(
        min_length=1, description="One tensor per feature (see the model's metadata)."
    )
    outputs: list[V2RequestedOutput] | None = None


class V2InferResponse(_Doc):
    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[V2Tensor]


class V2TensorMetadata(_Doc):
    name: str
    datatype: str
    shape: list[int]


class V2ModelMetadata(_Doc):
    name: str
    versions: list[str]
    platform: str
    inputs: list[V2TensorMetadata]
    outputs: list[V2TensorMetadata]


class V2ServerMetadata(_Doc):
    name: str
    version: str
    extensions: list[str]


class V2Live(_Doc):
    live: bool


class V2Ready(_Doc):
    ready: bool


class V2ModelReady(_Doc):
    name: str
    ready: bool
