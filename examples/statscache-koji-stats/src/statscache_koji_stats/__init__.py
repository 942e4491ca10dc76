"""Koji build statistics for statscache: an example of an external plugin package."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from statscache.message import Message
from statscache.models import Counter
from statscache.plugin import CounterPlugin

BUILD_STATE_CHANGE = "buildsys.build.state.change"
COMPLETE = 1  # koji's build state number for COMPLETE


def is_finished_build(message: Message) -> bool:
    """A koji build that reached COMPLETE."""
    return message.topic.endswith(BUILD_STATE_CHANGE) and message.body.get("new") == COMPLETE


class KojiBuilds(CounterPlugin):
    """Koji builds completed per hour."""

    ident = "koji-builds-1h"
    name = "Koji builds (1h)"
    summary = "Completed koji builds per hour"
    description = __doc__ or ""
    resolution = timedelta(hours=1)
    model = Counter()

    def counts(self, message: Message) -> bool:
        return is_finished_build(message)


class KojiBuildsByOwner(CounterPlugin):
    """Koji builds completed per day, by the build's owner."""

    ident = "koji-builds-by-owner-1d"
    name = "Koji builds by owner (1d)"
    summary = "Completed koji builds per day and owner"
    description = __doc__ or ""
    resolution = timedelta(days=1)
    backlog_delta = timedelta(days=90)
    model = Counter(key="user")

    def keys(self, message: Message) -> Iterable[str]:
        owner = message.body.get("owner")
        return (owner,) if is_finished_build(message) and isinstance(owner, str) and owner else ()


PLUGINS = [KojiBuilds, KojiBuildsByOwner]
