"""The Distributed Map features moto's ASL interpreter lacks, so the batch state machine's own definition
runs locally.

- ``ItemBatcher`` (``MaxItemsPerBatch``/``MaxItemsPerBatchPath``, ``BatchInput``): moto's parser refuses
  the field. The definition is parsed without it, and the items the ItemReader returns are grouped into
  ``{"BatchInput": ..., "Items": [...]}`` before they fan out, as Step Functions does.
- ``ToleratedFailurePercentage``/``ToleratedFailureCount`` (and their ``...Path`` forms): moto parses
  them, but its first failed item fails the map. Here failed items are counted, the other items run to
  the end, and the map fails only past the tolerance; then with the first item's error, where Step
  Functions reports ``States.ExceedToleratedFailureThreshold``.

Batchers are kept by Map state name: two state machines with a Map state of the same name and different
batchers would share one (the stack has one).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import (
    Job,
    JobClosed,
    JobPool,
)

from mlops.observability import logger

_batchers: dict[str, dict[str, Any]] = {}
_originals: dict[str, Any] = {}


def _strip_batchers(states: dict[str, Any]) -> None:
    for name, state in states.items():
        if state.get("Type") != "Map":
            continue
        batcher = state.pop("ItemBatcher", None)
        if batcher is not None:
            _batchers[name] = batcher
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        _strip_batchers(processor.get("States", {}))


def _parse(definition: str) -> Any:
    document = json.loads(definition)
    _strip_batchers(document.get("States", {}))
    return _originals["parse"](json.dumps(document))


def _path(value: Any, data: Any) -> Any:
    from moto.stepfunctions.parser.asl.utils.json_path import extract_json

    return extract_json(value, data)


def _batch_input(template: dict[str, Any], data: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$"):
            out[key[:-2]] = _path(value, data)
        elif isinstance(value, dict):
            out[key] = _batch_input(value, data)
        else:
            out[key] = value
    return out


def batch_items(batcher: dict[str, Any], items: list[Any], data: Any) -> list[dict[str, Any]]:
    """Group items the way ItemBatcher does (MaxInputBytesPerBatch is not emulated)."""
    size = batcher.get("MaxItemsPerBatch")
    if size is None and "MaxItemsPerBatchPath" in batcher:
        size = _path(batcher["MaxItemsPerBatchPath"], data)
    size = max(1, int(size or len(items) or 1))
    shared = _batch_input(batcher.get("BatchInput", {}), data)
    return [{"BatchInput": shared, "Items": items[i : i + size]} for i in range(0, len(items), size)]


class TolerantJobPool(JobPool):
    """Counts failed items instead of stopping at the first, and replaces the worker a failure ends
    (by calling ``respawn`` with this pool)."""

    def __init__(self, job_program: Any, job_inputs: list[Any], respawn: Callable[[JobPool], None]) -> None:
        super().__init__(job_program=job_program, job_inputs=job_inputs)
        self.respawn = respawn
        self.failures: list[Exception] = []

    def _is_terminated(self) -> bool:
        return len(self._closed_jobs) + len(self.failures) >= self._jobs_number

    def close_job(self, job: Job) -> None:
        with self._mutex:
            if isinstance(job.job_output, Exception):
                self.failures.append(job.job_output)
                replace = bool(self._open_jobs)
            else:
                self._closed_jobs.add(JobClosed(job_index=job.job_index, job_output=job.job_output))
                replace = False
            self._notify_on_termination()
        if replace:
            self.respawn(self)


def _map_run(self: Any, env: Any, eval_input: Any) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.max_concurrency import (
        DEFAULT_MAX_CONCURRENCY_VALUE,
    )

    items: list[Any] = env.stack.pop()
    batcher = _batchers.get(eval_input.state_name)
    if batcher is not None:
        items = batch_items(batcher, items, env.states.get_input())
    pool = TolerantJobPool(
        self._get_iteration_program(),
        items,
        lambda pool: self._launch_worker(env=env, eval_input=eval_input, job_pool=pool),
    )
    max_concurrency = eval_input.map_run_record.max_concurrency
    workers = len(items) if max_concurrency == DEFAULT_MAX_CONCURRENCY_VALUE else max_concurrency
    for _ in range(max(1, min(workers, len(items)))):
        self._launch_worker(env=env, eval_input=eval_input, job_pool=pool)
    if items:
        pool.await_jobs()
    failed = len(pool.failures)
    tolerated_count = int(eval_input.tolerated_failure_count or 0)
    tolerated_percent = float(eval_input.tolerated_failure_percentage or 0.0)
    if failed and (failed > tolerated_count and failed * 100.0 > tolerated_percent * len(items)):
        logger.info("Map run failed past its tolerance", extra={"failed": failed, "items": len(items)})
        raise pool.failures[0]
    env.stack.append([closed.job_output for closed in pool.get_closed_jobs()])


_lock = threading.Lock()


def install() -> None:
    """Patch moto's interpreter; idempotent, undone by ``uninstall``."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    with _lock:
        if _originals:
            return
        _originals["parse"] = AmazonStateLanguageParser.parse
        _originals["map_run"] = DistributedIterationComponent._map_run
        AmazonStateLanguageParser.parse = staticmethod(_parse)  # type: ignore[method-assign]
        DistributedIterationComponent._map_run = _map_run  # type: ignore[method-assign]


def uninstall() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    with _lock:
        if not _originals:
            return
        AmazonStateLanguageParser.parse = staticmethod(_originals.pop("parse"))  # type: ignore[method-assign]
        DistributedIterationComponent._map_run = _originals.pop("map_run")  # type: ignore[method-assign]
