"""``node doctor``: is this node ready for duty? A pass/warn/fail list, each naming the fix.

Checks, in order: key files and their permissions, the keystore opens for this party,
the relay answers (unsigned ``/healthz``), the clock against the relay's (the offset in
seconds and whether the relay's signature window takes it; in ``--json`` also as
``clock``), the relay accepts this node's key (a signed request), the relay's key known
from the directory, the directory (trusted, not expired, days to expiry), the alert hook
command. A check that cannot run because an earlier one failed says so. Exit 0 when
nothing failed, 8 when something did (warnings do not fail). Nothing secret is printed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from keys.errors import PocnetError
from keys.host.command import EXIT_CONFIG, emit
from keys.identities import RELAY_ID
from node.cli.base import load_config, now
from node.config import NodeConfig
from node.logs import get_logger
from node.relayapi.probe import ClockReading, HealthProbe, probe_health
from node.runtime import Node, open_node, resolve_passphrase, unlock

EXPIRY_WARN_DAYS = 30


@dataclass(frozen=True)
class Check:
    """One line of the report: ``status`` is ``pass``, ``warn`` or ``fail``."""

    name: str
    status: str
    detail: str


def _private_file(name: str, path: Path) -> Check:
    try:
        mode = path.stat().st_mode
    except OSError as e:
        return Check(name, "fail", f"{path}: {e.strerror or type(e).__name__}")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return Check(
            name, "fail", f"{path} is readable by others (mode {oct(mode & 0o777)}): chmod 600"
        )
    return Check(name, "pass", f"{path} (mode {oct(mode & 0o777)})")


def key_checks(cfg: NodeConfig) -> list[Check]:
    """The keystore (and a passphrase file, if configured) exist and only the owner may
    read them."""
    checks = [_private_file("keystore file", cfg.keystore_path)]
    if cfg.keystore.passphrase_file:
        checks.append(_private_file("passphrase file", cfg.data_dir / cfg.keystore.passphrase_file))
    return checks


def hook_check(cfg: NodeConfig) -> Check:
    """The alert hook's program exists and is executable (it is not run)."""
    if not cfg.alerts.hook:
        return Check("alert hook", "warn", "alerts.hook is empty: alerts go to the log only")
    try:
        program = shlex.split(cfg.alerts.hook)[0]
    except (ValueError, IndexError):
        return Check("alert hook", "fail", "alerts.hook cannot be parsed as a command line")
    found = shutil.which(program, path=os.environ.get("PATH")) or (
        program if os.access(program, os.X_OK) else None
    )
    if found is None:
        return Check("alert hook", "fail", f"alerts.hook: {program!r} is not an executable")
    return Check("alert hook", "pass", f"{found}")


def clock_check(reading: ClockReading) -> Check:
    """This machine's clock against the relay's: the offset in seconds and whether the
    relay's signature window takes it (outside it, every signed request is refused)."""
    text = reading.describe()
    return Check(
        "clock",
        reading.status,
        text + (": fix this machine's time (NTP)" if reading.status == "fail" else ""),
    )


async def directory_check(node: Node) -> Check:
    """The trusted directory: usable now, and how long before it expires."""
    await node.peers.sync()
    moment = now()
    if node.peers.mode != "directory":
        return Check(
            "directory",
            "warn",
            "development mode: no secretariat root pinned ('node directory pin ROOT.json')",
        )
    reason = node.peers.unusable(moment)
    if reason is not None:
        return Check("directory", "fail", f"{reason}: run 'node directory refresh'")
    current = getattr(node.peers, "current", None)
    expires = getattr(current, "expires", None)
    if expires is None:
        return Check("directory", "pass", "trusted")
    days = (expires - moment).total_seconds() / 86400
    status = "warn" if days < EXPIRY_WARN_DAYS else "pass"
    return Check("directory", status, f"valid, expires in {days:.1f} days ({expires:%Y-%m-%d})")


async def _reachable(cfg: NodeConfig) -> tuple[list[Check], HealthProbe | None]:
    """One check per relay URL (``GET /healthz``), and the first healthy answer (else the
    first answer at all, else None).

    With several URLs, one that fails while another answers is a warning: the node fails
    over to the one that answers.
    """
    probes: list[tuple[str, HealthProbe | None, str]] = []
    for url in cfg.relay.endpoints:
        try:
            health = await probe_health(
                url,
                clock=now,
                timeout=min(cfg.relay.request_timeout, 10.0),
                ca_file=cfg.relay.ca_file or None,
            )
        except PocnetError as e:
            probes.append((url, None, e.message))
            continue
        ms = round(health.round_trip_s * 1000)
        probes.append((url, health, f"{url}/healthz: {health.status}, {ms} ms"))
    healthy = [h for _, h, _ in probes if h is not None and h.status == 200]
    bad = "warn" if healthy else "fail"
    checks = [
        Check("relay reachable", "pass" if h is not None and h.status == 200 else bad, detail)
        for _, h, detail in probes
    ]
    answered = healthy + [h for _, h, _ in probes if h is not None]
    return checks, answered[0] if answered else None


async def relay_checks(
    cfg: NodeConfig, node: Node | None
) -> tuple[list[Check], ClockReading | None]:
    """Reachability of each relay URL, clock, identity (ours accepted, the relay's known);
    and the clock reading (None when no relay answered)."""
    checks, health = await _reachable(cfg)
    if health is None:
        return checks, None
    checks.append(clock_check(health.clock))
    if node is None:
        checks.append(Check("relay accepts this node", "fail", "not checked: keystore not open"))
        return checks, health.clock
    try:
        await node.transport.inbox(wait=0, limit=1)  # signed; nothing is acknowledged
        checks.append(Check("relay accepts this node", "pass", f"signed request as {cfg.party}"))
    except PocnetError as e:
        checks.append(Check("relay accepts this node", "fail", e.message))
    await node.peers.sync()
    known = node.peers.knows(RELAY_ID)
    checks.append(
        Check("relay identity", "pass" if known else "fail", "the relay's key is known")
        if known
        else Check("relay identity", "fail", "the relay's key is unknown: 'node directory refresh'")
    )
    return checks, health.clock


async def cmd_doctor(args: argparse.Namespace) -> int:
    cfg = load_config(args)  # ConfigError: exit 8, the setting named
    checks = key_checks(cfg)
    node: Node | None = None
    try:
        secret = resolve_passphrase(cfg, passphrase_file=args.passphrase_file)
        node = await open_node(cfg, unlock(cfg, secret), log=get_logger(party=cfg.party))
        checks.append(Check("keystore opens", "pass", f"keys of {cfg.party}"))
    except PocnetError as e:
        checks.append(Check("keystore opens", "fail", e.message))
    reading: ClockReading | None = None
    try:
        relay, reading = await relay_checks(cfg, node)
        checks += relay
        if node is not None:
            checks.append(await directory_check(node))
    finally:
        if node is not None:
            await node.close()
    checks.append(hook_check(cfg))
    failed = [c for c in checks if c.status == "fail"]
    result: dict[str, Any] = {
        "ok": not failed,
        "checks": [asdict(c) for c in checks],
        "clock": None if reading is None else reading.to_dict(),
    }
    width = max(len(c.name) for c in checks)
    lines = [f"{c.status.upper():<4}  {c.name:<{width}}  {c.detail}" for c in checks]
    lines.append(f"{len(failed)} failed" if failed else "all checks passed")
    emit(result, as_json=args.json, text="\n".join(lines))
    return EXIT_CONFIG if failed else 0
