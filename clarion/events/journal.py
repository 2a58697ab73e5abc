"""The ingest journal: accepted events are made durable here, then loaded into DuckDB in bulk.

A DuckDB statement costs milliseconds whatever its size, so committing each request to DuckDB
would spend most of the time on that fixed cost. Instead each request's rows are appended to
the current journal segment (newline-delimited JSON in the `rows` format, plus a names line
`{"n": [[app id, kind, name], ...]}` when the request brings new names): once the write
returns, the events survive the process being killed (kill -9, out of memory, a crash), and the
202 may be sent. Segments are closed every fraction of a second (or when large) and loaded into
DuckDB by one loader, tens of thousands of events per statement; that load's commit syncs them
to disk. As with the SQL store (SQLite in WAL mode with synchronous=NORMAL), only a power cut
can lose the last fraction of a second of accepted events: syncing every write to disk would
make each request wait for the disk (milliseconds, and far longer while DuckDB checkpoints).

Segments are files `<seq>.ndjson` in one directory, numbered in order. The store records the
last loaded number in the same transaction as its rows, so after a crash every segment above
it is loaded again exactly once, and a segment cut short by the crash loses only its unfinished
last line (which no client was told was stored).
"""

from __future__ import annotations

import os
import time
from pathlib import Path


class Journal:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = self.segments()
        self._next = (self.seq(existing[-1]) + 1) if existing else 1
        self._fd: int | None = None
        self._path: Path | None = None
        self.events = 0  # in the open segment
        self.names = False  # whether the open segment holds names lines
        self.opened_at = 0.0  # monotonic time of the open segment's first append

    @staticmethod
    def seq(path: Path) -> int:
        return int(path.stem)

    def segments(self) -> list[Path]:
        """The segment files on disk, oldest first."""
        return sorted(self.directory.glob("*.ndjson"), key=self.seq)

    def append(self, data: bytes, events: int, names: bool = False) -> None:
        """Write `data` (whole lines) to the open segment: safe from a crash of this process."""
        if self._fd is None:
            self._path = self.directory / f"{self._next:012d}.ndjson"
            self._next += 1
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self.opened_at = time.monotonic()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self.events += events
        self.names = self.names or names

    def due(self, seconds: float) -> bool:
        """Whether a segment is open and was opened at least `seconds` ago."""
        return self._fd is not None and time.monotonic() - self.opened_at >= seconds

    def rotate(self) -> Path | None:
        """Close the open segment and return it (None when nothing was written since)."""
        if self._fd is None:
            return None
        os.close(self._fd)
        path, self._fd, self._path, self.events, self.names = self._path, None, None, 0, False
        return path

    @staticmethod
    def repair(path: Path) -> None:
        """Cut an unfinished last line (a write interrupted by a crash)."""
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            with open(path, "r+b") as f:
                f.truncate(end)
