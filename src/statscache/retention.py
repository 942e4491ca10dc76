"""Retention: drop a fine statistic's old buckets, and answer reads past them from a coarser one.

A :class:`Policy` says how long each resolution's buckets are kept (resolutions it
does not name are kept forever). The daemon enforces it periodically with
:func:`enforce`. A statistic is trimmed only when a coarser member of its family
(:attr:`statscache.plugin.Plugin.family`: the same counts at another resolution)
keeps its buckets longer, so old counts are coarsened, never lost.

Each trim records the statistic's ``retained_from`` and stamps its ``updated_at``
(so the web app's caches drop). :func:`route` sends a read that reaches before
``retained_from`` to the finest coarser member still holding the window, through
the API's ``resolution`` roll-up, and says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from statscache.buckets import bucket_start, iso, label, parse_duration
from statscache.models import Window
from statscache.plugin import Plugin
from statscache.store import Store

log = logging.getLogger(__name__)

DAY = 86400.0
FOREVER = "forever"
DEFAULTS: dict[str, float | str] = {"1s": 2, "5s": 2, "15s": 2, "1m": 90}  # days; coarser: forever


class PolicyError(ValueError):
    """A retention table that cannot be used; the message says why."""


@dataclass(frozen=True)
class Policy:
    """Seconds each resolution (in seconds) keeps its buckets; absent means forever."""

    keep: Mapping[int, float]

    @classmethod
    def parse(cls, table: Mapping[str, Any]) -> Policy:
        """From ``{"1s": 2, "1m": 90, "1h": "forever"}`` (days), on top of :data:`DEFAULTS`."""
        keep: dict[int, float] = {}
        for name, days in {**DEFAULTS, **table}.items():
            seconds = parse_duration(name)
            if seconds is None:
                raise PolicyError(f"retention: {name!r} is not a resolution like 1s, 15s, 1m or 1h")
            if days == FOREVER:
                continue
            if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days < math.inf:
                raise PolicyError(f"retention: {name} must be a positive number of days or {FOREVER!r}, not {days!r}")
            keep[seconds] = float(days) * DAY
        return cls(keep)

    def seconds(self, plugin: type[Plugin]) -> float | None:
        """How long ``plugin`` keeps its buckets (None: forever, or not a bucketed statistic)."""
        native = plugin.resolution_seconds()
        return None if native is None else self.keep.get(native)

    def outlives(self, plugin: type[Plugin], keep: float) -> bool:
        """Whether ``plugin`` keeps its buckets longer than ``keep`` seconds."""
        own = self.seconds(plugin)
        return own is None or own > keep


@dataclass(frozen=True)
class Route:
    """Which statistic answers a read, with which window, and why (None: the one asked)."""

    plugin: type[Plugin]
    window: Window
    notice: str | None = None


def coarser(plugin: type[Plugin], classes: Iterable[type[Plugin]]) -> list[type[Plugin]]:
    """The members of ``plugin``'s family whose buckets roll up from it, finest first."""
    native = plugin.resolution_seconds()
    if plugin.family is None or native is None:
        return []
    found = []
    for other in classes:
        size = other.resolution_seconds()
        same = other.family == plugin.family and other.model == plugin.model
        if same and size is not None and size > native and size % native == 0:
            found.append(other)
    return sorted(found, key=lambda other: other.resolution_seconds() or 0)


def enforce(store: Store, classes: Iterable[type[Plugin]], policy: Policy, now: float) -> dict[str, int]:
    """Trim every statistic the policy limits; how many rows each lost."""
    classes = list(classes)
    trimmed: dict[str, int] = {}
    for plugin in classes:
        keep = policy.seconds(plugin)
        native = plugin.resolution_seconds()
        if keep is None or native is None:
            continue
        if not any(policy.outlives(other, keep) for other in coarser(plugin, classes)):
            log.debug("keeping all of %s: no coarser statistic of its family is kept longer", plugin.ident)
            continue
        cutoff = bucket_start(now - keep, native, getattr(plugin, "bucket_offset", 0))
        trimmed[plugin.ident] = store.trim(plugin, cutoff)
        if trimmed[plugin.ident]:
            log.info("retention: dropped %d rows of %s before %s", trimmed[plugin.ident], plugin.ident, iso(cutoff))
    return trimmed


def route(
    plugin: type[Plugin], window: Window, retained: Mapping[str, float], classes: Iterable[type[Plugin]]
) -> Route:
    """Answer from ``plugin`` unless ``window`` reaches before what it retains."""
    held = retained.get(plugin.ident)
    if held is None or (window.start is not None and window.start >= held):
        return Route(plugin, window)
    asked = window.resolution or plugin.resolution_seconds() or 1
    for other in coarser(plugin, classes):
        other_held = retained.get(other.ident)
        if other_held is not None and (window.start is None or window.start < other_held):
            continue
        native = other.resolution_seconds() or 1
        size = math.lcm(asked, native)
        rolled = replace(window, resolution=None if size == native else size)
        why = f"{plugin.ident} keeps buckets from {iso(held)} on; answered from {other.ident} in {_label(size)} buckets"
        return Route(other, rolled, why)
    return Route(plugin, window, f"{plugin.ident} keeps buckets from {iso(held)} on, and no coarser statistic more")


def _label(seconds: int) -> str:
    return label(timedelta(seconds=seconds))
