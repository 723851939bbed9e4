"""Logs name the right run: keys an invocation appends (``run_id``, ``dataset``) end with it.

Before: appended keys were never cleared, so a warm container's later log lines (any function's, in
the embedded stack's one process) carried the ``run_id`` and ``dataset`` of a run handled earlier.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from mlops.definition.description import ROLLOUT_ALARM_PREFIX
from mlops.local.context import LocalContext
from mlops.local.resources import LOCAL_STAGE
from mlops.observability import inject_context, logger
from tests.events import load_event
from tests.faults.conftest import frozen_stack


@pytest.fixture()
def log_lines() -> Iterator[io.StringIO]:
    """Every line the functions log, formatted as in Lambda (the shared Logger's JSON formatter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    shared = logging.getLogger(logger.name)
    shared.addHandler(handler)
    try:
        yield stream
    finally:
        shared.removeHandler(handler)


def _failures(stream: io.StringIO) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    stream.seek(0)
    stream.truncate()
    return [line for line in lines if line.get("message") == "Function failed"]


def test_a_later_invocation_logs_no_earlier_run(log_lines: io.StringIO) -> None:
    with frozen_stack() as stack:
        _failures(log_lines)
        # The failure recorder appends the run's keys, then fails: the run does not exist.
        assert stack.runtime.invoke("failure", load_event("failure/caught_validation_error")).failed
        (first,) = _failures(log_lines)
        assert first["run_id"] and first["dataset"]  # the keys work for the invocation that set them
        # Another function, same process and thread, fails without appending anything.
        assert stack.runtime.invoke("trigger", {"dataset": "no-such-dataset"}).failed
        (second,) = _failures(log_lines)
    assert "run_id" not in second and "dataset" not in second, second


def test_the_rollout_function_logs_its_step_at_info_and_still_answers(log_lines: io.StringIO) -> None:
    """Before: the rollout function logged its result as ``extra``, and a log record refuses the
    result's ``name`` key: at INFO, the level deployed functions log at, every invocation failed."""
    event = load_event("rollout/candidate_alarm")
    event["detail"]["alarmName"] = f"{ROLLOUT_ALARM_PREFIX.for_stage(LOCAL_STAGE)}iris-errors"
    level = logger.log_level
    logger.setLevel(logging.INFO)
    try:
        with frozen_stack() as stack:
            result = stack.runtime.invoke("rollout", event)
    finally:
        logger.setLevel(level)
    assert not result.failed, result.payload
    # No rollout runs for iris: nothing rolls back, and the step is logged with its result.
    assert result.payload == {"rolled_back": False, "name": "iris"}
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.startswith("{")]
    (step,) = [line for line in lines if line.get("message") == "Rollout step"]
    assert step["rollout"] == result.payload


def test_functions_running_side_by_side_each_log_their_own_context(log_lines: io.StringIO) -> None:
    """Before: Powertools' decorator put the Lambda context on the one shared logger, so on the embedded
    stack an ingest line logged after validation started in another thread named validation."""
    ingest_started, validation_started = threading.Event(), threading.Event()

    @inject_context
    def ingest(event: object, context: object) -> None:
        ingest_started.set()
        assert validation_started.wait(10)
        logger.info("from ingest")

    @inject_context
    def validation(event: object, context: object) -> None:
        assert ingest_started.wait(10)
        validation_started.set()
        logger.info("from validation")

    threads = [
        threading.Thread(target=ingest, args=({}, LocalContext(function_name="mlops-ingest"))),
        threading.Thread(target=validation, args=({}, LocalContext(function_name="mlops-validation"))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = {
        line["message"]: line
        for line in map(json.loads, log_lines.getvalue().splitlines())
        if str(line.get("message", "")).startswith("from ")
    }
    assert lines["from ingest"]["function_name"] == "mlops-ingest"
    assert lines["from validation"]["function_name"] == "mlops-validation"
    assert lines["from ingest"]["cold_start"] is True


def test_an_inference_requests_correlation_id_stays_on_its_own_lines(log_lines: io.StringIO) -> None:
    """Before: the inference function set its request id on the one shared logger (Powertools'
    ``set_correlation_id``), so on the embedded stack every later line of every function, in any
    thread, carried the id of the last request the HTTP server answered."""
    event = load_event("inference/predict_records")
    event["path"] = "/models/no-such-model/predict"
    level = logger.log_level
    logger.setLevel(logging.INFO)  # the inference function logs a refused request as a warning
    try:
        with frozen_stack() as stack:
            answer = stack.runtime.invoke("inference", event)
            assert answer.payload["statusCode"] == 404
            logger.info("in the request's thread")  # as the request's own lines would be
            failed = threading.Thread(
                target=stack.runtime.invoke, args=("trigger", {"dataset": "no-such-dataset"})
            )
            failed.start()
            failed.join()
    finally:
        logger.setLevel(level)
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.startswith("{")]
    (failure,) = [line for line in lines if line.get("message") == "Function failed"]
    assert "correlation_id" not in failure, failure
    (served,) = [line for line in lines if line.get("message") == "in the request's thread"]
    assert served["function_name"] == "mlops-inference"
    assert served["correlation_id"] == event["requestContext"]["requestId"]
