"""The one description of the stack is complete and consistent (no AWS, no CDK)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlops import settings as s
from mlops.config import reference_markdown
from mlops.definition import description as d
from mlops.local.resources import function_env, process_env

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    "ingest": s.IngestSettings,
    "validation": s.ValidationSettings,
    "training": s.TrainingSettings,
    "conversion": s.PipelineSettings,
    "promotion": s.PromotionSettings,
    "failure": s.PipelineSettings,
    "trigger": s.TriggerSettings,
    "reconcile": s.ReconcileSettings,
    "inference": s.InferenceSettings,
    "drift": s.DriftSettings,
    "batch": s.BatchSettings,
    "batchtrigger": s.BatchTriggerSettings,
    "rollout": s.RolloutSettings,
}


def test_every_function_has_a_handler_and_settings() -> None:
    assert {f.name for f in d.FUNCTIONS} == set(SETTINGS)
    for spec in d.FUNCTIONS:
        assert (ROOT / spec.code_dir / "handler.py").is_file(), spec.name


@pytest.mark.parametrize("spec", d.FUNCTIONS, ids=lambda f: f.name)
def test_environment_satisfies_the_function_settings(
    spec: d.FunctionSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(__import__("os").environ):
        monkeypatch.delenv(key)
    for key, value in function_env(spec).items():
        monkeypatch.setenv(key, value)
    s.load_settings.cache_clear()
    settings = s.load_settings(SETTINGS[spec.name])
    s.load_settings.cache_clear()
    assert settings.metadata_table


def test_embedded_stack_can_share_one_environment() -> None:
    assert process_env()["METADATA_TABLE"] == "mlops-metadata"


def test_asl_placeholders_match_substitutions() -> None:
    text = d.state_machine_definition()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(d.PIPELINE.substitutions)


def test_every_task_retries_catches_and_times_out() -> None:
    states = json.loads(d.state_machine_definition())["States"]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert tasks
    for name, state in tasks.items():
        assert state["TimeoutSeconds"] > 0, name
        assert state["Retry"] and "Lambda.ServiceException" in state["Retry"][0]["ErrorEquals"], name
        # Narrower catches (a refused upload ends at stage ingest) may come first; the last takes all.
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name


def test_every_task_waits_as_long_as_the_function_it_invokes_may_run() -> None:
    for machine in d.STATE_MACHINES:
        states = json.loads(d.state_machine_definition(machine))["States"]
        for name, state in states.items():
            if state["Type"] != "Task":
                continue
            placeholder = re.fullmatch(r"\$\{(\w+)\}", state["Parameters"]["FunctionName"])
            assert placeholder, name
            spec = d.function(machine.substitutions[placeholder.group(1)].name)
            assert state["TimeoutSeconds"] >= spec.timeout_s, (name, spec.name)


def test_run_time_names_carry_the_stage_and_no_stage_matches_another() -> None:
    stages = ("dev", "prod", "local")
    for pattern in d.RUN_TIME_NAMES:
        names = {stage: pattern.for_stage(stage) for stage in stages}
        assert len(set(names.values())) == len(stages), pattern
        for stage, name in names.items():
            assert stage in name
            # No stage's names start with another stage's prefix: a rule or IAM pattern on one
            # stage's prefix never matches the other's names.
            assert not any(other.startswith(name) for s, other in names.items() if s != stage), pattern
    for spec in d.FUNCTIONS:
        for permission in spec.permissions:
            for stage in stages:
                resource = permission.for_stage(stage).resource
                assert d.STAGE_FIELD not in str(resource) and "{stage}" not in str(
                    permission.for_stage(stage)
                )
    with pytest.raises(ValueError, match="no"):
        d.Staged("mlops-drift-")


def test_the_functions_metrics_go_to_their_stages_namespace() -> None:
    # Powertools reads the namespace when the module is imported: a fresh interpreter, as a cold start.
    env = {**os.environ, "POWERTOOLS_METRICS_NAMESPACE": d.METRICS_NAMESPACE.for_stage("prod")}
    probe = "from mlops.observability import metrics; print(metrics.namespace)"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "Mlops/prod"


def test_dataset_config_reference_is_current() -> None:
    assert (ROOT / "docs" / "dataset-config.md").read_text() == reference_markdown()


def test_invalid_schedules_are_refused_when_the_config_is_written() -> None:
    from pydantic import ValidationError

    from mlops.config import DatasetConfig

    with pytest.raises(ValidationError, match="rate"):
        DatasetConfig(target="y", retraining={"schedule": "every monday"})  # type: ignore[arg-type]
    assert (
        DatasetConfig(target="y", drift={"schedule": "rate(30 minutes)"}).drift.schedule == "rate(30 minutes)"
    )  # type: ignore[arg-type]


def test_batch_scoring_is_a_distributed_map_over_s3_with_batching_tolerance_and_retries() -> None:
    text = d.state_machine_definition(d.BATCH)
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(d.BATCH.substitutions)
    states = json.loads(text)["States"]
    (score,) = [s for s in states.values() if s["Type"] == "Map"]
    assert score["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert score["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert score["ItemBatcher"]["BatchInput"] and score["ResultWriter"]
    assert {"MaxConcurrencyPath", "ToleratedFailurePercentagePath"} <= set(score)
    (worker,) = score["ItemProcessor"]["States"].values()
    assert worker["Retry"][0]["BackoffRate"] > 1 and worker["Retry"][0]["MaxAttempts"] >= 2
    for name, state in states.items():
        if state["Type"] == "Task":
            assert state["Retry"] and state["Catch"][0]["ErrorEquals"] == ["States.ALL"], name


def test_the_rollout_machine_waits_chooses_and_checks_with_its_own_function() -> None:
    text = d.state_machine_definition(d.ROLLOUT)
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(d.ROLLOUT.substitutions)
    states = json.loads(text)["States"]
    assert {state["Type"] for state in states.values()} == {"Task", "Choice", "Wait", "Succeed"}
    assert states["Bake"]["SecondsPath"] == "$.wait_seconds"
    for name in ("Arm", "Check"):
        # A failed check waits and checks again rather than ending the rollout half-way.
        assert states[name]["Catch"][0]["Next"] == "Bake", name
    assert d.ROLLOUT.substitutions["RolloutFunctionArn"].name == "rollout"
    (rule,) = [r for r in d.ALARM_RULES if r.function == "rollout"]
    assert rule.alarm_name_prefix == d.ROLLOUT_ALARM_PREFIX
