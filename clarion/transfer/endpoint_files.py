"""Endpoint files in Pinpoint's import formats, read as a stream of rows.

CSV: a header row in dot notation (`Location.Country`, `User.UserAttributes.plan`,
`Attributes.interests`); a repeated header gives a multi-valued attribute; empty cells are
skipped. JSON: one endpoint object per line (an EndpointRequest, or an EndpointResponse as
export files hold; server-kept fields are dropped). Gzip'd files are read transparently, so
Clarion's and Pinpoint's export files import as they are.

Each row comes out as (line number, endpoint dict) or (line number, error message).
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
from collections.abc import Iterator
from typing import NamedTuple

import orjson

# Kept by the server, never imported (reference §1.8): dropped from JSON rows.
SERVER_FIELDS = ("ApplicationId", "CohortId", "CreationDate", "EffectiveDate", "EndpointStatus", "RequestId",
                 "CommandId", "Message")
NUMERIC = {("Location", "Latitude"), ("Location", "Longitude")}
LIST_MAPS = {"Attributes", "UserAttributes"}
EXTENSIONS = {"CSV": (".csv",), "JSON": (".json", ".jsonl", ".ndjson")}


def matches_format(name: str, file_format: str) -> bool:
    """Only files of the job's format are read (a `.gz` suffix is looked through)."""
    lowered = name.lower()
    if lowered.endswith(".gz"):
        lowered = lowered[:-3]
        if file_format == "JSON" and "." not in lowered.rsplit("/", 1)[-1]:
            return True  # Pinpoint's export files: gzip'd newline JSON named <id>.gz
    return lowered.endswith(EXTENSIONS[file_format])


def read_rows(stream: io.BufferedIOBase, file_format: str, skip: int = 0) -> Iterator[tuple[int, dict | str]]:
    """Rows after the first `skip` data rows (a resumed job skips what it already did)."""
    stream = _maybe_gunzip(stream)
    rows = _csv_rows(stream) if file_format == "CSV" else _json_rows(stream)
    for number, row in rows:
        if number > skip:
            yield number, row


def _maybe_gunzip(stream: io.BufferedIOBase) -> io.BufferedIOBase:
    peek = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
    return gzip.GzipFile(fileobj=stream) if peek == b"\x1f\x8b" else stream


def _json_rows(stream) -> Iterator[tuple[int, dict | str]]:
    number = 0
    for line in stream:
        if not line.strip():
            continue
        number += 1
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, f"line {number}: not valid JSON ({exc})"
            continue
        if not isinstance(value, dict):
            yield number, f"line {number}: expected a JSON object"
            continue
        for field in SERVER_FIELDS:
            value.pop(field, None)
        yield number, value


def _csv_rows(stream) -> Iterator[tuple[int, dict | str]]:
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
    header = next(reader, None)
    if not header:
        return
    columns = [_Column.of(h) for h in header]
    plan = _Plan.of(columns)
    endpoint_of = plan.endpoint if plan is not None else functools.partial(_csv_endpoint, columns)
    width = len(columns)
    for number, cells in enumerate(reader, start=1):
        if len(cells) > width:
            if "".join(cells).strip():  # a blank line is skipped, however wide
                yield number, f"line {number}: {len(cells)} values for {width} columns"
            continue
        try:
            endpoint = endpoint_of(cells)
        except ValueError as exc:
            yield number, f"line {number}: {exc}"
            continue
        if endpoint:  # else every cell was blank: a blank line
            yield number, endpoint


TEXT, LIST, NUMBER = range(3)


class _Column(NamedTuple):
    """Where a CSV column's values go, worked out once from its header."""

    parents: tuple[str, ...]
    leaf: str
    kind: int  # TEXT, LIST (a repeated header adds values) or NUMBER
    path: str

    @classmethod
    def of(cls, header: str) -> "_Column":
        *parents, leaf = path = tuple(header.strip().split("."))
        if parents and parents[-1] in LIST_MAPS:
            kind = LIST
        elif parents and parents[-1] == "Metrics" or path in NUMERIC:
            kind = NUMBER
        else:
            kind = TEXT
        return cls(tuple(parents), leaf, kind, ".".join(path))


class _Plan(NamedTuple):
    """The columns compiled for the common header, where no column's value sits where another
    column nests (no `Location` beside `Location.City`): per column, the slot of the object
    it fills, its leaf name, kind and path. Slot 0 is the endpoint; every other slot is a
    nested object, made on the row's first value in it, inside its parent slot."""

    cells: tuple[tuple[int, str, int, str], ...]
    parents: tuple[tuple[int, str], ...]  # slot -> (parent slot, member name); slot 0 unused

    @classmethod
    def of(cls, columns: list[_Column]) -> "_Plan | None":
        """The plan, or None for a header it cannot serve (`_csv_endpoint` reads those)."""
        leaves = {(*c.parents, c.leaf) for c in columns}
        slots, parents = {(): 0}, [(0, "")]
        for column in columns:
            for depth in range(1, len(column.parents) + 1):
                path = column.parents[:depth]
                if path in leaves:
                    return None
                if path not in slots:
                    slots[path] = len(parents)
                    parents.append((slots[path[:-1]], path[-1]))
        return cls(tuple((slots[c.parents], c.leaf, c.kind, c.path) for c in columns), tuple(parents))

    def endpoint(self, cells: list[str]) -> dict:
        """What `_csv_endpoint` makes of the row, without walking each column's path."""
        endpoint: dict = {}
        made = [endpoint] + [None] * (len(self.parents) - 1)
        for (slot, leaf, kind, path), cell in zip(self.cells, cells):
            value = cell.strip()
            if not value:
                continue
            target = made[slot]
            if target is None:
                target = self._open(made, slot)
            if kind == TEXT:
                target[leaf] = value
            elif kind == LIST:
                values = target.get(leaf)
                if values is None:
                    target[leaf] = [value]
                else:
                    values.append(value)
            else:
                try:
                    target[leaf] = float(value)
                except ValueError:
                    raise ValueError(f"{path} must be a number, got {value!r}") from None
        return endpoint

    def _open(self, made: list, slot: int) -> dict:
        parent_slot, name = self.parents[slot]
        parent = made[parent_slot]
        if parent is None:
            parent = self._open(made, parent_slot)
        made[slot] = parent[name] = {}
        return made[slot]


def _csv_endpoint(columns: list[_Column], cells: list[str]) -> dict:
    endpoint: dict = {}
    for column, cell in zip(columns, cells):
        value = cell.strip()
        if not value:
            continue
        target = endpoint
        for part in column.parents:
            inner = target.get(part)
            if inner is None:
                inner = target[part] = {}
            target = inner
        kind = column.kind
        if kind == TEXT:
            target[column.leaf] = value
        elif kind == LIST:
            target.setdefault(column.leaf, []).append(value)
        else:
            try:
                target[column.leaf] = float(value)
            except ValueError:
                raise ValueError(f"{column.path} must be a number, got {value!r}") from None
    return endpoint
