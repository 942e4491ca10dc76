"""The example plugin package in examples/, installed for real and found through its entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import recompute as expect
from helpers import replay_files
from statscache.plugin import discover

EXAMPLE = Path(__file__).parent.parent / "examples" / "statscache-koji-stats"
CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """pip-installs the example into a folder put on sys.path (the project's venv stays as it is)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(EXAMPLE)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    sys.path.insert(0, str(target))
    yield target
    sys.path.remove(str(target))
    for name in [n for n in sys.modules if n.startswith("statscache_koji_stats")]:
        del sys.modules[name]


def test_the_example_package_counts_through_its_entry_point(installed: Path, sqlite_url: str) -> None:
    plugins = {cls.ident: cls for cls in discover()}
    assert {"koji-builds-1h", "koji-builds-by-owner-1d"} <= set(plugins), "found through the entry point"
    assert len(plugins) == 26
    classes = [plugins["koji-builds-1h"], plugins["koji-builds-by-owner-1d"]]
    store, _ = replay_files(sqlite_url, [CORPUS / "fedmsg.jsonl"], classes=classes)
    finished = [
        record
        for record in expect.unique_records([CORPUS / "fedmsg.jsonl"])
        if record["topic"].endswith("buildsys.build.state.change") and record["msg"].get("new") == 1
    ]
    assert finished, "the corpus holds completed koji builds"
    hours = Counter(int(r["timestamp"]) // 3600 * 3600 for r in finished)
    assert store.rows(classes[0]) == [{"timestamp": h, "volume": n} for h, n in sorted(hours.items())]
    owners = Counter((int(r["timestamp"]) // 86400 * 86400, r["msg"]["owner"]) for r in finished)
    expected = [{"timestamp": d, "user": o, "volume": n} for (d, o), n in sorted(owners.items())]
    assert store.rows(classes[1]) == expected
    described = json.loads(json.dumps(plugins["koji-builds-by-owner-1d"].describe()))
    assert described["backlog_delta"] == 90 * 86400 and described["kind"] == "counter"
