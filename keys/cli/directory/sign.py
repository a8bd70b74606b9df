"""``keys directory`` commands for signatures: sign, combine, verify."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from keys.cli.directory.common import _in_file, _load, _now, _read, _result, _save, _time
from keys.directory import RootKeys, SignedDirectory, TrustedDirectory, verify_signed
from keys.directory.render import REASON_HELP, status_dict, status_text
from keys.encoding import format_time, loads_strict
from keys.errors import Rejected, ValidationError
from keys.host import passphrase
from keys.host.command import EXIT_REFUSED, emit
from keys.host.files import KEYSTORE_NAME, read_keystore


def cmd_sign(args: argparse.Namespace) -> int:
    path: Path = args.file
    signed, directory = _load(path)
    now = _now()
    if directory.is_expired(now):
        raise ValidationError(
            f"version {directory.version} expired at {format_time(directory.expires)}: "
            "renew it ('keys directory renew') before signing",
            code="expired",
        )
    key_dir: Path = args.key
    ks_path = key_dir / KEYSTORE_NAME if key_dir.is_dir() else key_dir
    keystore = read_keystore(ks_path, passphrase.resolve(args.passphrase_file))
    key_id = keystore.signing_key.public.key_id
    allowed = directory.root.key(key_id) is not None
    if not allowed and args.previous is not None:
        allowed = _load(args.previous)[1].root.key(key_id) is not None
    if not allowed:
        raise ValidationError(
            f"{keystore.party}'s key {key_id} is not a root key of this directory; an "
            "outgoing administrator signing a root change must pass --previous OLD.json",
            code="not_root_key",
        )
    new = signed.with_signature(keystore.signing_key)
    out: Path = args.out or path
    _save(out, new)
    status = new.status(directory.root)
    result = _result(directory, new, out)
    result["signed_by"] = keystore.party
    text = (
        f"{keystore.party} signed version {directory.version} "
        f"(payload sha256 {directory.payload_sha256})\nwrote {out}\n{status_text(status)}"
    )
    emit(result, as_json=args.json, text=text)
    return 0


def cmd_combine(args: argparse.Namespace) -> int:
    files: list[Path] = args.files
    combined: SignedDirectory | None = None
    for path in files:
        try:
            signed = SignedDirectory.from_bytes(_read(path, "directory file"))
            combined = signed if combined is None else combined.combine(signed)
        except ValidationError as e:
            raise _in_file(path, e) from e
    assert combined is not None
    directory = combined.unverified_directory()
    _save(args.out, combined)
    result = _result(directory, combined, args.out)
    status = status_text(combined.status(directory.root))
    text = f"combined {len(files)} files into {args.out} (version {directory.version})\n{status}"
    emit(result, as_json=args.json, text=text)
    return 0


def _trust(args: argparse.Namespace) -> tuple[TrustedDirectory | None, RootKeys, str]:
    """What ``verify`` checks against: a pinned root, the version in force, or (neither
    given) the file's own root, which proves consistency but decides no trust."""
    if args.trusted_root is not None:
        raw = _read(args.trusted_root, "root file")
        try:
            root = RootKeys.from_file(loads_strict(raw, max_depth=4))
        except ValidationError as e:
            raise _in_file(args.trusted_root, e) from e
        return TrustedDirectory(root), root, f"trusted root {args.trusted_root}"
    if args.previous is not None:
        try:
            state = TrustedDirectory.from_stored(_read(args.previous, "previous directory"))
        except Rejected as e:
            raise ValidationError(
                f"the previous directory {args.previous} does not verify against its own root "
                f"({e.reason}): give the signed version in force",
                code="previous_invalid",
            ) from e
        return state, state.root, f"previous directory {args.previous}"
    own = _load(args.file)[1].root
    return None, own, "its own root keys only (no trust decision)"


def cmd_verify(args: argparse.Namespace) -> int:
    path: Path = args.file
    data = _read(path, "directory file")
    now = _time(args.at)
    state, root, against = _trust(args)
    result: dict[str, Any] = {"file": str(path), "at": format_time(now), "checked_against": against}
    try:
        if state is not None:
            directory = state.update(data, now)
        else:
            directory = verify_signed(data, root).directory
            if directory.is_expired(now):
                raise Rejected("expired")
    except Rejected as e:
        result.update({"valid": False, "reason": e.reason, "help": REASON_HELP.get(e.reason, "")})
        text = f"INVALID: {e.reason}: {result['help']}"
        try:
            signed, content = _load(path)
        except ValidationError:
            signed = None
        if signed is not None:
            status = signed.status(root)
            result["version"] = content.version
            result["signatures"] = status_dict(status)
            text += f"\n{status_text(status)} (against {against})"
        emit(result, as_json=args.json, text=text)
        return EXIT_REFUSED
    signed = SignedDirectory.from_bytes(data)
    status = signed.status(root)
    result.update(
        {
            "valid": True,
            "version": directory.version,
            "expires": format_time(directory.expires),
            "payload_sha256": directory.payload_sha256,
            "signatures": status_dict(status),
        }
    )
    text = (
        f"VALID: version {directory.version}, expires {format_time(directory.expires)}, "
        f"checked against {against}\n{status_text(status)}"
    )
    emit(result, as_json=args.json, text=text)
    return 0
