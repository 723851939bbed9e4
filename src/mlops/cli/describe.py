"""One-line descriptions of stages, runs and models, shared by the progress printer and ``runs show``."""

from __future__ import annotations

from typing import Any

from mlops.cli import render
from mlops.entities import ModelVersion, Run, StageRecord


def stage_highlight(stage: StageRecord) -> str:
    """What a stage found or made, in a few words; its error when it failed."""
    if stage.status == "FAILED":
        return stage.error or "failed"
    s = stage.summary
    parts: list[str] = []
    if stage.name == "ingest":
        if "rows" in s:
            parts.append(f"{s['rows']:,} rows")
        if "columns" in s:
            parts.append(f"{s['columns']} columns")
    elif stage.name == "validation":
        if "passed" in s:
            parts.append("passed" if s["passed"] else "failed")
        parts.extend(_counted(s, "warnings", "warning"))
        parts.extend(_counted(s, "failures", "failure"))
        excluded = s.get("excluded_columns") or []
        if excluded:
            parts.append("excluded " + ", ".join(str(c) for c in excluded))
    elif stage.name == "training":
        if s.get("model_version") is not None:
            backend = f" ({s['backend']})" if s.get("backend") else ""
            parts.append(f"model v{s['model_version']}{backend}")
        elif s.get("job_name"):
            parts.append(f"job {s['job_name']}")
        if s.get("metrics"):
            parts.append(render.metrics(s["metrics"], limit=2))
    elif stage.name == "conversion":
        if isinstance(s.get("onnx_bytes"), int):
            parts.append(f"ONNX {render.size(s['onnx_bytes'])}")
        parity = s.get("parity")
        if isinstance(parity, dict) and "passed" in parity:
            parts.append("parity passed" if parity["passed"] else "parity FAILED")
    elif stage.name == "promotion":
        if "promoted" in s:
            parts.append("promoted" if s["promoted"] else "not promoted")
        if s.get("compared_with") is not None:
            parts.append(f"vs production v{s['compared_with']}")
    return ", ".join(parts)


def _counted(summary: dict[str, Any], key: str, noun: str) -> list[str]:
    count = summary.get(key)
    if not isinstance(count, int) or count == 0:
        return []
    return [render.plural(count, noun)]


def check_lines(
    summary: dict[str, Any], indent: str = "  ", statuses: tuple[str, ...] = ("warn", "fail")
) -> list[str]:
    """The warnings and failures of a validation summary, one line each (passes are in the report)."""
    lines: list[str] = []
    for check in summary.get("checks") or []:
        if isinstance(check, dict) and check.get("status") in statuses:
            column = f" [{check['column']}]" if check.get("column") else ""
            lines.append(
                f"{indent}{check['status']:<4}  {check.get('rule', '')}{column}: {check.get('message', '')}"
            )
    return lines


def stage_line(stage: StageRecord) -> str:
    """The progress line: ``  ingest      SUCCEEDED  0.4s  1,000 rows, 5 columns``."""
    if stage.status == "RUNNING":
        return f"  {stage.name:<11} RUNNING ..."
    text = f"  {stage.name:<11} {stage.status:<10} {render.duration(stage.duration_s):>6}"
    highlight = stage_highlight(stage)
    return f"{text}  {highlight}" if highlight else text


def run_duration(run: Run) -> float | None:
    return (run.ended_at - run.started_at).total_seconds() if run.ended_at else None


def run_outcome(run: Run) -> str:
    """``model v3 promoted``, ``model v3 not promoted``, ``failed at validation``."""
    if run.status in ("FAILED", "ABORTED"):
        verb = "failed" if run.status == "FAILED" else "aborted"
        return f"{verb} at {run.failed_stage or 'an unknown stage'}"
    if run.model_version is None:
        return "no model"
    return f"model v{run.model_version} {'promoted' if run.promoted else 'not promoted'}"


def model_summary(model: ModelVersion) -> str:
    return f"{model.name} v{model.version} ({model.status})"
