"""The command line: replay, show, plugins, and one clear line for every bad input."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from recompute import unique_records
from statscache.cli import cli

ENV = {"STATSCACHE_DB_URL": ""}


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, env=ENV, catch_exceptions=False)


def show_json(db: str, ident: str, *extra: str) -> list[dict[str, object]]:
    result = run("show", ident, "--db", db, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_replay_twice_changes_nothing(sqlite_url: str, corpus: Path) -> None:
    first = run("replay", "--db", sqlite_url, str(corpus / "fedmsg.jsonl"))
    assert first.exit_code == 0, first.output
    assert f"accepted {len(unique_records([corpus / 'fedmsg.jsonl']))}," in first.output
    before = {i: show_json(sqlite_url, i) for i in ("volume-1h", "volume-by-user-1d", "active-users-1w")}
    again = run("replay", "--db", sqlite_url, str(corpus / "fedmsg.jsonl"))
    assert "accepted 0," in again.output, again.output
    assert {i: show_json(sqlite_url, i) for i in before} == before


def test_summary_counts_reasons_and_good_lines_around_bad_ones(sqlite_url: str, tmp_path: Path, corpus: Path) -> None:
    good = (corpus / "fedmsg.jsonl").read_text().splitlines()[:40]
    bad = ["{truncated", "[]", '{"timestamp": 1, "msg": {}}', '{"topic": "a.b.c.d", "timestamp": 1, "msg": 3}']
    mixed = tmp_path / "mixed.jsonl"
    lines = [*good[:10], *bad, *good[10:], ""]
    mixed.write_text("\n".join(lines))
    result = run("replay", "--db", sqlite_url, str(mixed))
    assert result.exit_code == 0, result.output
    good_file = tmp_path / "good.jsonl"
    good_file.write_text("\n".join(good))
    unique = len(unique_records([good_file]))
    assert unique > 30
    assert f"accepted {unique}," in result.output
    assert "rejected 4 (body-not-object 1, no-topic 1, not-json 1, not-object 1)" in result.output
    total = sum(row["volume"] for row in show_json(sqlite_url, "volume-1d"))  # type: ignore[misc]
    assert total == unique
    strict = run("replay", "--strict", "--db", sqlite_url, str(mixed))
    assert strict.exit_code == 1


def test_gzip_stdin_and_datagrepper_page_give_the_same_counts(tmp_path: Path, corpus: Path) -> None:
    lines = (corpus / "fedmsg.jsonl").read_bytes()
    plain_db = f"sqlite:///{tmp_path / 'plain.db'}"
    run("replay", "--db", plain_db, str(corpus / "fedmsg.jsonl"))
    expected = show_json(plain_db, "volume-by-topic-1d")

    gz = tmp_path / "fedmsg.jsonl.gz"
    gz.write_bytes(gzip.compress(lines))
    page = tmp_path / "page.json"
    page.write_text(
        json.dumps({"raw_messages": [json.loads(line) for line in lines.splitlines()], "pages": 1}, indent=2)
    )
    for name, args, stdin in (
        ("gz", [str(gz)], None),
        ("page", [str(page)], None),
        ("stdin", ["-"], lines),
        ("stdin-gz", ["-"], gzip.compress(lines)),
    ):
        db = f"sqlite:///{tmp_path / (name + '.db')}"
        result = run("replay", "--db", db, *args, stdin=stdin)
        assert result.exit_code == 0, (name, result.output)
        assert show_json(db, "volume-by-topic-1d") == expected, name


def test_show_csv_and_window(sqlite_url: str, corpus: Path) -> None:
    run("replay", "--db", sqlite_url, str(corpus / "fedmsg.jsonl"))
    rows = show_json(sqlite_url, "volume-by-category-1d")
    result = run("show", "volume-by-category-1d", "--db", sqlite_url, "--format", "csv")
    table = list(csv.reader(io.StringIO(result.output)))
    assert table[0] == ["timestamp", "category", "volume"]
    assert [[str(r["timestamp"]), r["category"], str(r["volume"])] for r in rows] == table[1:]
    middle = rows[len(rows) // 2]["timestamp"]
    iso = "2012-08-08T00:00:00+00:00"
    windowed = show_json(sqlite_url, "volume-by-category-1d", "--start", str(middle), "--stop", str(middle))
    assert windowed == [r for r in rows if r["timestamp"] == middle]
    assert show_json(sqlite_url, "volume-1d", "--stop", iso) == [
        r
        for r in show_json(sqlite_url, "volume-1d")
        if r["timestamp"] <= 1344384000  # type: ignore[operator]
    ]
    releng = run("show", "release-engineering-event-logs", "--db", sqlite_url, "--format", "csv")
    assert releng.output.splitlines()[0] == "timestamp,category,category_constraint,message"


def test_plugins_lists_every_builtin() -> None:
    result = run("plugins", "--format", "json")
    described = json.loads(result.output)
    idents = {item["ident"] for item in described}
    assert {"volume-1s", "volume-by-category-15s", "volume-by-topic-1d", "active-users-1w"} <= idents
    assert "release-engineering-event-logs" in idents and "pagure-contributions-by-project-1d" in idents
    volume = next(item for item in described if item["ident"] == "volume-5s")
    assert volume["resolution"] == 5 and volume["kind"] == "counter"
    table = run("plugins")
    assert len(table.output.splitlines()) == len(described)


def test_bad_inputs_get_one_line(tmp_path: Path, sqlite_url: str) -> None:
    assert_one_line_error(run("replay", "--db", sqlite_url, str(tmp_path / "missing.jsonl")), "missing.jsonl")
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(gzip.compress(b'{"topic": "a.b.c.d", "timestamp": 1, "msg": {}}\n' * 500)[:-20])
    assert_one_line_error(run("replay", "--db", sqlite_url, str(truncated)), "truncated")
    assert_one_line_error(run("show", "no-such-stat", "--db", sqlite_url), "no-such-stat")
    assert_one_line_error(run("show", "volume-1d", "--db", sqlite_url, "--start", "last tuesday"), "--start")
    assert_one_line_error(run("show", "volume-1d", "--db", sqlite_url, "--start", "20", "--stop", "10"), "after")
    assert_one_line_error(run("show", "volume-1d", "--db", "mysql://x@127.0.0.1/y"), "unsupported")
    assert_one_line_error(run("show", "volume-1d", "--db", "not a url"), "not a database URL")
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    assert_one_line_error(run("replay", "--db", unreachable, str(truncated)), "cannot connect")


def test_db_url_from_environment(tmp_path: Path, corpus: Path) -> None:
    db = f"sqlite:///{tmp_path / 'env.db'}"
    result = CliRunner().invoke(cli, ["replay", str(corpus / "fedmsg.jsonl")], env={"STATSCACHE_DB_URL": db})
    assert result.exit_code == 0 and "env.db" in result.output
    assert (tmp_path / "env.db").exists()


def test_real_process_replays_the_bundled_sample(tmp_path: Path) -> None:
    """The quick start, as a user runs it: a real process, the default SQLite file."""
    env = {k: v for k, v in os.environ.items() if k != "STATSCACHE_DB_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "statscache", "replay", "--sample"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "accepted" in done.stdout and (tmp_path / "statscache.db").exists()
    shown = subprocess.run(
        [sys.executable, "-m", "statscache", "show", "volume-1d"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sum(row["volume"] for row in json.loads(shown.stdout)) > 500


def test_sample_is_the_corpus(corpus: Path) -> None:
    from importlib.resources import files

    sample = gzip.decompress((files("statscache") / "sample" / "messages.jsonl.gz").read_bytes())
    assert sample == (corpus / "fedmsg.jsonl").read_bytes() + (corpus / "fedora_messaging.jsonl").read_bytes()


@pytest.mark.postgres
def test_unknown_postgres_database_is_one_line(postgres_url: str) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/statscache_no_such_db"
    assert_one_line_error(run("show", "volume-1d", "--db", missing), "cannot connect")


def test_show_does_not_create_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.db"
    assert_one_line_error(run("show", "volume-1d", "--db", f"sqlite:///{missing}"), "no database")
    assert not missing.exists()


def test_interrupt_counts_what_was_read(tmp_path: Path, corpus: Path) -> None:
    """Ctrl-C (SIGINT) during a replay from a pipe: one line, exit 130, nothing read is lost."""
    db = f"sqlite:///{tmp_path / 'int.db'}"
    lines = (corpus / "fedmsg.jsonl").read_text().splitlines()[:100]
    proc = subprocess.Popen(
        [sys.executable, "-m", "statscache", "replay", "--db", db, "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write("\n".join(lines) + "\n")
    proc.stdin.flush()
    expected = len(unique_records([_write(tmp_path / "sent.jsonl", lines)]))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "statscache_plugins" not in _tables(tmp_path / "int.db"):
        time.sleep(0.2)  # wait until the process is reading
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"accepted {expected}," in err
    assert sum(row["volume"] for row in show_json(db, "volume-1d")) == expected  # type: ignore[misc]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines))
    return path


def _tables(path: Path) -> str:
    if not path.exists():
        return ""
    with sqlite3.connect(path) as connection:
        return " ".join(row[0] for row in connection.execute("SELECT name FROM sqlite_master"))
