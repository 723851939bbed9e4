"""The drift function's events and schedule arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from mlops.drift.events import DriftEvent, DriftRequest, DriftTick, ScheduledEvent
from mlops.drift.service import is_due, parse_rate
from mlops.errors import ConfigError
from tests.events import load_event


def _parse(event: object) -> object:
    return DriftEvent.model_validate({"event": event}).event


def test_the_three_event_shapes() -> None:
    assert isinstance(_parse(load_event("drift/schedule_tick")), DriftTick)
    assert isinstance(_parse(load_event("drift/scheduled_event")), ScheduledEvent)
    request = _parse(load_event("drift/on_demand"))
    assert isinstance(request, DriftRequest) and request.model == "iris" and request.window is None
    windowed = _parse({"model": "iris", "window_hours": 2})
    assert isinstance(windowed, DriftRequest) and windowed.window == timedelta(hours=2)


@pytest.mark.parametrize("event", [{}, {"model": ""}, {"source": "aws.s3"}, {"model": "x", "extra": 1}])
def test_other_events_are_refused(event: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _parse(event)


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(15 minutes)", timedelta(minutes=15)),
        ("rate(1 minute)", timedelta(minutes=1)),
        (" rate( 2 days ) ", timedelta(days=2)),
    ],
)
def test_rates(expression: str, interval: timedelta) -> None:
    assert parse_rate(expression) == interval


@pytest.mark.parametrize("expression", ["rate(0 hours)", "cron(0 * * * ? *)", "rate(1 week)", "hourly", ""])
def test_invalid_rates_are_config_errors(expression: str) -> None:
    with pytest.raises(ConfigError, match="not of the form"):
        parse_rate(expression)


def test_due_tolerates_an_early_tick_but_not_a_redelivery() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    hour = timedelta(hours=1)
    assert is_due(hour, None, now)
    assert is_due(hour, now - timedelta(minutes=59, seconds=58), now)
    assert not is_due(hour, now - timedelta(minutes=45), now)
    assert not is_due(timedelta(minutes=15), now - timedelta(seconds=3), now)
    assert is_due(timedelta(minutes=15), now - timedelta(minutes=14, seconds=50), now)
