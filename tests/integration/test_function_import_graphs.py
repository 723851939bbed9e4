"""Each zip-packaged function imports only what its layers ship (the heavy ML stack lives in the image).

A fresh interpreter imports the handler with the environment the stack description gives it and
reports which of the heavy packages got loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlops.definition.description import function, project_root
from mlops.local.resources import function_env

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({"loaded": sorted(n for n in json.loads(sys.argv[2]) if n in sys.modules),
                  "handler": callable(module.handler)}))
"""
HEAVY = ("sklearn", "pandas", "scipy", "pyarrow", "skl2onnx", "onnxruntime", "numpy", "aws_xray_sdk")
# function -> the heavy packages its layers provide and it is expected to load
EXPECTED = {
    "inference": ["numpy", "onnxruntime"],  # no X-Ray SDK either: the largest item of its cold start
    "drift": ["numpy"],
    "trigger": [],
    "failure": [],
    "batchtrigger": [],
    "rollout": ["numpy"],  # onnxruntime only once a shadow's candidate is scored
}


def loaded_heavy_packages(name: str) -> list[str]:
    """The heavy packages a cold start of the function's handler imports."""
    spec = function(name)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
        **function_env(spec),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    handler = project_root() / spec.code_dir / "handler.py"
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(handler), json.dumps(HEAVY)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["handler"]
    return list(result["loaded"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_handler_imports_only_what_its_layers_ship(name: str) -> None:
    assert function(name).packaging == "zip"
    # trigger and failure build the Powertools Tracer, which imports the X-Ray SDK (in the core layer).
    loaded = [n for n in loaded_heavy_packages(name) if n != "aws_xray_sdk" or name == "inference"]
    assert loaded == EXPECTED[name]


def test_batch_scoring_runs_on_onnxruntime_and_pyarrow_alone() -> None:
    # It runs in the ML image, which has pandas and scikit-learn too: a cold start must not load them.
    loaded = loaded_heavy_packages("batch")
    assert [n for n in loaded if n != "aws_xray_sdk"] == ["numpy", "onnxruntime", "pyarrow"]
