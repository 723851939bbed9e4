"""Starting runs: the one place that creates a run record and its Step Functions execution."""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import ClientError

from mlops.models import Run, Trigger, utcnow
from mlops.pipeline.deps import Deps
from mlops.pipeline.payload import IngestRequest, RunPayload, execution_name


def start_run(
    deps: Deps,
    state_machine_arn: str,
    run_id: str,
    dataset: str,
    dataset_version: str,
    trigger: Trigger,
    started_at: datetime | None = None,
    config_revision: int | None = None,
    ingest: IngestRequest | None = None,
) -> Run:
    """Create the run (once) and start its execution (once: the execution name is the run id).

    Safe to call again for the same run id: a redelivered event finds the run and the execution
    already there and changes nothing. ``ingest`` names an upload the run ingests itself (a
    processing job), whose ``dataset_version`` is "" until then.
    """
    run = Run(
        run_id=run_id,
        dataset=dataset,
        trigger=trigger,
        dataset_version=dataset_version or None,
        config_revision=config_revision,
        started_at=started_at or utcnow(),
    )
    if not deps.registry.create_run(run):
        run = deps.registry.get_run(run_id)
        if run.execution_arn:
            return run
    payload = RunPayload(
        run_id=run_id,
        dataset=dataset,
        dataset_version=dataset_version,
        trigger=trigger,
        config_revision=run.config_revision,
        ingest=ingest,
    )
    name = execution_name(run_id)
    try:
        out = deps.sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=payload.model_dump_json(exclude_none=True)
        )
        arn = out["executionArn"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    run = run.model_copy(update={"execution_arn": arn})
    deps.registry.save_run(run, expect_status=None if run.status != "RUNNING" else "RUNNING")
    return run
