"""The datagrepper source: Fedora's archive over HTTP, for back-filling history.

A window ``[start, end]`` (both ends inclusive in datagrepper, so neighbouring
windows overlap at their edges; the ledger counts the shared messages once) is
read page by page, oldest first, until a short page. A page that fails is
retried with exponential backoff and jitter; a window that still answers 502,
504 or times out is reported as *overloaded*, so the caller can halve it
(datagrepper's workers give up after 60 s). Nothing is ever skipped: a window
either yields every page or raises.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from statscache.message import NOT_OBJECT, Message, Rejected, from_dict

log = logging.getLogger(__name__)
FEDORA = "https://apps.fedoraproject.org/datagrepper/"
OVERLOADED = {502, 503, 504}


class WindowFailed(Exception):
    """A window could not be read completely; ``overloaded`` when smaller windows may work."""

    def __init__(self, start: float, end: float, reason: str, overloaded: bool) -> None:
        super().__init__(f"{reason} for the window {start:.0f}..{end:.0f}")
        self.start, self.end, self.reason, self.overloaded = start, end, reason, overloaded


@dataclass
class ClientSettings:
    """How to talk to datagrepper."""

    url: str = FEDORA
    endpoint: str = "raw"  # or "v2/search"
    rows_per_page: int = 100
    timeout: float = 60.0
    retries: int = 4
    backoff: float = 1.0


class DatagrepperClient:
    """Reads windows of history from one datagrepper (thread-safe: one httpx client)."""

    def __init__(self, settings: ClientSettings | None = None) -> None:
        self.settings = settings or ClientSettings()
        base = self.settings.url.rstrip("/") + "/"
        self.http = httpx.Client(base_url=base, timeout=self.settings.timeout, headers={"Accept": "application/json"})

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def window(self, start: float, end: float) -> list[Message | Rejected]:
        """Every message with ``start <= timestamp <= end``, oldest first, or :class:`WindowFailed`.

        Rows the archive receives while a window is walked shift its pages: one
        landing before the page being read would be missed, so a walk that ends
        with fewer distinct messages than the archive's ``total`` is walked again
        (what both walks saw is one message).
        """
        seen: dict[str, Message | Rejected] = {}
        for _ in range(4):
            total = self._walk(start, end, seen)
            if total is None or len(seen) >= total:
                break
            log.info("the archive grew during %.0f..%.0f; walking it again", start, end)
        return list(seen.values())

    def _walk(self, start: float, end: float, seen: dict[str, Message | Rejected]) -> int | None:
        """Read every page once into ``seen``; the archive's total, if it says."""
        page = 1
        while True:
            raw = self._page(start, end, page)
            for entry in raw["messages"]:
                item = _message(entry)
                seen.setdefault(item.id if isinstance(item, Message) else _fingerprint(entry), item)
            if len(raw["messages"]) < self.settings.rows_per_page or page >= raw["pages"]:
                total: int | None = raw["total"]
                return total
            page += 1

    def _page(self, start: float, end: float, page: int) -> dict[str, Any]:
        params: dict[str, str | int] = {
            "start": f"{start:.6f}",
            "end": f"{end:.6f}",
            "order": "asc",
            "rows_per_page": self.settings.rows_per_page,
            "page": page,
        }
        reason = ""
        for attempt in range(self.settings.retries + 1):
            if attempt:
                time.sleep(self.settings.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
            try:
                response = self.http.get(self.settings.endpoint, params=params)
            except httpx.TimeoutException:
                reason, overloaded = "timed out", True
                continue
            except httpx.TransportError as error:
                reason, overloaded = f"cannot reach datagrepper ({error})", False
                continue
            if response.status_code == 200:
                try:
                    return _envelope(response.json())
                except (ValueError, KeyError, TypeError) as error:
                    reason, overloaded = f"unreadable page ({error})", False
                    continue
            overloaded = response.status_code in OVERLOADED
            reason = f"HTTP {response.status_code}"
            if 400 <= response.status_code < 500:
                break  # our request is wrong: retrying will not help
            log.info("datagrepper page %d of %.0f..%.0f: %s; retrying", page, start, end, reason)
        raise WindowFailed(start, end, reason, overloaded)


def _envelope(data: Any) -> dict[str, Any]:
    """``{"messages": [...], "pages": n}`` from a ``/raw`` or ``/v2/search`` answer."""
    messages = data["raw_messages"] if "raw_messages" in data else data["messages"]
    if not isinstance(messages, list):
        raise TypeError("raw_messages is not a list")
    pages, total = data.get("pages"), data.get("total")
    return {
        "messages": messages,
        "pages": pages if isinstance(pages, int) else 10**9,
        "total": total if isinstance(total, int) else None,
    }


def _fingerprint(entry: Any) -> str:
    """A stable key for a row that is not a message, so a second walk does not count it again."""
    try:
        return "rejected-" + orjson.dumps(entry, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return "rejected-" + repr(entry)


def _message(entry: Any) -> Message | Rejected:
    if not isinstance(entry, dict):
        return Rejected(NOT_OBJECT, type(entry).__name__)
    try:
        return from_dict(entry)
    except Rejected as rejected:
        return rejected
