"""Who and what a message is about: its usernames and packages.

The fedora-messaging schema class named by the ``fedora_messaging_schema``
header knows best, when its package is installed. Otherwise (fedmsg-era
messages, schemas not installed, or a schema that fails on a malformed body)
the rules of :mod:`statscache.fallback_meta` guess from the topic and body.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from fedora_messaging import message as fm

from statscache import fallback_meta

if TYPE_CHECKING:
    from statscache.message import Message

log = logging.getLogger(__name__)


def names(message: Message) -> tuple[frozenset[str], frozenset[str]]:
    """Usernames and packages from the message's schema (loaded once), else from the fallback rules."""
    schema = _schema_message(message)
    users = _strings(schema, "usernames") if schema is not None else None
    packages = _strings(schema, "packages") if schema is not None else None
    if users is None:
        users = fallback_meta.usernames(message.topic, message.body)
    if packages is None:
        packages = fallback_meta.packages(message.topic, message.body)
    return users, packages


def _schema_message(message: Message) -> fm.Message | None:
    name = message.headers.get("fedora_messaging_schema")
    if not isinstance(name, str) or not schema_installed(name):
        return None
    try:
        return fm.load_message(
            {"id": message.id, "topic": message.topic, "headers": message.headers, "body": message.body}
        )
    except Exception as error:  # noqa: BLE001 - a schema must never stop processing
        log.debug("schema %s could not load message %s: %s", name, message.id, error)
        return None


@lru_cache(maxsize=1024)
def schema_installed(name: str) -> bool:
    """Whether a schema package providing ``name`` is installed (asked once per name)."""
    found = fm.get_class(name) is not fm.Message
    if not found:
        log.info("schema %s is not installed; using the fallback rules for it", name)
    return found


def _strings(schema: fm.Message, attribute: str) -> frozenset[str] | None:
    try:
        values: Iterable[Any] = getattr(schema, attribute) or ()
        return frozenset(value for value in values if isinstance(value, str) and value)
    except Exception as error:  # noqa: BLE001 - schema code runs on untrusted bodies
        log.debug("schema %s.%s failed: %s", type(schema).__name__, attribute, error)
        return None
