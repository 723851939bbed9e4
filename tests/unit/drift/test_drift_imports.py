"""The drift function's import graph stays numpy-only: no scikit-learn, pandas or scipy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mlops.stack.description import project_root

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("drift_handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
heavy = sorted(n for n in ("sklearn", "pandas", "scipy", "pyarrow", "onnxruntime") if n in sys.modules)
print(json.dumps({"heavy": heavy, "numpy": "numpy" in sys.modules, "handler": callable(module.handler)}))
"""


def test_importing_the_handler_loads_numpy_but_no_scientific_stack() -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "METADATA_TABLE": "mlops-metadata",
        "ARTIFACT_BUCKET": "mlops-artifacts",
        "CAPTURE_BUCKET": "mlops-capture",
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:mlops-pipeline",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    handler = project_root() / "functions" / "drift" / "handler.py"
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(handler)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"heavy": [], "numpy": True, "handler": True}
