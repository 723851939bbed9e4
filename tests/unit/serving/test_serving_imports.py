"""The inference function's import graph stays free of scikit-learn, pandas and scipy (and of the X-Ray
SDK, the largest single item of its cold start otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mlops.stack.description import project_root

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("inference_handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
heavy = sorted(n for n in ("sklearn", "pandas", "scipy", "skl2onnx", "aws_xray_sdk") if n in sys.modules)
print(json.dumps({"heavy": heavy, "onnxruntime": "onnxruntime" in sys.modules, "handler": callable(module.handler)}))
"""


def test_importing_the_handler_loads_onnxruntime_but_no_scientific_stack() -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "METADATA_TABLE": "mlops-metadata",
        "ARTIFACT_BUCKET": "mlops-artifacts",
        "CAPTURE_STREAM": "mlops-capture",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    handler = project_root() / "functions" / "inference" / "handler.py"
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(handler)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"heavy": [], "onnxruntime": True, "handler": True}
