"""Message volumes: in total, and per category, topic, user and package."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from statscache.buckets import label
from statscache.models import Counter
from statscache.plugin import CounterPlugin


class Volume(CounterPlugin):
    """Every message, counted per bucket."""

    model = Counter()


class VolumeByCategory(CounterPlugin):
    """Messages per bucket and application (``bodhi``, ``buildsys``, ``git``…)."""

    model = Counter(key="category")
    key_of = "category"


class VolumeByTopic(CounterPlugin):
    """Messages per bucket and full topic."""

    model = Counter(key="topic")
    key_of = "topic"


class VolumeByUser(CounterPlugin):
    """Messages per bucket and Fedora account involved (a message counts once per user)."""

    model = Counter(key="user")
    keys_of = "usernames"


class VolumeByPackage(CounterPlugin):
    """Messages per bucket and package involved (a message counts once per package)."""

    model = Counter(key="package")
    keys_of = "packages"


def _family(base: type[CounterPlugin], prefix: str, title: str, seconds: Iterable[int]) -> list[type[CounterPlugin]]:
    """One plugin class per resolution, with idents like ``volume-by-category-1m``."""
    family = []
    for size in seconds:
        resolution = timedelta(seconds=size)
        tag = label(resolution)
        family.append(
            type(
                f"{base.__name__}_{tag}",
                (base,),
                {
                    "ident": f"{prefix}-{tag}",
                    "name": f"{title} ({tag})",
                    "summary": f"{title}, per {tag} bucket",
                    "description": base.__doc__ or "",
                    "resolution": resolution,
                    "family": prefix,
                    "__module__": __name__,
                },
            )
        )
    return family


S, M, H, D = 1, 60, 3600, 86400
PLUGINS = [
    *_family(Volume, "volume", "Message volume", (S, 5 * S, 15 * S, M, H, D)),
    *_family(VolumeByCategory, "volume-by-category", "Message volume by category", (S, 15 * S, M, H, D)),
    *_family(VolumeByTopic, "volume-by-topic", "Message volume by topic", (M, H, D)),
    *_family(VolumeByUser, "volume-by-user", "Message volume by user", (H, D)),
    *_family(VolumeByPackage, "volume-by-package", "Message volume by package", (H, D)),
]
