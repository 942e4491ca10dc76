"""Plugin discovery through the ``statscache.plugin`` entry-point group."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from statscache.plugin import IDENT, PluginError, discover
from statscache.plugins import volume

PLUGIN_MODULE = """
from datetime import timedelta
from statscache.models import Counter
from statscache.plugin import CounterPlugin

class Koji(CounterPlugin):
    ident = "koji-builds-1h"
    name = "Koji builds"
    resolution = timedelta(hours=1)
    model = Counter()
    def counts(self, message):
        return message.topic.endswith("buildsys.build.state.change")

class BadIdent(Koji):
    ident = "Bad Ident!"

PLUGINS = [Koji]
"""


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[Path]:
    """A real distribution on sys.path whose entry points importlib.metadata reads."""
    (tmp_path / "extra_stats.py").write_text(PLUGIN_MODULE)
    info = tmp_path / "extra_stats-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-stats\nVersion: 0.1\n")
    sys.path.insert(0, str(tmp_path))
    yield info
    sys.path.remove(str(tmp_path))
    sys.modules.pop("extra_stats", None)


def write_entry_points(info: Path, body: str) -> None:
    (info / "entry_points.txt").write_text(textwrap.dedent(body))


def test_builtins_are_found_through_the_entry_point_group() -> None:
    idents = [cls.ident for cls in discover()]
    assert idents == sorted(idents)
    assert len(idents) == len(set(idents)) == 24
    assert all(IDENT.match(ident) for ident in idents)
    assert {cls.ident for cls in volume.PLUGINS} <= set(idents)


def test_an_installed_package_adds_a_plugin(installed: Path) -> None:
    write_entry_points(installed, "[statscache.plugin]\nkoji = extra_stats:Koji\n")
    assert "koji-builds-1h" in [cls.ident for cls in discover()]
    write_entry_points(installed, "[statscache.plugin]\nmany = extra_stats:PLUGINS\n")
    assert [cls.ident for cls in discover(["koji-builds-1h"])] == ["koji-builds-1h"]


@pytest.mark.parametrize(
    ("target", "complaint"),
    [
        ("extra_stats:BadIdent", "URL-safe"),
        ("extra_stats:timedelta", "not a Plugin class"),
        ("extra_stats_missing:Nothing", "failed to load"),
    ],
)
def test_broken_plugins_are_named(installed: Path, target: str, complaint: str) -> None:
    write_entry_points(installed, f"[statscache.plugin]\nbroken = {target}\n")
    with pytest.raises(PluginError, match=complaint):
        discover()


def test_unknown_ident_is_an_error() -> None:
    with pytest.raises(PluginError, match="unknown plugin: nope"):
        discover(["nope"])


def test_ident_does_not_follow_the_display_name() -> None:
    cls = type("Renamed", (volume.PLUGINS[0],), {"name": "Something else entirely", "__module__": __name__})
    assert cls.ident == volume.PLUGINS[0].ident and cls.table_name() == volume.PLUGINS[0].table_name()
