"""Drift evaluation of production models: on demand (``mlops drift run``) and on the drift tick.

``run_drift`` evaluates one model now: the production version and its training baseline, the
captured traffic since the production alias moved to that version or the last
``drift.window_hours``, whichever is later, the verdict; then the JSON and HTML reports under
``reports/drift/<model>/v<version>/<timestamp>`` in the artifacts bucket, the summary in the
metadata table, CloudWatch metrics, the model's drift alarm (created when missing), and live quality
when ground truth for the window's requests has been uploaded.

``run_due`` is the fixed 15-minute tick: every model with a production version whose dataset
config's ``drift.schedule`` (``rate(N minutes|hours|days)``) has elapsed since its last evaluation.
The last evaluation is a cursor in the metadata table, written after each evaluation with the time
the evaluation started; a model is due once ``schedule - min(schedule / 2, 5 minutes)`` has passed,
so a tick a few seconds early still counts and a redelivered tick (seconds later) evaluates nothing.
Two deliveries racing within the same seconds could both evaluate: same data, same verdict, one
alarm state change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlops.artifact_keys import drift_report_stem
from mlops.config import DatasetConfig, DriftConfig
from mlops.config import parse_rate as config_rate
from mlops.drift.baseline import load_baseline
from mlops.drift.capture_reader import CapturedTraffic, CaptureReader
from mlops.drift.evaluate import DriftResult, evaluate
from mlops.drift.events import DriftRequest, DriftTick, ScheduledEvent
from mlops.drift.monitoring import CloudWatchMonitor
from mlops.drift.quality import QualityResult, live_quality
from mlops.drift.report import ReportContext, render_html, report_json
from mlops.entities import DriftSummary, ModelVersion, utcnow
from mlops.errors import ConfigError, MlopsError, NotFound
from mlops.labels import LabelReader
from mlops.observability import logger, metrics
from mlops.records import model_signature
from mlops.registry import Registry
from mlops.settings import DriftSettings
from mlops.storage import Storage

MAX_DUE_SLACK = timedelta(minutes=5)


class DriftOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    version: int
    evaluated_at: datetime
    window_start: datetime
    window_end: datetime
    result: DriftResult
    report_uri: str
    html_uri: str
    quality: QualityResult | None = None
    capture_objects: int = 0
    malformed_records: int = 0

    def to_contract(self) -> dict[str, Any]:
        """``mlops drift run --json`` (docs/cli.md#mlops-drift-run): the window, the HTML report and live quality."""
        out = self.result.to_contract(self.model, self.version, self.report_uri)
        out["html_report"] = self.html_uri
        out["evaluated_at"] = self.evaluated_at.isoformat()
        out["window"] = {"start": self.window_start.isoformat(), "end": self.window_end.isoformat()}
        if self.quality is not None:
            out["quality"] = self.quality.model_dump(mode="json")
        return out


class TickOutcome(BaseModel):
    evaluated: list[dict[str, Any]] = Field(default_factory=list)
    not_due: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class DriftDeps:
    """What drift evaluation reads and writes through: the adapters, built once per container by
    ``build_drift_deps`` (tests pass their own)."""

    registry: Registry
    storage: Storage
    capture: CaptureReader
    labels: LabelReader
    monitor: CloudWatchMonitor


def build_drift_deps(settings: DriftSettings) -> DriftDeps:
    """The adapters over the cached client factory's clients (``mlops.aws``)."""
    return DriftDeps(
        registry=Registry(settings.metadata_table),
        storage=Storage(),
        capture=CaptureReader(settings.capture_bucket),
        labels=LabelReader(settings.capture_bucket),
        monitor=CloudWatchMonitor(
            settings.metrics_namespace, settings.stage_name, notify_topic_arn=settings.notification_topic_arn
        ),
    )


def parse_rate(expression: str) -> timedelta:
    """The drift schedule as a timedelta; an invalid one is a ConfigError."""
    try:
        return config_rate(expression)
    except ValueError as error:
        raise ConfigError(f"Drift {error}") from error


def drift_config(registry: Registry, model: str) -> DriftConfig:
    """The model's dataset config's drift section (models are named after their dataset)."""
    config: DatasetConfig | None = registry.datasets.find_config(model)
    return config.drift if config is not None else DriftConfig()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S") + f"{moment.microsecond // 1000:03d}Z"


def run_drift(
    model: str,
    deps: DriftDeps,
    settings: DriftSettings,
    now: datetime | None = None,
    window: timedelta | None = None,
) -> DriftOutcome:
    """Evaluate drift of ``model``'s production version now; see the module docstring."""
    registry, storage = deps.registry, deps.storage
    moment = now or utcnow()
    production = registry.models.get_production(model)
    if production is None:
        raise NotFound(f"Model '{model}' has no production model yet: promote a version first.")
    signature = model_signature(storage, production)
    if signature is None:
        raise MlopsError(f"Model '{model}' v{production.version} has no signature to read its traffic with.")
    baseline_ref = production.artifacts.get("baseline")
    if baseline_ref is None:
        raise NotFound(f"Model '{model}' v{production.version} has no drift baseline.")
    config = drift_config(registry, model)
    baseline = load_baseline(json.loads(storage.get_verified(baseline_ref)))
    alias = registry.models.get_alias(model)
    span = window or timedelta(hours=config.window_hours)
    since = moment - span
    if alias is not None and alias.updated_at > since:
        since = min(alias.updated_at, moment)

    traffic = deps.capture.read(model, production.version, signature, since, moment)
    result = evaluate(baseline, traffic.features, traffic.predictions, config)
    quality = _quality(model, production, traffic, since, deps.labels)

    context = ReportContext(
        model=model,
        version=production.version,
        evaluated_at=moment,
        window_start=since,
        window_end=moment,
        capture_objects=traffic.objects,
        malformed_records=traffic.malformed,
        other_version_records=traffic.other_versions,
        outside_window_records=traffic.outside_window,
        quality=quality.model_dump(mode="json") if quality is not None else None,
    )
    key = drift_report_stem(model, production.version, _stamp(moment))
    json_ref = storage.put(
        settings.artifact_bucket, f"{key}.json", report_json(result, context), "application/json"
    )
    html_ref = storage.put(
        settings.artifact_bucket,
        f"{key}.html",
        render_html(result, context).encode("utf-8"),
        "text/html; charset=utf-8",
    )
    registry.drift.put_drift_summary(
        DriftSummary(
            model=model,
            version=production.version,
            evaluated_at=moment,
            rows=result.rows,
            verdict=result.verdict,
            drift_detected=result.drift_detected,
            score=result.score,
            drifted_features=result.drifted_features,
            report_uri=json_ref.uri,
            html_uri=html_ref.uri,
            window_start=since,
            window_end=moment,
        )
    )

    monitor = deps.monitor
    monitor.ensure_alarm(monitor.drift_alarm(model))
    monitor.put_drift(model, result, moment)
    if quality is not None and quality.value is not None:
        quality_alarm = monitor.quality_alarm(model, quality)
        if quality_alarm is not None:
            monitor.ensure_alarm(quality_alarm)
        monitor.put_quality(model, quality, moment)

    registry.drift.record_evaluation(model, production.version, moment)
    logger.info(
        "Drift evaluated",
        extra={
            "model": model,
            "version": production.version,
            "rows": result.rows,
            "verdict": result.verdict,
            "score": result.score,
            "drifted_features": result.drifted_features,
            "malformed_records": traffic.malformed,
        },
    )
    return DriftOutcome(
        model=model,
        version=production.version,
        evaluated_at=moment,
        window_start=since,
        window_end=moment,
        result=result,
        report_uri=json_ref.uri,
        html_uri=html_ref.uri,
        quality=quality,
        capture_objects=traffic.objects,
        malformed_records=traffic.malformed,
    )


def _quality(
    model: str,
    production: ModelVersion,
    traffic: CapturedTraffic,
    since: datetime,
    labels: LabelReader,
) -> QualityResult | None:
    if traffic.rows == 0:
        return None
    uploaded = labels.read(model, since)
    if not uploaded.by_row:
        return None
    return live_quality(production.task, production.version, traffic, uploaded, production.metrics)


def is_due(interval: timedelta, last: datetime | None, now: datetime) -> bool:
    if last is None:
        return True
    slack = min(interval / 2, MAX_DUE_SLACK)
    return now - last >= interval - slack


def run_due(deps: DriftDeps, settings: DriftSettings, now: datetime | None = None) -> TickOutcome:
    """The drift tick: evaluate each production model whose drift schedule is due."""
    registry = deps.registry
    moment = now or utcnow()
    outcome = TickOutcome()
    for model in registry.models.list_model_names():
        try:
            alias = registry.models.get_alias(model)
            if alias is None:
                continue
            interval = parse_rate(drift_config(registry, model).schedule)
            last = registry.drift.last_evaluation(model)
            last_time = last[1] if last is not None and last[0] == alias.version else None
            if not is_due(interval, last_time, moment):
                outcome.not_due.append(model)
                continue
            result = run_drift(model, deps, settings, now=moment)
            outcome.evaluated.append(result.to_contract())
        except MlopsError as error:
            logger.error("Drift evaluation failed", extra={"model": model, "error": str(error)})
            outcome.failed[model] = str(error)
        except Exception as error:  # one model's failure must not starve the others of their tick
            logger.exception("Drift evaluation failed", extra={"model": model})
            outcome.failed[model] = f"{type(error).__name__}: {error}"
    return outcome


def handle_event(
    event: DriftRequest | DriftTick | ScheduledEvent, deps: DriftDeps, settings: DriftSettings
) -> dict[str, Any]:
    """The drift function: an on-demand request answers the contract JSON, a tick its summary."""
    if isinstance(event, DriftRequest):
        outcome = run_drift(event.model, deps, settings, window=event.window)
        metrics.add_metric(name="DriftEvaluations", unit="Count", value=1)
        return outcome.to_contract()
    tick = run_due(deps, settings)
    metrics.add_metric(name="DriftEvaluations", unit="Count", value=len(tick.evaluated))
    if tick.failed:
        metrics.add_metric(name="DriftEvaluationFailures", unit="Count", value=len(tick.failed))
    return tick.model_dump(mode="json")
