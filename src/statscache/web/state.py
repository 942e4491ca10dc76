"""What the web app holds: the store and the installed statistics."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from statscache.plugin import Plugin
from statscache.store import Store


class UnknownStatistic(LookupError):
    """No installed statistic has this ident (HTTP 404)."""


@dataclass(frozen=True)
class State:
    """The app's store and statistics, set up once by the factory."""

    store: Store
    plugins: dict[str, type[Plugin]]
    max_rows_per_page: int

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
