"""The inference function's import budget: what its cold start imports, held so it cannot creep back.

A fresh interpreter imports the handler with the environment the stack description gives it and
reports every module loaded. The budget is a list (what must not load before the first request needs
it) and a count (every other module, with a margin for patch releases of the dependencies);
bench/bench_inference.py measures what the budget is worth in time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from mlops.definition.description import API_FUNCTION, function, project_root
from mlops.local.resources import function_env

PROBE = """
import importlib.util, json, sys
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("handler_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
at_init = sorted(set(sys.modules) - before)
event = json.loads(open(sys.argv[2]).read())
# Requests that need no model (AWS is not reachable here): health, and an unknown route's JSON error.
health = module.app.resolve({**event, "path": "/v2/health/live", "resource": "/v2/health/live"}, None)
unknown = module.app.resolve({**event, "path": "/no/such/route", "resource": "/{proxy+}"}, None)
after_requests = sorted(set(sys.modules) - before)
response = module.app.resolve(event, None)
print(json.dumps({"init": at_init, "after_requests": after_requests,
                  "statuses": [health["statusCode"], unknown["statusCode"]],
                  "after_openapi": sorted(set(sys.modules) - before),
                  "openapi_status": response["statusCode"]}))
"""
# Never imported by the function's init: pydantic at all (the settings, the signature and the records
# serving reads are plain dataclasses; the registry's writers validate with pydantic), boto3's resource
# layer and s3transfer (the clients are botocore's), botocore's client machinery (built with the first
# client), the OpenAPI machinery and the document models (built on the first GET /openapi.json), the
# large-body decoder (msgspec, on the first large predict body), and the ML stack the function does not
# ship.
FORBIDDEN_AT_INIT = (
    "msgspec",
    "mlops.serving.records_decoder",
    "pydantic",
    "pydantic_core",
    "mlops.entities",
    "mlops.signature",
    "mlops.config",
    "mlops.registry.models",
    # The function's own settings class alone, not the other functions' dozen.
    "mlops.settings",
    "boto3",
    "s3transfer",
    "botocore.session",
    "botocore.client",
    "aws_lambda_powertools.event_handler.openapi.params",
    "aws_lambda_powertools.event_handler.openapi.models",
    "aws_lambda_powertools.event_handler.openapi.compat",
    "aws_lambda_powertools.event_handler.middlewares.openapi_validation",
    "mlops.serving.schema",
    # The model records' store alone, not the registry's other stores (nor the batch records they
    # import), and not the stack description (the settings read one constant of it when used).
    "mlops.registry.datasets",
    "mlops.registry.runs",
    "mlops.registry.drift",
    "mlops.registry.batch_jobs",
    "mlops.batch.entities",
    "mlops.definition.description",
    "mlops.serving.openapi",
    "pydantic_settings",
    "dotenv",
    "aws_xray_sdk",
    "sklearn",
    "pandas",
    "scipy",
)
# Modules the handler's import loads beyond the interpreter's own start (391 when this was written, 480
# with pydantic).
MODULE_BUDGET = 400


def probe() -> dict[str, Any]:
    spec = function(API_FUNCTION)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
        **function_env(spec),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    handler = project_root() / spec.code_dir / "handler.py"
    event = project_root() / "events" / "inference" / "openapi.json"
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(handler), str(event)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_inference_function_imports_within_its_budget() -> None:
    result = probe()
    loaded = set(result["init"])
    assert not [name for name in FORBIDDEN_AT_INIT if name in loaded]
    assert len(loaded) <= MODULE_BUDGET, f"{len(loaded)} modules at init, budget {MODULE_BUDGET}"
    # Nor do requests that are not for the OpenAPI document.
    assert result["statuses"] == [200, 404]
    assert not [
        name for name in result["after_requests"] if name.split(".")[0] in ("pydantic", "pydantic_core")
    ]
    # The document is still there: built on its first request, from the machinery deferred above.
    assert result["openapi_status"] == 200
    assert {"mlops.serving.openapi", "aws_lambda_powertools.event_handler.openapi.params"} <= set(
        result["after_openapi"]
    )
