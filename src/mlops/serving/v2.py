"""The Open Inference Protocol (KServe v2), JSON form, mapped onto the project's models.

- inputs: one tensor per feature column, named after it, shape ``[N, 1]`` (or ``[N]``); numeric
  features take FP16/FP32/FP64, INT*/UINT* or BOOL data, categorical ones BYTES (strings; numbers are
  turned into categories as in the ``/models`` routes). An all-numeric model also takes a single
  tensor named ``input`` of shape ``[N, F]``, columns in the signature's feature order. ``data`` may be
  flat (row-major) or nested.
- outputs: ``predictions`` (shape ``[N]``: class labels, INT64 or BYTES, or regression values, FP32)
  and, for classifiers, ``probabilities`` (FP32, ``[N, C]``, columns in the order of ``classes``).
  A request's ``outputs`` list selects among them; every output is returned as JSON ``data`` (binary
  tensor data is not supported, so ``binary_data`` parameters are answered with JSON).
- the request ``id`` is echoed; unseen categories are reported in the response ``parameters``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlops import __version__
from mlops.serving.errors import InvalidInput, PayloadTooLarge
from mlops.serving.features import FeatureBatch, FeatureLayout, describe, from_columns, from_matrix, quoted
from mlops.serving.model_store import ONNX_TO_V2, LoadedModel, Prediction

PLATFORM = "onnxruntime"
MATRIX_INPUT = "input"
PREDICTIONS = "predictions"
PROBABILITIES = "probabilities"
NUMERIC_DATATYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}
)
DATATYPES = NUMERIC_DATATYPES | {"BYTES"}
# The values each integer datatype holds; a tensor whose data contradicts its datatype is refused.
_INTEGER_RANGES = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
_FLOAT_DATATYPES = frozenset({"FP16", "FP32", "FP64"})
_REQUEST_FIELDS = frozenset({"id", "parameters", "inputs", "outputs"})
_TENSOR_FIELDS = frozenset({"name", "shape", "datatype", "parameters", "data"})


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    batch: FeatureBatch
    outputs: list[str]


def server_metadata() -> dict[str, Any]:
    return {"name": "mlops-inference", "version": __version__, "extensions": []}


def output_names(model: LoadedModel) -> list[str]:
    if model.is_classifier and model.signature.probabilities_output:
        return [PREDICTIONS, PROBABILITIES]
    return [PREDICTIONS]


def _prediction_datatype(model: LoadedModel) -> str:
    onnx_name = (
        model.signature.label_output if model.is_classifier else (model.signature.value_output or "variable")
    )
    return ONNX_TO_V2.get(model.output_types[onnx_name], "BYTES")


def model_metadata(model: LoadedModel) -> dict[str, Any]:
    inputs = [
        {"name": f.name, "datatype": "FP32" if f.kind == "numeric" else "BYTES", "shape": [-1, 1]}
        for f in model.signature.features
    ]
    outputs: list[dict[str, Any]] = [
        {"name": PREDICTIONS, "datatype": _prediction_datatype(model), "shape": [-1]}
    ]
    if PROBABILITIES in output_names(model):
        outputs.append({"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, len(model.classes)]})
    return {
        "name": model.name,
        "versions": [str(model.version)],
        "platform": PLATFORM,
        "inputs": inputs,
        "outputs": outputs,
    }


def _flatten(data: list[Any]) -> list[Any]:
    if not data or not any(type(item) is list for item in data):
        return data
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


@dataclass(frozen=True)
class _Tensor:
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


def _tensor(index: int, raw: Any) -> _Tensor:
    if not isinstance(raw, dict):
        raise InvalidInput(f"inputs[{index}] must be a tensor object, got {describe(raw)}.")
    unknown = set(raw) - _TENSOR_FIELDS
    if unknown:
        raise InvalidInput(f"inputs[{index}] has unknown field(s) {quoted(unknown)}.")
    name, shape, datatype, data = raw.get("name"), raw.get("shape"), raw.get("datatype"), raw.get("data")
    if not isinstance(name, str):
        raise InvalidInput(f"inputs[{index}] needs a 'name' string.")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidInput(f"Input '{name}' needs a 'shape': a list of non-negative integers.")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise InvalidInput(
            f"Input '{name}' has datatype {describe(datatype)}; use one of FP32, FP64, INT64, BOOL, BYTES."
        )
    if raw.get("parameters") is not None and not isinstance(raw["parameters"], dict):
        raise InvalidInput(f"Input '{name}' has 'parameters' that is not an object.")
    if not isinstance(data, list):
        raise InvalidInput(
            f"Input '{name}' needs 'data': a list of values (binary tensor data is not supported)."
        )
    flat = _flatten(data)
    expected = math.prod(shape)
    if len(flat) != expected:
        raise InvalidInput(f"Input '{name}' has {len(flat)} values; its shape {shape} holds {expected}.")
    _check_datatype(name, datatype, flat)
    return _Tensor(name, shape, str(datatype), flat)


def _check_datatype(name: str, datatype: str, values: list[Any]) -> None:
    """Every value is one the datatype holds (null stays a missing value for the features to judge)."""
    if datatype == "BYTES":
        return
    bad = next((i for i, v in enumerate(values) if v is not None and not _holds(datatype, v)), None)
    if bad is None:
        return
    if datatype == "BOOL":
        wanted = "true, false, 0 or 1"
    elif datatype in _FLOAT_DATATYPES:
        wanted = "numbers"
    else:
        wanted = "integers from {} to {}".format(*_INTEGER_RANGES[datatype])
    raise InvalidInput(
        f"Input '{name}' is {datatype} but element {bad} is {describe(values[bad])}; {datatype} holds {wanted}."
    )


def _holds(datatype: str, value: Any) -> bool:
    """JSON true/false count as 1 and 0 in every numeric datatype, as on the /models routes."""
    kind = type(value)
    if kind is bool:
        return True
    if datatype == "BOOL":
        return kind is int and value in (0, 1)
    if datatype in _FLOAT_DATATYPES:
        return kind is int or kind is float
    low, high = _INTEGER_RANGES[datatype]
    return kind is int and low <= value <= high


def _rows(count: int, max_rows: int) -> int:
    if count == 0:
        raise InvalidInput("The batch is empty: send at least one row.")
    if count > max_rows:
        raise PayloadTooLarge(f"The batch has {count} rows; the limit is {max_rows} rows per request.")
    return count


def parse_infer_request(model: LoadedModel, body: Any, max_rows: int) -> InferRequest:
    layout = model.layout
    if not isinstance(body, dict):
        raise InvalidInput(f"The body must be a JSON object with 'inputs', got {describe(body)}.")
    unknown = set(body) - _REQUEST_FIELDS
    if unknown:
        raise InvalidInput(
            f"Unknown field(s) {quoted(unknown)}; an inference request has 'id', 'parameters', 'inputs' and 'outputs'."
        )
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string.")
    if body.get("parameters") is not None and not isinstance(body["parameters"], dict):
        raise InvalidInput("'parameters' must be an object.")
    outputs = _requested_outputs(model, body.get("outputs"))
    raw_inputs = body.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("'inputs' must be a non-empty list of tensors.")
    tensors = [_tensor(i, raw) for i, raw in enumerate(raw_inputs)]
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise InvalidInput(
            f"Input(s) {quoted({n for n in names if names.count(n) > 1})} are given more than once."
        )
    if names == [MATRIX_INPUT] and MATRIX_INPUT not in layout.expected:
        batch = _from_matrix(layout, tensors[0], max_rows)
    else:
        batch = _from_feature_tensors(layout, tensors, max_rows)
    return InferRequest(id=request_id, batch=batch, outputs=outputs)


def _requested_outputs(model: LoadedModel, raw: Any) -> list[str]:
    available = output_names(model)
    if raw is None:
        return available
    if not isinstance(raw, list):
        raise InvalidInput("'outputs' must be a list of {\"name\": ...} objects.")
    wanted: list[str] = []
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise InvalidInput(f"outputs[{i}] needs a 'name' string.")
        if name not in available:
            raise InvalidInput(f"Unknown output '{name}'; the model outputs {quoted(available)}.")
        if name not in wanted:
            wanted.append(name)
    return wanted or available


def _from_matrix(layout: FeatureLayout, tensor: _Tensor, max_rows: int) -> FeatureBatch:
    width = len(layout.names)
    if not layout.all_numeric:
        raise InvalidInput(
            f"A single '{MATRIX_INPUT}' tensor fits all-numeric models only; this model has categorical "
            f"features, so send one input per feature: {quoted(layout.names)}."
        )
    if len(tensor.shape) != 2 or tensor.shape[1] != width:
        raise InvalidInput(f"Input '{MATRIX_INPUT}' must have shape [N, {width}], got {tensor.shape}.")
    if tensor.datatype not in NUMERIC_DATATYPES:
        raise InvalidInput(
            f"Input '{MATRIX_INPUT}' must hold numbers (FP32, FP64, INT64), not {tensor.datatype}."
        )
    rows = _rows(tensor.shape[0], max_rows)
    return from_matrix(
        layout, tensor.data, rows, lambda name, i: f"input '{MATRIX_INPUT}' row {i} (feature '{name}')"
    )


def _from_feature_tensors(layout: FeatureLayout, tensors: list[_Tensor], max_rows: int) -> FeatureBatch:
    given = {t.name for t in tensors}
    missing = layout.expected - given
    if missing:
        hint = (
            f" (or one '{MATRIX_INPUT}' tensor of shape [N, {len(layout.names)}])"
            if layout.all_numeric
            else ""
        )
        raise InvalidInput(f"Missing input(s) {quoted(missing)}{hint}.")
    unknown = given - layout.expected
    if unknown:
        raise InvalidInput(
            f"Unknown input(s) {quoted(unknown)}; the model's inputs are {quoted(layout.names)}."
        )
    kinds = {f.name: f.kind for f in layout.features}
    rows: int | None = None
    columns: dict[str, list[Any]] = {}
    for tensor in tensors:
        if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise InvalidInput(f"Input '{tensor.name}' must have shape [N, 1] or [N], got {tensor.shape}.")
        if rows is None:
            rows = tensor.shape[0]
        elif tensor.shape[0] != rows:
            raise InvalidInput(
                f"Input '{tensor.name}' has {tensor.shape[0]} rows; the other inputs have {rows}."
            )
        if kinds[tensor.name] == "numeric" and tensor.datatype == "BYTES":
            raise InvalidInput(
                f"Input '{tensor.name}' is a numeric feature; send FP32, FP64 or INT64 data, not BYTES."
            )
        columns[tensor.name] = tensor.data
    assert rows is not None
    return from_columns(layout, columns, _rows(rows, max_rows), lambda name, i: f"input '{name}' element {i}")


def infer_response(
    model: LoadedModel, request: InferRequest, prediction: Prediction, predictions: list[Any]
) -> dict[str, Any]:
    rows = request.batch.rows
    outputs: list[dict[str, Any]] = []
    for name in request.outputs:
        if name == PREDICTIONS:
            outputs.append(
                {
                    "name": PREDICTIONS,
                    "datatype": _prediction_datatype(model),
                    "shape": [rows],
                    "data": predictions,
                }
            )
        elif prediction.probabilities is not None:
            probabilities = prediction.probabilities
            outputs.append(
                {
                    "name": PROBABILITIES,
                    "datatype": "FP32",
                    "shape": list(probabilities.shape),
                    "data": probabilities.reshape(-1).tolist(),
                }
            )
    response: dict[str, Any] = {"model_name": model.name, "model_version": str(model.version)}
    if request.id is not None:
        response["id"] = request.id
    if request.batch.unseen:
        response["parameters"] = {"unseen_categories": request.batch.unseen}
    response["outputs"] = outputs
    return response
