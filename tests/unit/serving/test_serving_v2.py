"""The Open Inference Protocol mapping: tensors in, tensors out, the protocol's errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlops.serving import v2
from mlops.serving.errors import InvalidInput, PayloadTooLarge
from mlops.serving.features import parse_predict_body
from mlops.serving.model_store import LoadedModel
from tests.integration.inference_fixtures import Trained
from tests.unit.serving.serving_testdata import MemorySource, first_rows, loaded


@pytest.fixture
def churn_model(source: MemorySource, churn: Trained) -> LoadedModel:
    return loaded(source, "churn", churn)


@pytest.fixture
def diabetes_model(source: MemorySource, diabetes: Trained) -> LoadedModel:
    return loaded(source, "diabetes", diabetes)


def tensors(model: LoadedModel, rows: list[dict[str, Any]], flat: bool = False) -> list[dict[str, Any]]:
    out = []
    for spec in model.signature.features:
        values = [row[spec.name] for row in rows]
        numeric = spec.kind == "numeric"
        out.append(
            {
                "name": spec.name,
                "shape": [len(rows)] if flat else [len(rows), 1],
                "datatype": "FP64" if numeric else "BYTES",
                "data": values if flat else [[v] for v in values],
            }
        )
    return out


def infer(model: LoadedModel, body: dict[str, Any], max_rows: int = 100) -> dict[str, Any]:
    request = v2.parse_infer_request(model, body, max_rows)
    prediction = model.predict(request.batch)
    return v2.infer_response(model, request, prediction, prediction.prediction_list())


def test_metadata_describes_inputs_and_outputs(churn_model: LoadedModel, diabetes_model: LoadedModel) -> None:
    metadata = v2.model_metadata(churn_model)
    assert metadata["platform"] == "onnxruntime"
    assert metadata["versions"] == ["1"]
    assert metadata["inputs"][0] == {"name": "tenure", "datatype": "FP32", "shape": [-1, 1]}
    assert {"name": "contract", "datatype": "BYTES", "shape": [-1, 1]} in metadata["inputs"]
    assert metadata["outputs"] == [
        {"name": "predictions", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
    ]
    assert v2.model_metadata(diabetes_model)["outputs"] == [
        {"name": "predictions", "datatype": "FP32", "shape": [-1]}
    ]


@pytest.mark.parametrize("flat", [False, True])
def test_feature_tensors_predict_like_the_predict_route(
    churn_model: LoadedModel, churn: Trained, flat: bool
) -> None:
    rows = first_rows(churn, 4)
    expected = churn_model.predict(parse_predict_body(churn_model.layout, {"records": rows}, 100))
    response = infer(churn_model, {"id": "r-7", "inputs": tensors(churn_model, rows, flat)})
    assert response["model_name"] == "churn"
    assert response["model_version"] == "1"
    assert response["id"] == "r-7"
    predictions, probabilities = response["outputs"]
    assert predictions == {
        "name": "predictions",
        "datatype": "BYTES",
        "shape": [4],
        "data": expected.prediction_list(),
    }
    assert probabilities["shape"] == [4, 2]
    assert probabilities["datatype"] == "FP32"
    assert expected.probabilities is not None
    np.testing.assert_allclose(np.array(probabilities["data"]).reshape(4, 2), expected.probabilities)


def test_requested_outputs_are_honoured(churn_model: LoadedModel, churn: Trained) -> None:
    body = {"inputs": tensors(churn_model, first_rows(churn, 2)), "outputs": [{"name": "probabilities"}]}
    assert [o["name"] for o in infer(churn_model, body)["outputs"]] == ["probabilities"]
    body["outputs"] = [{"name": "label"}]
    with pytest.raises(
        InvalidInput, match="Unknown output 'label'; the model outputs 'predictions', 'probabilities'"
    ):
        infer(churn_model, body)


def test_an_all_numeric_model_takes_one_input_matrix(diabetes_model: LoadedModel, diabetes: Trained) -> None:
    rows = first_rows(diabetes, 3)
    names = [f.name for f in diabetes_model.signature.features]
    matrix = [[row[n] for n in names] for row in rows]
    by_matrix = infer(
        diabetes_model,
        {"inputs": [{"name": "input", "shape": [3, len(names)], "datatype": "FP32", "data": matrix}]},
    )
    by_features = infer(diabetes_model, {"inputs": tensors(diabetes_model, rows)})
    assert by_matrix["outputs"] == by_features["outputs"]
    assert by_matrix["outputs"][0]["shape"] == [3]


def test_unseen_categories_are_reported_in_parameters(churn_model: LoadedModel, churn: Trained) -> None:
    rows = first_rows(churn, 1)
    rows[0]["contract"] = "ten-year"
    assert infer(churn_model, {"inputs": tensors(churn_model, rows)})["parameters"] == {
        "unseen_categories": {"contract": ["ten-year"]}
    }


def _churn_inputs(churn_model: LoadedModel, churn: Trained) -> list[dict[str, Any]]:
    return tensors(churn_model, first_rows(churn, 2))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda b: b.update(inputs=[]), "'inputs' must be a non-empty list of tensors"),
        (lambda b: b.update(extra=1), "Unknown field(s) 'extra'"),
        (lambda b: b.update(id=5), "'id' must be a string"),
        (lambda b: b.update(outputs="predictions"), "'outputs' must be a list"),
        (lambda b: b["inputs"].pop(0), "Missing input(s) 'tenure'"),
        (lambda b: b["inputs"].append({**b["inputs"][0], "name": "zip"}), "Unknown input(s) 'zip'"),
        (lambda b: b["inputs"].append(b["inputs"][0]), "Input(s) 'tenure' are given more than once"),
        (lambda b: b["inputs"][0].update(datatype="FP128"), "Input 'tenure' has datatype the string 'FP128'"),
        (lambda b: b["inputs"][0].update(datatype="BYTES"), "Input 'tenure' is a numeric feature; send FP32"),
        (
            lambda b: b["inputs"][0].update(shape=[2, 2]),
            "Input 'tenure' has 2 values; its shape [2, 2] holds 4",
        ),
        (
            lambda b: b["inputs"][0].update(shape=[1, 2]),
            "Input 'tenure' must have shape [N, 1] or [N], got [1, 2]",
        ),
        (lambda b: b["inputs"][0].update(shape=[-2]), "Input 'tenure' needs a 'shape'"),
        (
            lambda b: b["inputs"][0].update(data=[[1], ["x"]]),
            "Input 'tenure' is FP64 but element 1 is the string 'x'",
        ),
        (lambda b: b["inputs"][0].update(data="AAAA"), "binary tensor data is not supported"),
        (lambda b: b["inputs"][0].update(extra=1), "inputs[0] has unknown field(s) 'extra'"),
        (
            lambda b: b["inputs"][1].update(shape=[1, 1], data=[[3.0]]),
            "Input 'monthly_charges' has 1 rows; the other inputs have 2",
        ),
        (lambda b: b["inputs"].insert(0, "tensor"), "inputs[0] must be a tensor object"),
        (
            lambda b: b.update(
                inputs=[{"name": "input", "shape": [1, 6], "datatype": "FP32", "data": [0] * 6}]
            ),
            "A single 'input' tensor fits all-numeric models only",
        ),
    ],
)
def test_malformed_requests_are_refused(
    churn_model: LoadedModel, churn: Trained, change: Any, fragment: str
) -> None:
    body: dict[str, Any] = {"inputs": _churn_inputs(churn_model, churn)}
    change(body)
    with pytest.raises(InvalidInput) as caught:
        infer(churn_model, body)
    assert fragment in str(caught.value)


def test_empty_and_oversized_batches(
    churn_model: LoadedModel, churn: Trained, diabetes_model: LoadedModel
) -> None:
    body: dict[str, Any] = {"inputs": _churn_inputs(churn_model, churn)}
    with pytest.raises(PayloadTooLarge, match="The batch has 2 rows; the limit is 1 rows"):
        infer(churn_model, body, max_rows=1)
    empty = [{**t, "shape": [0, 1], "data": []} for t in body["inputs"]]
    with pytest.raises(InvalidInput, match="The batch is empty"):
        infer(churn_model, {"inputs": empty})
    width = len(diabetes_model.signature.features)
    with pytest.raises(InvalidInput, match=r"Input 'input' must have shape \[N, 10\], got \[1, 9\]"):
        infer(
            diabetes_model,
            {"inputs": [{"name": "input", "shape": [1, width - 1], "datatype": "FP32", "data": [0] * 9}]},
        )
