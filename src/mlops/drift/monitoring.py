"""The CloudWatch adapter of drift evaluation: its metrics and the alarms on them.

Metrics go through ``PutMetricData`` rather than embedded-metric-format logs, so alarms see them in
moto too (the embedded stack evaluates alarms against the metric data moto holds).

- ``DriftScore`` {Model}: the result's score, drifted features over the number that makes drift, so
  >= 1.0 exactly when the verdict is drift. Not put for ``insufficient_data``: no evaluation, no point.
- ``FeatureDrift`` {Model, Feature}: 1.0 for a drifted feature, else 0.0, and
  ``FeatureDriftStatistic`` {Model, Feature}: its KS statistic or Jensen-Shannon distance.
- ``DriftRows`` {Model}: captured rows evaluated (also for insufficient data).
- ``LiveAccuracy`` / ``LiveRmse`` {Model, Version}: see ``mlops.drift.quality``.

Alarm names carry the stage (``mlops-<stage>-drift-<model>``, ``mlops-<stage>-quality-<model>``), so
stages sharing an account keep their own alarms and each stage's retraining rule sees only its own.

The drift alarm: Maximum of ``DriftScore`` over 60 s, one period,
``GreaterThanOrEqualToThreshold`` 1.0, missing data not breaching. A drifted evaluation puts one
datapoint >= 1 -> ALARM (the state change EventBridge routes to the trigger function, which retrains);
the next minute has no datapoint -> OK again, so the next drifted evaluation is a new state change.
The alarm is written only when missing or different, so its state is never reset by a rewrite.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlops import aws
from mlops.definition.description import DRIFT_ALARM_PREFIX, QUALITY_ALARM_PREFIX
from mlops.drift.evaluate import DriftResult
from mlops.drift.quality import QualityResult

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

DRIFT_SCORE = "DriftScore"
FEATURE_DRIFT = "FeatureDrift"
FEATURE_STATISTIC = "FeatureDriftStatistic"
DRIFT_ROWS = "DriftRows"
ALARM_PERIOD_S = 60
DRIFT_ALARM_THRESHOLD = 1.0
_METRICS_PER_CALL = 500


def drift_alarm_name(stage: str, model: str) -> str:
    return f"{DRIFT_ALARM_PREFIX.for_stage(stage)}{model}"


def quality_alarm_name(stage: str, model: str) -> str:
    return f"{QUALITY_ALARM_PREFIX.for_stage(stage)}{model}"


class CloudWatchMonitor:
    def __init__(
        self,
        namespace: str,
        stage: str,
        client: CloudWatchClient | None = None,
        notify_topic_arn: str = "",
    ) -> None:
        self.namespace = namespace
        self.stage = stage
        # Both alarms notify the stack's topic (when it has one); the drift alarm also starts retraining.
        self.alarm_actions = [notify_topic_arn] if notify_topic_arn else []
        self._client = client

    @property
    def cloudwatch(self) -> CloudWatchClient:
        return self._client or aws.cloudwatch()

    # ---- metrics ------------------------------------------------------------------------------

    def put_drift(self, model: str, result: DriftResult, at: datetime) -> None:
        model_dim = [{"Name": "Model", "Value": model}]
        data: list[dict[str, Any]] = [
            {
                "MetricName": DRIFT_ROWS,
                "Dimensions": model_dim,
                "Timestamp": at,
                "Value": float(result.rows),
                "Unit": "Count",
            }
        ]
        if result.verdict != "insufficient_data":
            data.append(
                {"MetricName": DRIFT_SCORE, "Dimensions": model_dim, "Timestamp": at, "Value": result.score}
            )
            for name, feature in result.features.items():
                dims = [*model_dim, {"Name": "Feature", "Value": name}]
                data.append(
                    {
                        "MetricName": FEATURE_DRIFT,
                        "Dimensions": dims,
                        "Timestamp": at,
                        "Value": float(feature.drift),
                    }
                )
                if feature.statistic is not None:
                    data.append(
                        {
                            "MetricName": FEATURE_STATISTIC,
                            "Dimensions": dims,
                            "Timestamp": at,
                            "Value": feature.statistic,
                        }
                    )
        self._put(data)

    def put_quality(self, model: str, quality: QualityResult, at: datetime) -> None:
        if quality.value is None:
            return
        dims = [{"Name": "Model", "Value": model}, {"Name": "Version", "Value": str(quality.version)}]
        self._put(
            [{"MetricName": quality.metric_name, "Dimensions": dims, "Timestamp": at, "Value": quality.value}]
        )

    def _put(self, data: list[dict[str, Any]]) -> None:
        for start in range(0, len(data), _METRICS_PER_CALL):
            self.cloudwatch.put_metric_data(
                Namespace=self.namespace,
                MetricData=data[start : start + _METRICS_PER_CALL],  # type: ignore[arg-type]
            )

    # ---- alarms -------------------------------------------------------------------------------

    def drift_alarm(self, model: str) -> dict[str, Any]:
        """The ``PutMetricAlarm`` request of a model's drift alarm."""
        return {
            "AlarmName": drift_alarm_name(self.stage, model),
            "AlarmDescription": f"Drift detected on the production model of {model}: starts retraining.",
            "Namespace": self.namespace,
            "MetricName": DRIFT_SCORE,
            "Dimensions": [{"Name": "Model", "Value": model}],
            "Statistic": "Maximum",
            "Period": ALARM_PERIOD_S,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "Threshold": DRIFT_ALARM_THRESHOLD,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": self.alarm_actions,
        }

    def quality_alarm(self, model: str, quality: QualityResult) -> dict[str, Any] | None:
        """The ``PutMetricAlarm`` request of a model's live-quality alarm (None without a threshold)."""
        if quality.threshold is None:
            return None
        lower_is_worse = quality.metric == "accuracy"
        return {
            "AlarmName": quality_alarm_name(self.stage, model),
            "AlarmDescription": (
                f"Live {quality.metric} of {model} v{quality.version} is worse than its holdout "
                f"{quality.holdout:.4g} allows; notifies the stack's topic."
            ),
            "Namespace": self.namespace,
            "MetricName": quality.metric_name,
            "Dimensions": [
                {"Name": "Model", "Value": model},
                {"Name": "Version", "Value": str(quality.version)},
            ],
            "Statistic": "Average",
            "Period": ALARM_PERIOD_S,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "Threshold": quality.threshold,
            "ComparisonOperator": "LessThanThreshold" if lower_is_worse else "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": self.alarm_actions,
        }

    def ensure_alarm(self, request: dict[str, Any]) -> bool:
        """Create or update an alarm when it is missing or differs; True when it was written."""
        found = self.cloudwatch.describe_alarms(AlarmNames=[request["AlarmName"]]).get("MetricAlarms", [])
        if found and all(_same(found[0].get(key), value) for key, value in request.items()):
            return False
        self.cloudwatch.put_metric_alarm(**request)
        return True


def _same(current: object, wanted: object) -> bool:
    if isinstance(wanted, float | int) and isinstance(current, float | int):
        return float(current) == float(wanted)
    if isinstance(wanted, list) and isinstance(current, list):

        def key(d: Any) -> Any:
            return sorted(d.items()) if isinstance(d, dict) else d

        return sorted(map(key, current)) == sorted(map(key, wanted))
    return current == wanted
