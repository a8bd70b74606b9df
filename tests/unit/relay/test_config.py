"""relay.toml: every limit has a default, the written file round-trips, typos are refused."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pytest

from keys.errors import ConfigError
from relay.config import RelayConfig, default_toml, from_mapping, load, with_overrides


def test_default_file_lists_every_setting_and_loads_back_to_the_defaults(tmp_path: Path) -> None:
    text = default_toml()
    doc = tomllib.loads(text)
    listed = {key for section in doc.values() for key in section}
    assert listed == {f.name for f in fields(RelayConfig)}
    path = tmp_path / "relay.toml"
    path.write_text(text)
    assert load(path) == RelayConfig()


def test_documented_defaults() -> None:
    cfg = RelayConfig()
    assert (cfg.host, cfg.port) == ("127.0.0.1", 8470)
    assert cfg.overdue_after("emergency") == timedelta(minutes=5)
    assert cfg.overdue_after("urgent") == timedelta(minutes=30)
    assert cfg.overdue_after("routine") == timedelta(hours=24)
    assert cfg.protocol_limits.max_envelope_bytes == cfg.max_envelope_bytes


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"limits": {"rate_per_secnd": 3}}, "unknown setting"),
        ({"server": {"rate_per_second": 3}}, "unknown setting"),  # right key, wrong section
        ({"nonsense": {}}, "unknown section"),
        ({"server": {"port": 0}}, "port"),
        ({"server": {"port": "80"}}, "non-negative number"),
        ({"limits": {"rate_burst": -1}}, "non-negative"),
        ({"database": {"sqlite_synchronous": "OFF"}}, "FULL or NORMAL"),
        ({"server": {"event_loop": "trio"}}, "auto, asyncio or uvloop"),
        ({"server": {"tls_cert": "a.pem"}}, "go together"),
        ({"limits": {"ack_max_ids": 0}}, "at least 1"),
    ],
)
def test_bad_configuration_is_refused_with_a_reason(doc: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_mapping(doc)


def test_environment_overrides_the_file_and_flags_override_both(tmp_path: Path) -> None:
    path = tmp_path / "relay.toml"
    path.write_text("[server]\nport = 9000\n[limits]\nrate_per_second = 5\n")
    env = {"POCNET_RELAY_PORT": "9100", "POCNET_RELAY_TRUST_REQUEST_ID": "true"}
    cfg = load(path, env=env)
    assert (cfg.port, cfg.rate_per_second, cfg.trust_request_id) == (9100, 5.0, True)
    assert with_overrides(cfg, port=9200, host=None).port == 9200
    with pytest.raises(ConfigError):
        load(path, env={"POCNET_RELAY_PORT": "many"})


def test_unreadable_or_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)


@pytest.mark.parametrize(
    ("setting", "installed", "loop"),
    [
        ("asyncio", True, None),
        ("auto", True, "uvloop"),
        ("uvloop", True, "uvloop"),
        ("asyncio", False, None),
        ("auto", False, None),
        ("uvloop", False, ConfigError),
    ],
)
def test_the_event_loop_setting(
    setting: str, installed: bool, loop: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    import uvloop

    from relay.cli.main import _loop_factory

    if not installed:
        monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    if loop is ConfigError:
        with pytest.raises(ConfigError, match="not installed"):
            _loop_factory(setting)
        return
    factory = _loop_factory(setting)
    assert factory == (uvloop.new_event_loop if loop == "uvloop" else None)
