"""The capture spool: how captured lines leave the request path.

The inference function appends each sampled request's capture lines to a segment file in a spool
directory (``/tmp/mlops-capture`` in Lambda): one ``os.write`` of a few hundred bytes per request,
into the page cache. The capture extension (``mlops.serving.extension``), a separate process in the
same execution environment, reads the lines back, packs them into Firehose records and sends them,
off the request path; it records how far it got so a restart neither loses nor resends much.

Layout: ``<seq>.jsonl`` segments (12-digit sequence numbers) written in order by one process at a
time (Lambda runs one runtime process per environment), and ``progress.json``, the reader's
``{"segment", "offset"}``. The writer starts a new segment past ``SEGMENT_BYTES``; a segment is
complete once a later one exists, and the reader deletes a complete segment it has read to the end.
Lines are written whole, newline-terminated, so the reader takes everything up to the last newline
and leaves a write still in progress for its next pass.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

SEGMENT_BYTES = 4 * 1024 * 1024
# At most this many segments wait (256 MiB of Lambda's 512 MiB /tmp): past it the extension has not
# shipped for a long while, and new captures fail (logged and counted) instead of filling the disk.
MAX_SEGMENTS = 64
SUFFIX = ".jsonl"
PROGRESS = "progress.json"


def _segments(directory: Path) -> list[int]:
    numbers = []
    for path in directory.glob(f"*{SUFFIX}"):
        stem = path.name[: -len(SUFFIX)]
        if stem.isdigit():
            numbers.append(int(stem))
    return sorted(numbers)


def segment_path(directory: Path, number: int) -> Path:
    return directory / f"{number:012d}{SUFFIX}"


class SpoolFull(Exception):
    """The spool holds ``MAX_SEGMENTS`` unsent segments."""


class SpoolWriter:
    """The function's side: a ``CaptureSink`` that appends packed capture records to the spool.

    One writer per directory and process (``writer_for``): two would each take a segment of their own,
    and the reader would take the earlier one for complete while it still grows.
    """

    def __init__(self, directory: str | Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()  # the local API server runs requests in threads
        self._fd = -1
        self._segment = 0
        self._size = 0

    def _open_next(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = _segments(self.directory)
        if len(existing) >= MAX_SEGMENTS:
            raise SpoolFull(
                f"The capture spool holds {len(existing)} unsent segments; is the extension running?"
            )
        # Past every segment on disk: a segment another (earlier) process wrote is never appended to.
        self._segment = max([self._segment, *existing]) + 1
        path = segment_path(self.directory, self._segment)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0

    def put(self, records: list[bytes]) -> None:
        data = b"".join(records)
        with self._lock:
            if self._fd < 0 or self._size >= self.segment_bytes:
                self._open_next()
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self._size += len(data)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


@dataclass
class Progress:
    segment: int = 0
    offset: int = 0


class SpoolReader:
    """The extension's side: hands every complete line written so far to ``send`` exactly once, unless
    the process stops between a send and the record of its progress (then the next reader resends
    that batch: at least once)."""

    def __init__(self, directory: str | Path, max_batch_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.max_batch_bytes = max_batch_bytes
        self._lock = threading.Lock()
        self.progress = self._load_progress()
        self.dropped = 0  # lines too long to ever deliver

    def _load_progress(self) -> Progress:
        try:
            saved = json.loads((self.directory / PROGRESS).read_text(encoding="utf-8"))
            return Progress(int(saved["segment"]), int(saved["offset"]))
        except (OSError, ValueError, KeyError, TypeError):
            return Progress()

    def _save_progress(self) -> None:
        temporary = self.directory / f".{PROGRESS}.tmp"
        temporary.write_text(json.dumps(self.progress.__dict__), encoding="utf-8")
        os.replace(temporary, self.directory / PROGRESS)

    def pending_bytes(self) -> int:
        """Bytes written and not yet sent (including a line still being written)."""
        total = 0
        for number in _segments(self.directory):
            if number < self.progress.segment:
                continue
            try:
                size = segment_path(self.directory, number).stat().st_size
            except FileNotFoundError:
                continue
            total += size - (self.progress.offset if number == self.progress.segment else 0)
        return total

    def drain(self, send: Callable[[list[bytes]], None]) -> int:
        """Send every complete line on disk, in order; returns the lines sent. A failing ``send``
        stops the drain with its exception, and what it did not take stays for the next one."""
        with self._lock:
            sent = 0
            for number in _segments(self.directory):
                if number < self.progress.segment:
                    segment_path(self.directory, number).unlink(missing_ok=True)  # sent before a crash
                    continue
                sent += self._drain_segment(number, send)
            return sent

    def _skip_line(self, segment: BinaryIO) -> int:
        """Bytes up to and including the next newline from the current offset (or to the end)."""
        segment.seek(self.progress.offset)
        skipped = 0
        while chunk := segment.read(1024 * 1024):
            end = chunk.find(b"\n")
            if end >= 0:
                return skipped + end + 1
            skipped += len(chunk)
        return skipped

    def _drain_segment(self, number: int, send: Callable[[list[bytes]], None]) -> int:
        path = segment_path(self.directory, number)
        if number != self.progress.segment:
            self.progress = Progress(number, 0)
        sent = 0
        with open(path, "rb") as segment:
            while True:
                segment.seek(self.progress.offset)
                chunk = segment.read(self.max_batch_bytes)
                end = chunk.rfind(b"\n") + 1
                if end == 0 and len(chunk) == self.max_batch_bytes:
                    # One line longer than a batch, far past what Firehose takes in a record: it can
                    # never be delivered, and must not hold back the lines after it.
                    self.progress.offset += self._skip_line(segment)
                    self.dropped += 1
                    self._save_progress()
                    continue
                if end == 0:
                    break
                lines = [line for line in chunk[:end].split(b"\n") if line]
                send(lines)
                sent += len(lines)
                self.progress.offset += end
                self._save_progress()
        later = any(n > number for n in _segments(self.directory))
        if later and self.progress.offset >= path.stat().st_size:
            # Complete (the writer has moved on) and read to its end.
            path.unlink(missing_ok=True)
        return sent


_writers: dict[Path, SpoolWriter] = {}
_writers_lock = threading.Lock()


def writer_for(directory: str | Path) -> SpoolWriter:
    """This process's writer of ``directory``."""
    path = Path(directory).resolve()
    with _writers_lock:
        writer = _writers.get(path)
        if writer is None:
            writer = _writers[path] = SpoolWriter(path)
        return writer
