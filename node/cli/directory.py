"""``node directory show | refresh | verify | pin``: the signed directory at this node.

- ``show``: the directory in force (version, expiry, signatures m of n, every party with
  its status, 24/7 contact and key fingerprints), the pinned root, the key changes seen;
- ``refresh``: fetch it from the relay and apply it (exit 7 when refused: the version in
  force stays); ``--file FILE ...`` applies files given by the secretariat instead, in
  order (to catch up across administrator changes);
- ``verify``: offline, replay every version this node accepted from the pinned root
  (threshold, root changes, no rollback) and check the newest has not expired;
- ``pin ROOT.json``: pin the secretariat's root (a node made without ``--root``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from keys.directory import DEFAULT_DIRECTORY_LIMITS, RootKeys, SignedDirectory, TrustedDirectory
from keys.directory.render import directory_dict, directory_text, status_dict
from keys.encoding import canonical, format_time
from keys.errors import ConfigError, InvalidFile, NotFound, Rejected, ValidationError
from keys.host.command import EXIT_REFUSED, emit
from node.cli.base import full_node, load_config, local_node, now
from node.runtime import LocalNode
from node.storage.store import Store
from node.trust.changes import ADVICE, DirectoryReport
from node.trust.directory import (
    MAX_ROOT_FILE_BYTES,
    DirectoryPeers,
    DirectoryUnusable,
    read_root,
    root_summary,
)
from node.trust.peers import RefreshReport

SELF_PROBLEMS = {
    "self_missing": "this node's party is not in the directory: give your bundle to the "
    "secretariat",
    "self_inactive": "this node's party is suspended or revoked in the directory",
    "self_key_mismatch": "the directory lists another signing key for this node than its "
    "keystore holds: the relay will refuse it; call the secretariat",
    "keystore_key_missing": "the directory lists an encryption key of this node that the "
    "running keystore does not hold: restart the daemon after 'node rotate-key'",
}


def _read(path: Path, what: str, limit: int) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError as e:
        raise NotFound(f"no {what} at {path}", code="file_not_found", fault="local") from e
    except OSError as e:
        raise InvalidFile(f"cannot read {path}: {e.strerror}") from e
    if len(data) > limit:
        raise InvalidFile(f"{path} is larger than a {what} may be ({limit} bytes)")
    return data


def read_root_file(path: Path) -> RootKeys:
    """The root keys in a root file (``keys directory export-root``).

    Raises:
        NotFound: no such file (``fault="local"``).
        InvalidFile: not a root file.
    """
    try:
        return read_root(_read(path, "root file", MAX_ROOT_FILE_BYTES))
    except InvalidFile:
        raise
    except ValidationError as e:
        raise InvalidFile(f"{path}: {e.message}", code=e.code) from e


def _directory_peers(local: LocalNode) -> DirectoryPeers:
    if not isinstance(local.peers, DirectoryPeers):
        raise ConfigError(
            "this node has no secretariat root pinned (development mode: keys trusted on "
            "first use): pin it with 'node directory pin ROOT.json'",
            code="root_not_pinned",
        )
    return local.peers


async def cmd_directory(args: argparse.Namespace) -> int:
    if args.action != "pin" and args.root is not None:
        raise InvalidFile(f"unexpected argument {args.root}: only 'pin' takes a file")
    if args.action == "pin":
        return await _pin(args)
    if args.action == "refresh":
        return await _refresh(args)
    if args.action == "verify":
        return await _verify(args)
    return await _show(args)


# -- refresh --------------------------------------------------------------------------------


def _report_text(report: DirectoryReport) -> str:
    if report.rejected is not None:
        kept = f"version {report.version} stays in force" if report.version else "none in force"
        offered = f" (version {report.offered_version})" if report.offered_version else ""
        lines = [
            f"directory REFUSED{offered}: {report.rejected}: {ADVICE.get(report.rejected, '')}",
            kept,
        ]
    elif report.updated:
        was = f"was {report.previous_version}" if report.previous_version else "first version"
        lines = [f"directory version {report.version} accepted ({was}); expires {report.expires}"]
        if report.key_changes:
            lines.append(
                f"KEYS CHANGED for {', '.join(report.key_changes)}: see 'node directory show'"
            )
    else:
        lines = [f"directory version {report.version} is current; expires {report.expires}"]
    lines += [f"WARNING: {SELF_PROBLEMS.get(p, p)}" for p in report.problems]
    return "\n".join(lines)


def _dev_text(report: RefreshReport) -> str:
    return (
        "DEVELOPMENT MODE (no root pinned, keys trusted on first use): "
        f"{report.parties} parties; newly pinned {report.pinned or 'none'}; "
        f"rotated {report.rotated or 'none'}; CHANGED {report.changed or 'none'}; "
        f"refused {report.refused or 'none'}; invalid bundles {report.invalid}"
    )


async def _refresh(args: argparse.Namespace) -> int:
    if args.file:
        files = [_read(f, "directory file", DEFAULT_DIRECTORY_LIMITS.max_bytes) for f in args.file]
        async with local_node(args) as local:
            report: Any = await _directory_peers(local).apply_files(files, now())
    else:
        async with full_node(args) as node:
            report = await node.peers.refresh(node.transport, now())
    result = report.to_dict()
    if isinstance(report, DirectoryReport):
        text = _report_text(report)
        result["ok"] = report.rejected is None
    else:
        text = _dev_text(report)
    emit(result, as_json=args.json, text=text)
    return EXIT_REFUSED if report.rejected is not None else 0


# -- show -----------------------------------------------------------------------------------


async def _show(args: argparse.Namespace) -> int:
    async with local_node(args) as local:
        changes = await local.store.key_changes()
        if isinstance(local.peers, DirectoryPeers):
            stored = await local.store.latest_directory()
            accepted_at = stored.accepted_at if stored is not None else None
            result, text = _directory_view(local.peers, accepted_at)
        else:
            result, text = _development_view(local)
    result["key_changes"] = changes
    if changes:
        text += f"\n{len(changes)} key change(s) seen:"
        for c in changes[-10:]:
            text += f"\n  {c['at']}  {c['party']:<8} {c['old_key_ids']} -> {c['new_key_ids']}"
    emit(result, as_json=args.json, text=text)
    return 0


def _directory_view(peers: DirectoryPeers, accepted_at: str | None) -> tuple[dict[str, Any], str]:
    moment = now()
    pinned = root_summary(peers.pinned_root)
    result: dict[str, Any] = {"mode": "directory", "pinned_root": pinned}
    lines = [
        "mode            signed directory",
        f"pinned root     {pinned['threshold']} of {len(pinned['keys'])} administrators",
    ]
    lines += [f"  {k['name']:<12} {k['fingerprint']}" for k in pinned["keys"]]
    current, file = peers.current, peers.state.current_file
    if current is None or file is None:
        result["directory"] = None
        lines.append("directory       NONE YET: run 'node directory refresh'")
        return result, "\n".join(lines)
    status = SignedDirectory.from_bytes(file).status(current.root)
    result["directory"] = directory_dict(current, moment)
    result["signatures"] = status_dict(status)
    result["accepted_at"] = accepted_at
    result["usable"] = peers.unusable(moment) is None
    if current.root != peers.pinned_root:
        lines.append("root in force   changed since pinning (signed by old and new administrators)")
    lines.append(f"accepted        {accepted_at}")
    lines.append(directory_text(current, status, moment))
    return result, "\n".join(lines)


def _development_view(local: LocalNode) -> tuple[dict[str, Any], str]:
    parties = []
    for party in local.peers.parties():
        key = local.peers.key_for(party)
        parties.append(
            {
                "party": party,
                "signing_key": key.key_id if key else None,
                "fingerprint": key.fingerprint if key else None,
                "phone": local.peers.contact_phone(party),
            }
        )
    lines = ["mode            DEVELOPMENT: no root pinned, keys trusted on first use"]
    lines += [f"{p['party']:<8} {p['fingerprint']}  phone {p['phone'] or '-'}" for p in parties]
    return {"mode": local.peers.mode, "parties": parties}, "\n".join(lines)


# -- verify ---------------------------------------------------------------------------------


async def _verify(args: argparse.Namespace) -> int:
    moment = now()
    async with local_node(args) as local:
        peers = _directory_peers(local)
        chain = await local.store.directory_chain()
    if not chain:
        raise DirectoryUnusable(
            "no directory is stored yet: run 'node directory refresh'", code="no_directory"
        )
    state = TrustedDirectory(peers.pinned_root)
    reason: str | None = None
    try:
        state.update_chain([v.file for v in chain], moment)
    except Rejected as e:
        reason = e.reason
    newest = chain[-1]
    in_force = peers.current
    if reason is None and (in_force is None or in_force.payload_sha256 != newest.payload_sha256):
        reason = "not_in_force"
    # Expiry is the last check of the newest file: "expired" means every signature held.
    signatures_valid = reason in (None, "expired")
    result: dict[str, Any] = {
        "valid": reason is None,
        "reason": reason,
        "signatures_valid": signatures_valid,
        "version": newest.version,
        "payload_sha256": newest.payload_sha256,
        "expires": newest.expires,
        "versions_checked": len(chain),
        "pinned_root": root_summary(peers.pinned_root),
    }
    if reason is None:
        current = state.current
        assert current is not None and state.current_file is not None
        status = SignedDirectory.from_bytes(state.current_file).status(current.root)
        result["signatures"] = status_dict(status)
        text = (
            f"VALID: directory version {newest.version} (payload sha256 "
            f"{newest.payload_sha256}) verifies from the pinned root through {len(chain)} "
            f"stored version(s); {status.describe()}; expires {newest.expires}"
        )
    elif reason == "expired":
        text = (
            f"INVALID: directory version {newest.version} has every signature it needs but "
            f"EXPIRED at {newest.expires}: the secretariat must publish a renewed version"
        )
    else:
        text = f"INVALID: {reason}: {ADVICE.get(reason, 'the stored directory was altered')}"
    emit(result, as_json=args.json, text=text)
    return 0 if reason is None else EXIT_REFUSED


# -- pin ------------------------------------------------------------------------------------


async def _pin(args: argparse.Namespace) -> int:
    if args.root is None:
        raise InvalidFile("usage: node directory pin ROOT.json [--force]", code="usage")
    root = read_root_file(Path(args.root))
    cfg = load_config(args)
    store = await Store.open(cfg.database_path)
    try:
        changed = await pin_root(store, root, format_time(now()), force=args.force)
    finally:
        await store.close()
    summary = root_summary(root)
    result = {"pinned": changed, "root": summary}
    lines = [
        f"{'pinned' if changed else 'already pinned'}: {root.threshold} of {len(root.keys)} "
        "administrators; READ THESE FINGERPRINTS BACK TO THE SECRETARIAT BY PHONE:"
    ]
    lines += [f"  {k['name']:<12} {k['fingerprint']}" for k in summary["keys"]]
    lines.append("then run 'node directory refresh' (and restart the daemon if it runs)")
    emit(result, as_json=args.json, text="\n".join(lines))
    return 0


async def pin_root(store: Store, root: RootKeys, stamp: str, *, force: bool) -> bool:
    """Pin ``root``; False if it was pinned already.

    Raises:
        ConfigError: another root is pinned and ``force`` is not set (with ``force`` it is
            replaced, and every directory accepted under it is forgotten).
    """
    data = canonical(root.to_file())
    old = await store.pinned_root()
    if old == data:
        return False
    if old is not None and not force:
        raise ConfigError(
            "another root is pinned already; '--force' replaces it and forgets every "
            "directory accepted under it",
            code="root_pinned",
        )
    await store.pin_root(data, stamp, replace=old is not None)
    return True
