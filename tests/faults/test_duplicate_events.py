"""Duplicate and out-of-order events: a redelivered upload, alarm or execution status change, or one
that arrives after its run ended, changes nothing; a run ends once, with its first reason."""

from __future__ import annotations

from typing import Any

from mlops.entities import Run
from mlops.local.embedded import EmbeddedStack
from mlops.registry import Registry
from tests.faults.conftest import assert_one_sentence, frozen_stack
from tests.integration.functions.conftest import ingest_iris, invoke, run_through

STEPS = ("validation", "training", "conversion", "promotion")


def execution_event(
    run: Run, status: str, error: str | None = None, cause: str | None = None
) -> dict[str, Any]:
    """EventBridge's Step Functions Execution Status Change event for the run's execution."""
    arn = run.execution_arn or ""
    return {
        "version": "0",
        "id": "5b3c9f4e-0000-0000-0000-000000000000",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-30T12:00:00Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {
            "executionArn": arn,
            "stateMachineArn": arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
            "name": arn.rsplit(":", 1)[-1],
            "status": status,
            "startDate": 1_764_500_000_000,
            "stopDate": 1_764_500_060_000,
            "input": (
                f'{{"run_id": "{run.run_id}", "dataset": "{run.dataset}", '
                f'"dataset_version": "{run.dataset_version}", "trigger": "{run.trigger}"}}'
            ),
            "output": None,
            "error": error,
            "cause": cause,
        },
    }


def _reconcile(stack: EmbeddedStack, event: dict[str, Any]) -> dict[str, Any]:
    result = invoke(stack, "reconcile", event)
    assert not result.failed, result.payload
    outcome: dict[str, Any] = result.payload["outcomes"][0]
    return outcome


def test_status_events_twice_and_late_change_nothing() -> None:
    with frozen_stack() as stack:
        registry = Registry(stack.stack.outputs["MetadataTableName"])
        running = registry.runs.get_run(ingest_iris(stack, registry, "twice")["run_id"])
        runtime_error = execution_event(
            running, "FAILED", "States.Runtime", "An error occurred while executing."
        )
        first = _reconcile(stack, runtime_error)
        again = _reconcile(stack, runtime_error)  # at-least-once: delivered twice
        assert first["action"] == "aborted" and again["action"] == "unchanged"
        ended = registry.runs.get_run(running.run_id)
        assert ended.status == "ABORTED" and "States.Runtime" in (ended.error or "")
        assert_one_sentence(ended.error)
        # A later, different event for the same execution does not rewrite the first reason.
        _reconcile(stack, execution_event(running, "TIMED_OUT"))
        assert registry.runs.get_run(running.run_id).error == ended.error

        # Out of order: a failure event arriving after the run succeeded leaves it SUCCEEDED.
        payload = ingest_iris(stack, registry, "late")
        run_through(stack, payload, *STEPS)
        succeeded = registry.runs.get_run(payload["run_id"])
        assert succeeded.status == "SUCCEEDED"
        late = _reconcile(stack, execution_event(succeeded, "ABORTED"))
        assert late["action"] == "unchanged" and registry.runs.get_run(succeeded.run_id).status == "SUCCEEDED"


def test_an_event_for_no_known_run_is_ignored() -> None:
    with frozen_stack() as stack:
        stranger = Run(
            run_id="nobody",
            dataset="none",
            trigger="manual",
            execution_arn="arn:aws:states:x:y:execution:m:n",
        )
        event = execution_event(stranger, "FAILED")
        event["detail"]["input"] = '{"not": "a run"}'
        assert _reconcile(stack, event)["action"] == "unknown"


def test_an_upload_delivered_twice_starts_one_run() -> None:
    with frozen_stack() as stack:
        registry = Registry(stack.stack.outputs["MetadataTableName"])
        first = ingest_iris(stack, registry, "dup-upload")
        again = invoke(stack, "ingest", _same_object_event(stack, "dup-upload")).payload["outcomes"][0]
        assert again["action"] == "redelivered" and again["run_id"] == first["run_id"]
        assert len(registry.runs.list_runs("dup-upload")) == 1


def _same_object_event(stack: EmbeddedStack, dataset: str) -> dict[str, Any]:
    from mlops import aws
    from tests.events import load_event

    bucket = stack.stack.outputs["DataBucketName"]
    key = f"raw/{dataset}/data.csv"
    head = aws.s3().head_object(Bucket=bucket, Key=key)
    event = load_event("ingest/s3_put")
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    event["Records"][0]["s3"]["object"].update(
        key=key, size=head["ContentLength"], eTag=head["ETag"].strip('"'), versionId=head.get("VersionId")
    )
    return event
