"""Contributions to pagure.io: every message pagure.io publishes, per day, user and project."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from statscache.message import Message
from statscache.models import Counter
from statscache.plugin import CounterPlugin

PAGURE_IO = "io.pagure.prod."
DAY = timedelta(days=1)


def is_contribution(message: Message) -> bool:
    """Whether pagure.io (production) published the message, as the 2015 plugins counted."""
    return message.topic.startswith(PAGURE_IO)


def project_name(body: dict[str, Any]) -> str | None:
    """The project's full name (``namespace/name``, or a fork's ``forks/user/name``)."""
    for holder in (body, body.get("pullrequest"), body.get("issue"), body.get("commit")):
        if not isinstance(holder, dict):
            continue
        for key in ("project", "repo"):
            project = holder.get(key)
            if isinstance(project, dict):
                name = _full_name(project)
                if name:
                    return name
    return None


def _full_name(project: dict[str, Any]) -> str | None:
    fullname = project.get("fullname")
    if isinstance(fullname, str) and fullname:
        return fullname
    name = project.get("name")
    if not isinstance(name, str) or not name:
        return None
    namespace = project.get("namespace")
    return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name


class PagureContributions(CounterPlugin):
    """Counts the messages pagure.io publishes (commits, pull requests, issues, comments…) each UTC day."""

    ident = "pagure-contributions-1d"
    name = "Contributions to pagure.io (1d)"
    summary = "Messages from pagure.io per day"
    description = __doc__ or ""
    resolution = DAY
    model = Counter()

    def counts(self, message: Message) -> bool:
        return is_contribution(message)


class PagureContributionsByUser(CounterPlugin):
    """Counts pagure.io messages each UTC day per Fedora account involved."""

    ident = "pagure-contributions-by-user-1d"
    name = "Contributions to pagure.io by user (1d)"
    summary = "Messages from pagure.io per day and user"
    description = __doc__ or ""
    resolution = DAY
    model = Counter(key="user")

    def keys(self, message: Message) -> Iterable[str]:
        return message.usernames if is_contribution(message) else ()


class PagureContributionsByProject(CounterPlugin):
    """Counts pagure.io messages each UTC day per project (``namespace/name``)."""

    ident = "pagure-contributions-by-project-1d"
    name = "Contributions to pagure.io by project (1d)"
    summary = "Messages from pagure.io per day and project"
    description = __doc__ or ""
    resolution = DAY
    model = Counter(key="project")

    def keys(self, message: Message) -> Iterable[str]:
        project = project_name(message.body) if is_contribution(message) else None
        return (project,) if project else ()


PLUGINS = [PagureContributions, PagureContributionsByUser, PagureContributionsByProject]
