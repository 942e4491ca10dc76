"""The daemon's configuration: the example file, environment overrides, clear errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from statscache.cli import cli
from statscache.config import AmqpConfig, Config, ConfigError, WebConfig, ZmqConfig, build, default_queue, load
from statscache.web import create_app
from statscache.reference import Undocumented, markdown, settings

EXAMPLE = Path(__file__).parent.parent / "statscache.example.toml"
REFERENCE = Path(__file__).parent.parent / "docs" / "configuration.md"


def test_the_example_is_the_defaults() -> None:
    assert load(str(EXAMPLE), environ={}) == load(None, environ={})


@pytest.mark.parametrize(("section", "cls"), [("", Config), ("amqp", AmqpConfig), ("zmq", ZmqConfig)])
def test_every_setting_is_documented_in_the_example(section: str, cls: type) -> None:
    text = EXAMPLE.read_text()
    for setting in fields(cls):
        if setting.name in ("amqp", "zmq", "retention"):
            continue
        documented = re.search(rf"^#? ?\[{{0,2}}{section}\.?{setting.name}\b|^#? ?{setting.name} =", text, re.MULTILINE)
        assert documented, f"{section or 'top level'}: {setting.name} is not in statscache.example.toml"


def test_the_reference_covers_every_setting_and_is_current() -> None:
    wanted = [f.name for f in fields(Config) if f.name not in ("amqp", "zmq")]
    wanted += [f"amqp.{f.name}" for f in fields(AmqpConfig)] + [f"zmq.{f.name}" for f in fields(ZmqConfig)]
    documented = {setting.key: setting for setting in settings()}
    assert sorted(documented) == sorted(wanted)
    web = {setting.key: setting for setting in settings(WebConfig)}
    assert sorted(web) == sorted(f.name for f in fields(WebConfig))
    assert all(len(setting.doc) > 10 for setting in [*documented.values(), *web.values()])
    assert web["max_rows_per_page"].environment == "STATSCACHE_MAX_ROWS_PER_PAGE"
    assert REFERENCE.read_text() == markdown(), "run: statscache config reference > docs/configuration.md"


def test_an_undocumented_setting_is_an_error() -> None:
    @dataclass
    class Loose:
        documented: int = 1
        """Has its docstring."""
        forgotten: str = "x"

    with pytest.raises(Undocumented, match="forgotten"):
        settings(Loose)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('db_url = "sqlite:///file.db"\nflush_interval = 2.0\n[amqp]\namqp_url = "amqp://file"\n')
    environ = {
        "STATSCACHE_FLUSH_INTERVAL": "0.5",
        "STATSCACHE_AMQP_URL": "amqp://env",
        "STATSCACHE_ZMQ_ENDPOINTS": "tcp://a:1, tcp://b:2",
    }
    config = load(str(path), environ=environ)
    assert config.db_url == "sqlite:///file.db" and config.flush_interval == 0.5
    assert config.amqp.amqp_url == "amqp://env" and config.zmq.endpoints == ["tcp://a:1", "tcp://b:2"]


def test_default_queue_is_durable_unique_and_stable() -> None:
    first, again = build({"db_url": "sqlite:///a.db"}), build({"db_url": "sqlite:///a.db"})
    other = build({"db_url": "sqlite:///b.db"})
    assert first.amqp.queues == again.amqp.queues and first.amqp.queues != other.amqp.queues
    name, options = next(iter(first.amqp.queues.items()))
    assert name == default_queue("sqlite:///a.db") and options["durable"] and not options["auto_delete"]
    assert first.amqp.bindings[0]["queue"] == name
    assert Path(first.amqp.tls["ca_cert"] or "").exists() and Path(first.amqp.tls["certfile"] or "").exists()


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"flush_interval": "soon"}, "flush_interval"),
        ({"max_pending": 0}, "max_pending"),
        ({"health_port": 70000}, "health_port"),
        ({"amqp_enabled": "maybe", "db_url": 3}, "db_url"),
        ({"nonsense": 1}, "nonsense"),
        ({"amqp": {"url": "x"}}, "url"),
        ({"zmq": "tcp://x"}, "[zmq]"),
    ],
)
def test_bad_settings_say_which(data: dict[str, object], complaint: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(complaint)):
        build(data)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.toml"):
        load(str(tmp_path / "missing.toml"), environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("db_url = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(str(broken), environ={})


def test_systemd_units_run_real_commands() -> None:
    """The shipped units start commands that exist, with options they take."""
    import configparser
    import importlib
    import shlex

    from click.testing import CliRunner

    from statscache.cli import cli

    deploy = Path(__file__).parent.parent / "deploy"
    units = {path.name: path for path in deploy.glob("*.service")}
    assert set(units) == {"statscache.service", "statscache-web.service"}
    for path in units.values():
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.read(path)
        command = shlex.split(unit["Service"]["ExecStart"])
        if command[0].endswith("/statscache"):
            result = CliRunner().invoke(cli, [*command[1:2], "--help"])
            assert result.exit_code == 0 and all(option in result.output for option in command[2::2])
        else:
            module, factory = command[-1].rstrip("()").split(":")
            assert callable(getattr(importlib.import_module(module), factory))


def test_config_check_says_ok_or_one_line_why(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text('[retention]\n"1m" = 30\n')
    bad.write_text('[retention]\n"1m" = "never"\n')
    ok = CliRunner().invoke(cli, ["config", "check", "--config", str(good)], env={})
    assert ok.exit_code == 0 and ok.output.strip().endswith("ok"), ok.output
    failed = CliRunner().invoke(cli, ["config", "check", "--config", str(bad)], env={})
    assert failed.exit_code == 1 and failed.output.count("\n") == 1 and "1m" in failed.output, failed.output
    reference = CliRunner().invoke(cli, ["config", "reference"])
    assert reference.exit_code == 0 and reference.output == markdown()


def test_web_settings_from_the_environment_with_one_line_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATSCACHE_MAX_CHART_ROWS", "70")
    monkeypatch.setenv("STATSCACHE_STREAM_LIFETIME", "2.5")
    app = create_app("sqlite:///:memory:")
    assert app.extensions["statscache"].config == WebConfig(
        db_url="sqlite:///:memory:", max_chart_rows=70, stream_lifetime=2.5
    )
    app.extensions["statscache"].store.close()
    for name, value in (("STATSCACHE_MAX_ROWS_PER_PAGE", "lots"), ("STATSCACHE_STREAM_POLL_INTERVAL", "0")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match=name.removeprefix("STATSCACHE_").lower()):
            create_app("sqlite:///:memory:")
        monkeypatch.delenv(name)
