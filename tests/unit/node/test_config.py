"""node.toml: every setting written with its default, strict loading, passphrase sources."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from keys.errors import ConfigError, KeystoreError
from keys.host.files import write_private
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, StoredEncryptionKey
from node import config as node_config
from node.config import SECTIONS, NodeConfig
from node.logs import REDACTED, redact
from node.runtime import resolve_passphrase, unlock


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "node.toml").write_text(text)
    return tmp_path


def test_rendered_config_lists_every_setting_with_its_default(tmp_path: Path) -> None:
    text = node_config.render("FR", "https://relay.example.org")
    doc = tomllib.loads(text)
    for name, cls in SECTIONS.items():
        assert set(doc[name]) == {f.name for f in dataclasses.fields(cls)}
    cfg = node_config.load(write(tmp_path, text))
    default = NodeConfig(party="FR", data_dir=tmp_path.resolve())
    assert cfg.relay.url == "https://relay.example.org"
    for name in SECTIONS:
        if name != "relay":
            assert getattr(cfg, name) == getattr(default, name)
    assert dataclasses.replace(cfg.relay, url=default.relay.url) == default.relay
    assert "# seconds the relay may hold an inbox request open" in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('party = "FR"\nrelay_url = "x"', "unknown setting(s) in node.toml: relay_url"),
        ('party = "FR"\n[relay]\nlong_poll = 30', "unknown setting(s) in [relay]: long_poll"),
        ('party = "FR"\n[relay]\nlong_poll_wait = "30"', "relay.long_poll_wait must be a int"),
        ('party = "FR"\n[relay]\nlong_poll_wait = -1', "must not be negative"),
        ('party = "FR"\n[alerts]\ninclude_content = 1', "alerts.include_content must be a bool"),
        ('party = "France"', "party: party id"),
        ('party = "FR"\n[relay]\nurl = "ftp://x"', "must start with http:// or https://"),
        ('party = "FR"\n[peers]\non_key_change = "ignore"', "peers.on_key_change"),
        ('party = "FR"\n[log]\nlevel = "loud"', "log.level must be"),
        ('party = "FR"\n[log]\nformat = "xml"', "log.format must be"),
        ('party = "FR"\n[outbox]\nttl_days = 120', "between 1 and 90"),
        ('party = "FR"\n[contacts]\nDE = 49', "[contacts] must be a table of strings"),
        ('party = "FR"\nrelay = 3', "[relay] must be a table"),
        ("party = ", "cannot read"),
        ('party = "FR"\n[console]\nport = 70000', "console.port must be 1-65535"),
        ('party = "FR"\n[console]\ntls_cert = "c.pem"', "go together"),
        ('party = "FR"\n[console]\nenabled = "yes"', "console.enabled must be a bool"),
        ('party = "FR"\n[metrics]\nport = 0', "metrics.port must be 1-65535"),
        ('party = "FR"\n[metrics]\nrefresh_seconds = 0.5', "metrics.refresh_seconds 1-3600"),
        ('party = "FR"\n[metrics]\nhost = "0.0.0.0"', "is not a loopback address"),
        ('party = "FR"\n[metrics]\nhost = "metrics.example"', "is not a loopback address"),
        ('party = "FR"\n[relay]\nurls = "http://a"', "relay.urls must be a list of strings"),
        ('party = "FR"\n[relay]\nurls = ["http://a", 3]', "relay.urls must be a list"),
        ('party = "FR"\n[relay]\nurls = ["http://a", "ftp://b"]', "relay.urls must start with"),
        ('party = "FR"\n[relay]\nurls = ["http://a", "http://a"]', "names one relay twice"),
    ],
)
def test_bad_config_is_refused_naming_the_setting(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        node_config.load(write(tmp_path, text))
    assert message in info.value.message


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_metrics_on_loopback_or_explicitly_elsewhere(tmp_path: Path, host: str) -> None:
    cfg = node_config.load(write(tmp_path, f'party = "FR"\n[metrics]\nhost = "{host}"'))
    assert cfg.metrics.host == host and not cfg.metrics.enabled
    text = 'party = "FR"\n[metrics]\nhost = "0.0.0.0"\nallow_remote = true'
    assert node_config.load(write(tmp_path, text)).metrics.allow_remote


def test_missing_config_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="node init"):
        node_config.load(tmp_path)


def test_floats_accept_integers_and_env_overrides_the_relay(tmp_path: Path) -> None:
    folder = write(tmp_path, 'party = "FR"\n[outbox]\nretry_base = 2\n')
    cfg = node_config.load(folder, env={node_config.ENV_RELAY_URL: "https://other.example"})
    assert cfg.outbox.retry_base == 2.0 and isinstance(cfg.outbox.retry_base, float)
    assert cfg.relay.url == "https://other.example"


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        pytest.param('party = "FR"\n', {}, ("http://127.0.0.1:8470",), id="default-url"),
        pytest.param(
            'party = "FR"\n[relay]\nurl = "https://one.example"\n',
            {},
            ("https://one.example",),
            id="old-single-url-still-read",
        ),
        pytest.param(
            'party = "FR"\n[relay]\nurl = "https://one.example"\n'
            'urls = ["https://a.example", "https://b.example"]\n',
            {},
            ("https://a.example", "https://b.example"),
            id="urls-win-over-url",
        ),
        pytest.param(
            'party = "FR"\n[relay]\nurls = ["https://a.example"]\n',
            {node_config.ENV_RELAY_URLS: "https://x.example, https://y.example"},
            ("https://x.example", "https://y.example"),
            id="env-urls",
        ),
        pytest.param(
            'party = "FR"\n[relay]\nurls = ["https://a.example", "https://b.example"]\n',
            {node_config.ENV_RELAY_URL: "https://x.example"},
            ("https://x.example",),
            id="env-url-replaces-the-list",
        ),
    ],
)
def test_relay_endpoints(
    tmp_path: Path, text: str, env: dict[str, str], expected: tuple[str, ...]
) -> None:
    assert node_config.load(write(tmp_path, text), env=env).relay.endpoints == expected


def _keystore(tmp_path: Path, secret: bytes | None) -> NodeConfig:
    ks = Keystore(
        "FR",
        SigningKey.generate(),
        (StoredEncryptionKey(EncryptionPrivateKey.generate("x25519"), "2025-01-01T00:00:00.000Z"),),
    )
    cfg = NodeConfig(party="FR", data_dir=tmp_path)
    write_private(cfg.keystore_path, ks.to_bytes(secret, kdf="interactive"))
    return cfg


def test_passphrase_sources_in_order(tmp_path: Path) -> None:
    cfg = _keystore(tmp_path, b"s3cret")
    (tmp_path / "pass").write_text("s3cret\n")
    cfg_file = dataclasses.replace(
        cfg, keystore=dataclasses.replace(cfg.keystore, passphrase_file="pass")
    )
    assert resolve_passphrase(cfg_file, env={}, interactive=False) == b"s3cret"
    cfg_env = dataclasses.replace(
        cfg, keystore=dataclasses.replace(cfg.keystore, passphrase_env="MY_PASS")
    )
    assert (
        resolve_passphrase(cfg_env, env={"MY_PASS": "from-env"}, interactive=False) == b"from-env"
    )
    # The command line and POCNET_PASSPHRASE come first.
    assert (
        resolve_passphrase(
            cfg_env, env={"POCNET_PASSPHRASE": "p", "MY_PASS": "x"}, interactive=False
        )
        == b"p"
    )
    with pytest.raises(KeystoreError) as info:
        resolve_passphrase(cfg, env={}, interactive=False)
    assert info.value.code == "passphrase_missing"
    assert unlock(cfg, b"s3cret").party == "FR"


def test_unencrypted_keystore_needs_no_passphrase(tmp_path: Path) -> None:
    cfg = _keystore(tmp_path, None)
    assert resolve_passphrase(cfg, env={}, interactive=False) is None
    assert unlock(cfg, None).party == "FR"


def test_keystore_of_another_party_is_refused(tmp_path: Path) -> None:
    cfg = _keystore(tmp_path, None)
    with pytest.raises(KeystoreError, match=r"keys of FR, but node\.toml says DE"):
        unlock(dataclasses.replace(cfg, party="DE"), None)


@pytest.mark.parametrize(
    "key", ["body", "passphrase", "signature", "ciphertext", "token", "Content"]
)
def test_log_redaction(key: str) -> None:
    event = redact(
        None, "info", {"event": "x", key: "SECRET", "msg_id": "abc", "nested": {key: "S"}}
    )
    assert event[key] == REDACTED and event["nested"][key] == REDACTED and event["msg_id"] == "abc"
