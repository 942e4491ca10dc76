"""Active users: the distinct Fedora accounts seen per day and per week."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from statscache.buckets import MONDAY_OFFSET
from statscache.message import Message
from statscache.models import Distinct
from statscache.plugin import DistinctPlugin


class ActiveUsers(DistinctPlugin):
    """Base: distinct usernames per bucket."""

    model = Distinct(value="users")

    def members(self, message: Message) -> Iterable[str]:
        return message.usernames


class ActiveUsersDaily(ActiveUsers):
    """The number of distinct Fedora accounts that appear in messages each UTC day."""

    ident = "active-users-1d"
    name = "Active users (1d)"
    summary = "Distinct users seen per day"
    description = __doc__ or ""
    resolution = timedelta(days=1)


class ActiveUsersWeekly(ActiveUsers):
    """The number of distinct Fedora accounts that appear in messages each week (Monday 00:00 UTC on)."""

    ident = "active-users-1w"
    name = "Active users (1w)"
    summary = "Distinct users seen per week, weeks starting Monday"
    description = __doc__ or ""
    resolution = timedelta(weeks=1)
    bucket_offset = MONDAY_OFFSET


PLUGINS = [ActiveUsersDaily, ActiveUsersWeekly]
