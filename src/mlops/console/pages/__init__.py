"""The console's sections, one module each; ``SECTIONS`` is the navigation order.

A new section (rollouts, batch jobs) is a module exporting ``SECTION`` and one line here.
"""

from __future__ import annotations

from mlops.console.app import Section
from mlops.console.pages import batch, datasets, drift, lineage, models, overview, rollouts, runs

SECTIONS: tuple[Section, ...] = (
    overview.SECTION,
    datasets.SECTION,
    runs.SECTION,
    models.SECTION,
    lineage.SECTION,
    drift.SECTION,
    rollouts.SECTION,
    batch.SECTION,
)
