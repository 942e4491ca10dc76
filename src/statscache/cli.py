"""The command line: ``statscache replay | show | plugins | serve | run | backfill | status | db | config``."""

from __future__ import annotations

import gc
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from statscache import serialise
from statscache.buckets import iso
from statscache.message import parse_time
from statscache.models import Window
from statscache.pipeline import Pipeline, Settings
from statscache.plugin import Plugin, PluginError, discover
from statscache.sources.datagrepper import FEDORA as FEDORA_DATAGREPPER
from statscache.sources.file import STDIN, SourceError, read
from statscache.store import Store, StoreError, first_line, resolve_url

log = logging.getLogger("statscache")
T = TypeVar("T")

db_option = click.option(
    "--db", "db_url", metavar="URL", help="Database URL (else $STATSCACHE_DB_URL, else sqlite:///statscache.db)."
)


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="statscache")
def cli(verbose: int) -> None:
    """statscache: statistics from Fedora's message bus, ready to serve."""
    # Messages are acyclic JSON trees that reference counting frees; the default
    # gen-0 threshold (700) made the collector rescan every pending batch and
    # cost about a sixth of replay time. Cycles are still collected, less often.
    gc.set_threshold(50_000, 20, 20)
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--sample", is_flag=True, help="Replay the bundled sample of real Fedora messages.")
@click.option("--strict", is_flag=True, help="Exit 1 if any line is rejected.")
@click.option("--flush-interval", type=float, default=1.0, show_default=True, help="Seconds between flushes.")
@click.option("--max-pending", type=int, default=10_000, show_default=True, help="Flush early past this many.")
@click.option("--plugin", "idents", multiple=True, metavar="IDENT", help="Only these statistics (repeatable).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
@db_option
def replay(
    paths: Sequence[str],
    sample: bool,
    strict: bool,
    flush_interval: float,
    max_pending: int,
    idents: Sequence[str],
    progress: bool | None,
    db_url: str | None,
) -> None:
    """Count the messages of PATHS (JSON lines, datagrepper pages, .gz, - for stdin)."""
    if not paths and not sample:
        raise click.UsageError("give one or more PATHs, - for stdin, or --sample")
    if flush_interval <= 0 or max_pending < 1:
        raise click.ClickException("--flush-interval must be positive and --max-pending at least 1")
    store, plugins = _open(db_url, idents or None)
    with store:
        pipeline = Pipeline(store, plugins, Settings(flush_interval=flush_interval, max_pending=max_pending))
        try:
            with _sample_paths(sample) as extra:
                for path in [*paths, *extra]:
                    _replay_one(pipeline, path, progress)
        except KeyboardInterrupt:
            _guard(pipeline.close)  # what was read is counted; a rerun counts the rest once
            click.echo(f"interrupted; counted so far: {pipeline.stats.summary()}", err=True)
            sys.exit(130)
        _guard(pipeline.close)
    click.echo(f"replayed into {store.safe_url}: {pipeline.stats.summary()}")
    if strict and pipeline.stats.rejected:
        sys.exit(1)


def _replay_one(pipeline: Pipeline, path: str, progress: bool | None) -> None:
    if path != STDIN and not Path(path).exists():
        raise click.ClickException(f"{path}: no such file")
    total = None if path == STDIN else Path(path).stat().st_size
    disable = None if progress is None else not progress
    with tqdm(total=total, unit="B", unit_scale=True, desc=Path(path).name, disable=disable, leave=False) as bar:
        try:
            _guard(lambda: pipeline.feed(read(path, progress=bar.update)))
        except SourceError as error:
            _guard(pipeline.close)  # keep what was read before the damage
            raise click.ClickException(str(error)) from None


@contextmanager
def _sample_paths(sample: bool) -> Iterator[list[str]]:
    if not sample:
        yield []
        return
    with as_file(files("statscache") / "sample" / "messages.jsonl.gz") as path:
        yield [str(path)]


@cli.command()
@click.argument("ident")
@click.option("--start", metavar="T", help="Epoch seconds or ISO-8601 (inclusive).")
@click.option("--stop", metavar="T", help="Epoch seconds or ISO-8601 (inclusive).")
@click.option("--format", "fmt", type=click.Choice(serialise.FORMATS), default="json", show_default=True)
@click.option("--order", type=click.Choice(["asc", "desc"]), default="asc", show_default=True)
@db_option
def show(ident: str, start: str | None, stop: str | None, fmt: str, order: str, db_url: str | None) -> None:
    """Print every row of the statistic IDENT."""
    plugin = _plugin_class(ident)
    window = (_time(start, "--start"), _time(stop, "--stop"))
    if None not in window and window[0] > window[1]:  # type: ignore[operator]
        raise click.ClickException("--start is after --stop")
    with _store(db_url, must_exist=True) as store:
        rows = _guard(lambda: store.rows(plugin, Window(*window, descending=order == "desc")))
    if fmt == "csv":
        click.echo(serialise.to_csv(rows, plugin.model.columns), nl=False)
    else:
        click.echo(serialise.to_json(rows).decode())


@cli.command("plugins")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_plugins(fmt: str) -> None:
    """List the installed statistics."""
    described = [cls.describe() for cls in _discover(None)]
    if fmt == "json":
        click.echo(serialise.to_json(described).decode())
        return
    for item in described:
        click.echo(
            f"{item['ident']:<38} {item['kind']:<8} resolution={_span(item['resolution'])} "
            f"backlog={_span(item['backlog_delta'])}  {item['name']}: {item['summary']}"
        )


@cli.command()
@click.option("--since", required=True, metavar="T", help="Epoch seconds or ISO-8601: the oldest history wanted.")
@click.option("--until", metavar="T", help="Epoch seconds or ISO-8601 (default: now).")
@click.option("--plugin", "idents", multiple=True, metavar="IDENT", help="Only these statistics (repeatable).")
@click.option("--datagrepper", "datagrepper_url", default=FEDORA_DATAGREPPER, show_default=True, metavar="URL")
@click.option("--datanommer", "datanommer_url", metavar="URL", help="Read datanommer's PostgreSQL directly instead.")
@click.option("--window", type=click.FloatRange(1), default=3600.0, show_default=True, help="Seconds per window.")
@click.option("--concurrency", type=click.IntRange(1, 8), default=2, show_default=True, help="Windows in flight.")
@click.option("--retries", type=click.IntRange(0, 20), default=4, show_default=True, help="Retries of a failed page.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
@db_option
def backfill(
    since: str,
    until: str | None,
    idents: Sequence[str],
    datagrepper_url: str,
    datanommer_url: str | None,
    window: float,
    concurrency: int,
    retries: int,
    progress: bool | None,
    db_url: str | None,
) -> None:
    """Fetch and count the history the statistics miss (resumable: rerun to continue)."""
    from statscache.backfill import Backfill, plan
    from statscache.sources.datagrepper import ClientSettings, DatagrepperClient

    start = _time(since, "--since")
    end = _time(until, "--until") if until else time.time()
    assert start is not None and end is not None
    if start >= end:
        raise click.ClickException("--since is not before --until")
    classes = _discover(idents or None)
    store = _store(db_url)
    _guard(lambda: store.prepare(classes))
    with store:
        ranges = plan(store, classes, end, since=start)
        total = sum(math.ceil((r.end - r.start) / window) for r in ranges)
        settings = ClientSettings(url=datagrepper_url, retries=retries)
        client = None if datanommer_url else DatagrepperClient(settings)
        fetch = client.window if client else _archive(datanommer_url or "")
        disable = None if progress is None else not progress
        with tqdm(total=total, unit="window", desc="back-fill", disable=disable) as bar:
            job = Backfill(store, fetch, window=window, concurrency=concurrency, progress=_bar(bar))
            try:
                report = _guard(lambda: job.run(ranges))
            except KeyboardInterrupt:
                job.stopping.set()
                click.echo(f"interrupted; rerun to continue: {job.report.summary()}", err=True)
                sys.exit(130)
            finally:
                if client is not None:
                    client.close()
    click.echo(f"back-filled {store.safe_url}: {report.summary()}")
    if report.gaps:
        sys.exit(1)


def _bar(bar: tqdm[Any]) -> Callable[[int, int], None]:
    messages = 0

    def advance(read: int, windows: int) -> None:
        nonlocal messages
        messages += read
        bar.update(windows)
        bar.set_postfix(messages=messages, refresh=False)

    return advance


def _archive(url: str) -> Callable[[float, float], list[Any]]:
    """Windows read from datanommer's database; a failure is a gap, as with datagrepper."""
    from statscache.sources.datagrepper import WindowFailed
    from statscache.sources.datanommer import ArchiveError
    from statscache.sources.datanommer import read as read_archive

    def fetch(start: float, end: float) -> list[Any]:
        try:
            return list(read_archive(url, start, end))
        except ArchiveError as error:
            raise WindowFailed(start, end, str(error), overloaded=False) from None

    return fetch


@cli.command()
@db_option
def status(db_url: str | None) -> None:
    """Per statistic: its checkpoint, rows and newest row; then any back-fill gap."""
    classes = _discover(None)
    with _store(db_url, must_exist=True) as store:
        _guard(lambda: _print_status(store, classes))


def _print_status(store: Store, classes: list[type[Plugin]]) -> None:
    state = store.plugin_state()
    with store.reader() as reader:
        for cls in classes:
            known = state.get(cls.ident, {})
            retained = f" retained_from={iso(known['retained_from'])}" if known.get("retained_from") else ""
            click.echo(
                f"{cls.ident:<38} checkpoint={iso(known.get('checkpoint'))} rows={reader.count(cls)} "
                f"newest={iso(reader.newest(cls))}{retained}"
            )
    for gap in store.gaps():
        click.echo(f"gap {iso(gap['start'])}..{iso(gap['end'])} for {gap['plugins']}: {gap['reason']}")


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@db_option
def upgrade(db_url: str | None) -> None:
    """Bring the core tables to the newest migration (run, serve and replay also do it)."""
    with _store(db_url) as store:
        _guard(store.upgrade)
        click.echo(f"{store.safe_url} is at migration {_guard(store.revision)}")


@cli.group("config")
def config_group() -> None:
    """The daemon's configuration."""


@config_group.command()
def reference() -> None:
    """Print the configuration reference (Markdown), generated from the code."""
    from statscache.reference import markdown

    click.echo(markdown(), nl=False)


@config_group.command()
@click.option("--config", "config_path", metavar="FILE", required=True, help="The TOML file to check.")
def check(config_path: str) -> None:
    """Check a configuration file (and STATSCACHE_* variables) without running anything."""
    from statscache.config import ConfigError, load

    try:
        load(config_path)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{config_path}: ok")


@cli.command()
@click.option("--config", "config_path", metavar="FILE", help="TOML configuration (see statscache.example.toml).")
@db_option
def run(config_path: str | None, db_url: str | None) -> None:
    """Run the daemon: consume the bus, flush statistics, acknowledge what is counted."""
    from statscache.config import ConfigError, load
    from statscache.daemon import Daemon

    try:
        config = load(config_path)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    if db_url:
        config.db_url = db_url
    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger().setLevel(logging.INFO)  # a service says what it does
        logging.getLogger("pika").setLevel(logging.CRITICAL)  # its failures are logged here, in one line
        logging.getLogger("alembic").setLevel(logging.WARNING)
    sys.exit(Daemon(config).run())


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@db_option
def serve(host: str, port: int, db_url: str | None) -> None:
    """Serve the web API (development server; see README for gunicorn)."""
    from statscache.config import ConfigError
    from statscache.web import create_app

    with _store(db_url) as store:
        url = store.url
    try:
        app = create_app(url)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    app.run(host=host, port=port)


def _span(seconds: int | None) -> str:
    return "-" if seconds is None else f"{seconds}s"


def _time(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise click.ClickException(f"{option} {text!r} is neither epoch seconds nor ISO-8601") from None


def _discover(idents: Sequence[str] | None) -> list[type[Plugin]]:
    try:
        return discover(idents)
    except PluginError as error:
        raise click.ClickException(str(error)) from None


def _plugin_class(ident: str) -> type[Plugin]:
    return _discover([ident])[0]


def _store(db_url: str | None, must_exist: bool = False) -> Store:
    try:
        store = Store(resolve_url(db_url))
        store.check(must_exist)
    except StoreError as error:
        raise click.ClickException(str(error)) from None
    return store


def _open(db_url: str | None, idents: Sequence[str] | None) -> tuple[Store, list[Plugin]]:
    classes = _discover(idents)
    store = _store(db_url)
    _guard(lambda: store.prepare(classes))
    return store, [cls() for cls in classes]


def _guard(action: Callable[[], T]) -> T:
    """Run a database action; a database failure becomes one line and exit 1."""
    try:
        return action()
    except StoreError as error:
        raise click.ClickException(str(error)) from None
    except SQLAlchemyError as error:
        raise click.ClickException(f"database error: {first_line(error)}") from None


def main() -> None:
    """Entry point of the ``statscache`` command."""
    cli(prog_name="statscache")
