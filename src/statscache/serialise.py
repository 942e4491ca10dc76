"""Rows to bytes: the one place statistics are serialised (CLI and web alike)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import orjson

from statscache.models import Row

FORMATS = ("json", "csv")


def to_json(rows: Sequence[Row]) -> bytes:
    """A JSON array of row objects."""
    return orjson.dumps(list(rows), option=orjson.OPT_NON_STR_KEYS)


def to_csv(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """CSV with a header row; nested values (a message) are JSON-encoded."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return out.getvalue()


def _cell(value: object) -> object:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return "" if value is None else value
