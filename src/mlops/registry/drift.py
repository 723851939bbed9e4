"""Drift report summaries and the drift cursor (when each model was last evaluated)."""

from __future__ import annotations

import json
from datetime import datetime

from mlops.entities import DriftSummary
from mlops.registry.model_reader import model_pk
from mlops.registry.table import Key, Table, attrs, doc, iso, load, value

CURSOR_SK = "MONITOR#drift"


class DriftStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def put_drift_summary(self, summary: DriftSummary) -> None:
        item = {
            "pk": model_pk(summary.model),
            "sk": f"DRIFT#{iso(summary.evaluated_at)}",
            "doc": doc(summary),
        }
        self.table.put(attrs({**item, "version": summary.version}))

    def list_drift_summaries(self, name: str, version: int | None = None) -> list[DriftSummary]:
        found = [load(DriftSummary, i) for i in self.table.query(Key(model_pk(name), "DRIFT#"))]
        return [s for s in found if version is None or s.version == version]

    def recent_drift_summaries(self, name: str, limit: int = 50) -> list[DriftSummary]:
        """The latest ``limit`` evaluations of a model, newest first."""
        items, _ = self.table.page(Key(model_pk(name), "DRIFT#"), forward=False, limit=limit)
        return [load(DriftSummary, i) for i in items]

    def find_drift_summary(self, name: str, evaluated_at: datetime) -> DriftSummary | None:
        item = self.table.get(model_pk(name), f"DRIFT#{iso(evaluated_at)}", consistent=False)
        return None if item is None else load(DriftSummary, item)

    def record_evaluation(self, name: str, version: int, evaluated_at: datetime) -> None:
        """Move the model's drift cursor: the version evaluated and when the evaluation started."""
        cursor = json.dumps({"version": version, "evaluated_at": iso(evaluated_at)})
        self.table.put(attrs({"pk": model_pk(name), "sk": CURSOR_SK, "doc": cursor}))

    def last_evaluation(self, name: str) -> tuple[int, datetime] | None:
        """The model's drift cursor: (version, evaluated_at) of its last evaluation, if any."""
        item = self.table.get(model_pk(name), CURSOR_SK)
        cursor = json.loads(value(item, "doc")) if item is not None else None
        if not cursor:
            return None
        return int(cursor["version"]), datetime.fromisoformat(cursor["evaluated_at"])
