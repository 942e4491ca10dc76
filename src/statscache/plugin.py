"""The plugin API: one plugin computes one statistic.

A plugin class declares what it is (``ident``, ``name``, ``summary``,
``description``, ``resolution``, ``backlog_delta``, ``family``) and which model kind holds
its results (``model``). ``process(message)`` accumulates deltas in memory;
the store merges them into SQL at each flush.

Plugins are found through the ``statscache.plugin`` entry-point group; an
entry point names one plugin class or an iterable of them. The built-in
statistics are registered through that same group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from importlib.metadata import entry_points
from operator import attrgetter
from typing import Any, ClassVar

from statscache.buckets import bucket_start
from statscache.message import Message
from statscache.models import Counter, Distinct, Latest, ModelKind

ENTRY_POINT_GROUP = "statscache.plugin"
IDENT = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class PluginError(Exception):
    """A plugin is malformed or cannot be loaded."""


class Plugin:
    """Base class of every statistic."""

    ident: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str] = ""
    description: ClassVar[str] = ""
    resolution: ClassVar[timedelta | None] = None
    backlog_delta: ClassVar[timedelta | None] = None
    model: ClassVar[ModelKind]
    # statistics of one family count the same thing at different resolutions; reads past
    # a fine member's retention are answered from a coarser one (see statscache.retention)
    family: ClassVar[str | None] = None

    def __init__(self) -> None:
        self.deltas: Any = self.model.new_deltas()

    def process(self, message: Message) -> None:
        """Accumulate this message's contribution into ``self.deltas``."""
        raise NotImplementedError

    def process_many(self, messages: Sequence[Message]) -> None:
        """Accumulate many messages (the store calls this; override it for speed)."""
        for message in messages:
            self.process(message)

    def take_deltas(self) -> Any:
        """Hand over the pending deltas and start afresh."""
        deltas, self.deltas = self.deltas, self.model.new_deltas()
        return deltas

    @classmethod
    def table_name(cls) -> str:
        """The SQL table holding this plugin's rows (derived from the stable ident)."""
        return "stat_" + cls.ident.replace("-", "_")

    @classmethod
    def resolution_seconds(cls) -> int | None:
        """The bucket size in whole seconds (None for a statistic without buckets)."""
        return _seconds(cls.resolution)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """What ``statscache plugins`` and the web index show about this plugin."""
        return {
            "ident": cls.ident,
            "name": cls.name,
            "summary": cls.summary,
            "description": cls.description.strip(),
            "resolution": cls.resolution_seconds(),
            "backlog_delta": _seconds(cls.backlog_delta),
            "kind": cls.model.kind,
            "columns": cls.model.columns,
        }


class CounterPlugin(Plugin):
    """Counts messages per bucket, optionally per key.

    A keyed counter names where its keys come from: ``key_of``, a Message
    attribute holding one key (``"category"``); ``keys_of``, one holding a set
    (``"usernames"``); or an override of :meth:`keys` for anything else.
    A keyless counter counts every message, or those :meth:`counts` accepts.
    """

    model: ClassVar[Counter]
    bucket_offset: ClassVar[int] = 0
    key_of: ClassVar[str | None] = None
    keys_of: ClassVar[str | None] = None

    def __init__(self) -> None:
        super().__init__()
        self._seconds = _bucket_seconds(self)

    def process(self, message: Message) -> None:
        self.process_many((message,))

    def process_many(self, messages: Sequence[Message]) -> None:
        seconds, offset, deltas = self._seconds, self.bucket_offset, self.deltas
        buckets = [int((m.epoch - offset) // seconds) * seconds + offset for m in messages]
        if self.model.key is None:
            if type(self).counts is CounterPlugin.counts:
                deltas.update(buckets)
            else:
                deltas.update(b for b, m in zip(buckets, messages, strict=True) if self.counts(m))
        elif self.key_of is not None:
            deltas.update(zip(buckets, map(attrgetter(self.key_of), messages), strict=True))
        else:
            keys = attrgetter(self.keys_of) if self.keys_of is not None else self.keys
            deltas.update((b, k) for b, m in zip(buckets, messages, strict=True) for k in keys(m))

    def counts(self, message: Message) -> bool:
        """Whether a keyless counter counts this message (all, by default)."""
        return True

    def keys(self, message: Message) -> Iterable[str]:
        """The keys this message counts towards (once each)."""
        raise NotImplementedError


class DistinctPlugin(Plugin):
    """Collects the distinct members (see :meth:`members`) seen per bucket."""

    model: ClassVar[Distinct]
    bucket_offset: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        self._seconds = _bucket_seconds(self)

    def process(self, message: Message) -> None:
        bucket = bucket_start(message.epoch, self._seconds, self.bucket_offset)
        for member in self.members(message):
            self.deltas.add((bucket, member[:255]))

    def members(self, message: Message) -> Iterable[str]:
        """The members this message shows as present."""
        raise NotImplementedError


class LatestPlugin(Plugin):
    """Keeps the newest event per ``(category, constraint)`` (see :meth:`events`)."""

    model: ClassVar[Latest]

    def process(self, message: Message) -> None:
        for key in self.events(message):
            Latest.offer(self.deltas, key, message.epoch, message.id, message.as_dict())

    def events(self, message: Message) -> Iterable[tuple[str, str]]:
        """The ``(category, constraint)`` pairs this message is the latest event of."""
        raise NotImplementedError


def discover(only: Iterable[str] | None = None) -> list[type[Plugin]]:
    """Load every plugin class registered in the entry-point group, sorted by ident.

    ``only`` restricts the result to those idents (unknown ones are an error).
    """
    found: dict[str, type[Plugin]] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry_point.load()
        except Exception as error:  # noqa: BLE001 - name the broken plugin, keep going is wrong
            raise PluginError(f"plugin entry point {entry_point.name!r} failed to load: {error}") from error
        for cls in _classes(loaded, entry_point.name):
            validate(cls)
            if cls.ident in found and found[cls.ident] is not cls:
                raise PluginError(f"two plugins claim the ident {cls.ident!r}")
            found[cls.ident] = cls
    if only is not None:
        wanted = list(only)
        unknown = sorted(set(wanted) - set(found))
        if unknown:
            raise PluginError(f"unknown plugin: {', '.join(unknown)}")
        found = {ident: found[ident] for ident in wanted}
    return [found[ident] for ident in sorted(found)]


def _classes(loaded: Any, name: str) -> Iterator[type[Plugin]]:
    items = [loaded] if isinstance(loaded, type) else list(loaded)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, Plugin)):
            raise PluginError(f"entry point {name!r} gave {item!r}, which is not a Plugin class")
        yield item


def validate(cls: type[Plugin]) -> None:
    """Check a plugin class declares what the API requires."""
    ident = getattr(cls, "ident", None)
    if not isinstance(ident, str) or not IDENT.match(ident):
        raise PluginError(f"{cls.__name__}: ident {ident!r} is not lowercase-and-dashes URL-safe")
    if not isinstance(getattr(cls, "model", None), ModelKind):
        raise PluginError(f"{ident}: model must be a ModelKind instance")
    if not isinstance(getattr(cls, "name", None), str):
        raise PluginError(f"{ident}: name must be a string")
    if issubclass(cls, CounterPlugin | DistinctPlugin):
        _bucket_seconds(cls)


def _bucket_seconds(plugin: type[Plugin] | Plugin) -> int:
    """A bucketing plugin's resolution in whole seconds (at least one)."""
    resolution = plugin.resolution
    seconds = int(resolution.total_seconds()) if isinstance(resolution, timedelta) else 0
    if seconds < 1 or resolution != timedelta(seconds=seconds):
        raise PluginError(f"{plugin.ident}: resolution must be a whole number of seconds, at least one")
    return seconds


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())
