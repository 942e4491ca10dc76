"""What the web app holds: the store and the installed statistics."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from flask import current_app

from statscache.config import WebConfig
from statscache.plugin import Plugin
from statscache.store import Store


class UnknownStatistic(LookupError):
    """No installed statistic has this ident (HTTP 404)."""


class CountCache:
    """Row counts of recent questions, valid while the statistic's ``updated_at`` is unchanged.

    Counting a window of a million rows is most of a page's cost; dashboards ask the same
    question again and again between flushes.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.entries: OrderedDict[Hashable, int] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> int | None:
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
            return None

    def put(self, key: Hashable, count: int) -> None:
        with self.lock:
            self.entries[key] = count
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


@dataclass(frozen=True)
class State:
    """The app's store and statistics, set up once by the factory."""

    store: Store
    plugins: dict[str, type[Plugin]]
    config: WebConfig
    counts: CountCache = field(default_factory=CountCache)

    @property
    def max_rows_per_page(self) -> int:
        """The largest page a client may ask for."""
        return self.config.max_rows_per_page

    def plugin(self, ident: str) -> type[Plugin]:
        """The statistic ``ident``, or :class:`UnknownStatistic`."""
        try:
            return self.plugins[ident]
        except KeyError:
            raise UnknownStatistic(ident) from None


def state() -> State:
    """The state of the app handling this request."""
    found: State = current_app.extensions["statscache"]
    return found
