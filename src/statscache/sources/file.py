"""The file source: replay JSONL, datagrepper JSON pages, ``.gz`` files, or stdin.

A file is read as one JSON document when it is a datagrepper page
(``{"raw_messages": [...]}``) or a JSON array; otherwise as JSON lines.
Every input line becomes a :class:`Message` or a :class:`Rejected`.
"""

from __future__ import annotations

import gzip
import io
import itertools
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

import orjson

from statscache.message import NOT_OBJECT, Message, Rejected, from_dict, parse_line

Item = Message | Rejected
STDIN = "-"


class SourceError(Exception):
    """A file cannot be read; the message says why in one line."""


def read(path: str, progress: Callable[[int], None] | None = None) -> Iterator[Item]:
    """Yield every message of ``path`` (``-`` for stdin), reporting bytes read to ``progress``."""
    try:
        with _open(path) as (stream, raw):
            document, lines = _shape(stream)
            if document is not None:
                yield from _from_document(document)
                return
            position = 0
            for number, line in enumerate(lines):
                if line.strip():
                    yield _parse(line)
                if progress is not None and number % 1000 == 0:
                    position = _report(raw, position, progress)
            if progress is not None:
                _report(raw, position, progress)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise SourceError(f"{path}: damaged or truncated gzip file ({error})") from None
    except OSError as error:
        raise SourceError(f"{path}: {error.strerror or error}") from None


def _shape(stream: IO[bytes]) -> tuple[Any | None, Iterable[bytes]]:
    """Either one JSON document (a datagrepper page, an array) or an iterable of lines."""
    first = stream.readline()
    head = first.lstrip()
    if head.startswith(b"{"):
        try:
            parsed = orjson.loads(first)
        except orjson.JSONDecodeError:
            return _whole(first + stream.read())  # perhaps a pretty-printed page
        if isinstance(parsed, dict) and "raw_messages" in parsed:
            return parsed, ()
    elif head.startswith(b"["):
        return _whole(first + stream.read())
    return None, itertools.chain([first], stream)


def _whole(text: bytes) -> tuple[Any | None, Iterable[bytes]]:
    try:
        return orjson.loads(text), ()
    except orjson.JSONDecodeError:
        return None, text.splitlines()


@contextmanager
def _open(path: str) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    if path == STDIN:
        raw = sys.stdin.buffer
        yield _maybe_gunzip(raw), raw
        return
    if Path(path).is_dir():
        raise SourceError(f"{path}: is a directory")
    with open(path, "rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw
        yield stream, raw  # type: ignore[misc]


def _maybe_gunzip(raw: IO[bytes]) -> IO[bytes]:
    """Gunzip a stream (stdin) that starts with the gzip magic number."""
    buffered: Any = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=buffered))
    return cast(IO[bytes], buffered)


def _from_document(document: Any) -> Iterator[Item]:
    if isinstance(document, dict) and isinstance(document.get("raw_messages"), list):
        items = document["raw_messages"]
    elif isinstance(document, list):
        items = document
    else:
        yield Rejected(NOT_OBJECT, "a JSON document that is neither a page nor an array")
        return
    for item in items:
        try:
            yield from_dict(item)
        except Rejected as rejected:
            yield rejected


def _parse(line: bytes) -> Item:
    try:
        return parse_line(line)
    except Rejected as rejected:
        return rejected


def _report(raw: IO[bytes], position: int, progress: Callable[[int], None]) -> int:
    try:
        now = raw.tell()
    except (OSError, ValueError):
        return position
    progress(now - position)
    return now
