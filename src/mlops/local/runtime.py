"""Runs the project's real Lambda handlers in-process, the way the Lambda service would.

Each function's ``functions/<name>/handler.py`` is imported once (its cold start: settings read,
clients built) and then invoked with real-shaped events and a context object. A function whose layers
bring extensions gets an execution environment (``mlops.local.extensions``): its extensions start and
register before the handler is imported, hear of each invocation, and are shut down with the runtime.
Errors come back as Lambda does report them: a JSON payload with errorMessage/errorType/stackTrace and
a function error.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mlops.definition.description import FUNCTIONS, FunctionSpec, extensions_of, project_root
from mlops.local.context import LocalContext
from mlops.local.extensions import ExecutionEnvironment
from mlops.observability import logger

Handler = Callable[[dict[str, Any], Any], Any]
ASYNC_RETRIES = 2  # Lambda retries a failed asynchronous invocation twice


@dataclass(frozen=True)
class InvocationResult:
    payload: Any
    error_type: str | None = None

    @property
    def failed(self) -> bool:
        return self.error_type is not None

    def body(self) -> str:
        return json.dumps(self.payload, default=str)


class FunctionRuntime:
    """Imports and invokes the stack's functions by their deployed names."""

    def __init__(
        self,
        deployed_names: dict[str, str],
        function_arn: Callable[[str], str],
        root: Path | None = None,
        specs: tuple[FunctionSpec, ...] = FUNCTIONS,
    ) -> None:
        self._specs = {s.name: s for s in specs}
        self._by_deployed = {deployed: name for name, deployed in deployed_names.items()}
        self._deployed = dict(deployed_names)
        self._arn = function_arn
        self._root = root or project_root()
        self._modules: dict[str, ModuleType] = {}
        self._environments: dict[str, ExecutionEnvironment] = {}
        self._lock = threading.Lock()
        self._async = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lambda-async")

    def logical_name(self, deployed_or_arn: str) -> str | None:
        name = deployed_or_arn.split(":function:")[-1].split(":")[0]
        return self._by_deployed.get(name)

    def handler(self, name: str) -> Handler:
        with self._lock:
            module = self._modules.get(name)
            if module is None:
                spec = self._specs[name]
                extensions = extensions_of(spec)
                if extensions and name not in self._environments:
                    environment = ExecutionEnvironment(self._deployed[name], self._arn(name))
                    self._environments[name] = environment
                    environment.start(extensions)
                path = self._root / spec.code_dir / "handler.py"
                loader_spec = importlib.util.spec_from_file_location(f"mlops_function_{name}", path)
                if loader_spec is None or loader_spec.loader is None:
                    raise FileNotFoundError(f"No handler at {path}.")
                module = importlib.util.module_from_spec(loader_spec)
                loader_spec.loader.exec_module(module)
                self._modules[name] = module
        attr = self._specs[name].handler.split(".")[-1]
        handler: Handler = getattr(module, attr)
        return handler

    def initialize(self, names: Iterable[str] | None = None) -> None:
        """Run the functions' init phase now (every function's by default), as Lambda's provisioned
        concurrency does before the first request, rather than in the first invocation's path."""
        for name in self._specs if names is None else names:
            self.handler(name)

    def context(self, name: str) -> LocalContext:
        spec = self._specs[name]
        deployed = self._deployed[name]
        return LocalContext(
            function_name=deployed,
            memory_limit_in_mb=spec.memory_mb,
            invoked_function_arn=self._arn(name),
            timeout_s=float(spec.timeout_s),
            log_group_name=f"/aws/lambda/{deployed}",
        )

    def call(self, name: str, event: Any, context: LocalContext | None = None) -> Any:
        """One invocation of the handler, announced to the environment's extensions first."""
        handler = self.handler(name)
        context = context or self.context(name)
        environment = self._environments.get(name)
        if environment is not None:
            environment.invoke(context.aws_request_id, context.get_remaining_time_in_millis() / 1000)
        return handler(event, context)

    def invoke(self, name: str, event: Any) -> InvocationResult:
        try:
            result = self.call(name, event)
            return InvocationResult(json.loads(json.dumps(result, default=str)))
        except Exception as error:
            logger.exception("Function failed", extra={"function": name})
            return InvocationResult(
                {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "stackTrace": traceback.format_tb(error.__traceback__),
                },
                error_type=type(error).__name__,
            )

    def invoke_async(self, name: str, event: Any) -> Future[InvocationResult]:
        """Event invocation: queued, retried twice on error, the caller does not wait."""

        def run() -> InvocationResult:
            result = self.invoke(name, event)
            for attempt in range(ASYNC_RETRIES):
                if not result.failed:
                    break
                time.sleep(0.5 * (attempt + 1))
                result = self.invoke(name, event)
            return result

        return self._async.submit(run)

    def shutdown(self) -> None:
        self._async.shutdown(wait=True, cancel_futures=False)
        with self._lock:
            environments, self._environments = list(self._environments.values()), {}
        for environment in environments:
            environment.shutdown()
