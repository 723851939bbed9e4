"""The capture spool: the function appends, the extension reads back every line once, in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.serving import spool
from mlops.serving.capture_writer import Capture, capture_lines, pack
from mlops.serving.extension import Shipper
from mlops.serving.spool import SpoolFull, SpoolReader, SpoolWriter


def lines_of(request: int, rows: int = 2) -> list[bytes]:
    return [
        json.dumps({"request_id": f"r{request}", "model": "churn", "row": r}).encode() for r in range(rows)
    ]


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.batches: list[list[bytes]] = []
        self.fail_times = fail_times

    def __call__(self, lines: list[bytes]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("Firehose is unreachable")
        self.batches.append(list(lines))

    @property
    def lines(self) -> list[bytes]:
        return [line for batch in self.batches for line in batch]


def test_every_line_comes_back_once_in_order_across_segments(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, segment_bytes=300)
    written: list[bytes] = []
    for request in range(20):
        lines = lines_of(request)
        writer.put(pack(lines))
        written.extend(lines)
    assert len(list(tmp_path.glob("*.jsonl"))) > 3  # it rotated
    sent = Recorder()
    assert SpoolReader(tmp_path).drain(sent) == len(written)
    assert sent.lines == written
    # Read to the end and complete: every segment but the one still written is gone.
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    assert SpoolReader(tmp_path).drain(sent) == 0  # a restarted reader resumes: nothing sent twice
    writer.put(pack(lines_of(99)))
    assert SpoolReader(tmp_path).drain(sent) == 2
    assert sent.lines == [*written, *lines_of(99)]


def test_a_failed_shipment_keeps_its_lines_for_the_next_one(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.put(pack(lines_of(1)))
    reader = SpoolReader(tmp_path)
    failing = Recorder(fail_times=1)
    with pytest.raises(ConnectionError):
        reader.drain(failing)
    assert reader.pending_bytes() > 0
    assert reader.drain(failing) == 2
    assert failing.lines == lines_of(1)
    assert reader.pending_bytes() == 0


def test_a_write_in_progress_waits_for_its_newline(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.put(pack(lines_of(1)))
    half = b'{"request_id": "r2", "mod'
    writer.put([half])  # what a reader sees halfway through a write
    sent = Recorder()
    reader = SpoolReader(tmp_path)
    assert reader.drain(sent) == 2
    writer.put([b'el": "churn", "row": 0}\n'])
    assert reader.drain(sent) == 1
    assert json.loads(sent.lines[-1]) == {"request_id": "r2", "model": "churn", "row": 0}


def test_a_line_too_long_to_deliver_is_dropped_and_the_rest_still_ship(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.put([b"x" * 5000 + b"\n", *pack(lines_of(1))])
    reader = SpoolReader(tmp_path, max_batch_bytes=1024)
    sent = Recorder()
    reader.drain(sent)
    assert sent.lines == lines_of(1)
    assert reader.dropped == 1


def test_a_full_spool_fails_the_capture_not_the_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(spool, "MAX_SEGMENTS", 2)
    writer = SpoolWriter(tmp_path, segment_bytes=10)
    writer.put(pack(lines_of(1)))
    writer.put(pack(lines_of(2)))
    with pytest.raises(SpoolFull):
        writer.put(pack(lines_of(3)))
    Capture(writer, sample_rate=1.0).capture("r4", "churn", 1, lambda: [{"a": 1.0}], ["no"], None)
    assert "Could not capture a request" in caplog.text


def test_the_spool_holds_the_capture_format(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    writer = SpoolWriter(tmp_path)
    lines = capture_lines("r", "churn", 3, datetime.now(UTC), [{"a": 1.0}], ["no"], [[0.4, 0.6]])
    Capture(writer, sample_rate=1.0).capture("r", "churn", 3, lambda: [{"a": 1.0}], ["no"], [[0.4, 0.6]])
    sent = Recorder()
    SpoolReader(tmp_path).drain(sent)
    (line,) = sent.lines
    got, expected = json.loads(line), json.loads(lines[0])
    assert got.pop("timestamp") and expected.pop("timestamp")
    assert got == expected


def test_the_extension_ships_once_lines_have_waited_the_flush_interval(tmp_path: Path) -> None:
    now = [0.0]
    sent = Recorder()
    shipper = Shipper(str(tmp_path), sent, flush_interval_s=10, clock=lambda: now[0])
    assert not shipper.due()  # nothing spooled
    SpoolWriter(tmp_path).put(pack(lines_of(1)))
    assert not shipper.due()  # seen now: waits the interval, to send many requests in one call
    now[0] = 9.9
    assert not shipper.due()
    now[0] = 10.0
    assert shipper.due()
    assert shipper.ship() and sent.lines == lines_of(1)
    assert not shipper.due()


def test_a_failed_shipment_is_reported_and_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sent = Recorder(fail_times=1)
    shipper = Shipper(str(tmp_path), sent, flush_interval_s=0)
    SpoolWriter(tmp_path).put(pack(lines_of(1)))
    assert not shipper.ship()
    assert "Could not capture a request" in caplog.text
    assert shipper.ship_all(deadline=float("inf"))
    assert sent.lines == lines_of(1)
