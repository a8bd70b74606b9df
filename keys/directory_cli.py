"""``keys directory``: the secretariat's commands for the signed directory.

Typical flow (docs/operations-directory.md has it step by step)::

    keys directory admin-key --name XX-ADMIN1 --out admin1/        # on each admin's machine
    keys directory init --threshold 2 --admin admin1/ --admin admin2/ --admin admin3/ \\
        --out directory.json
    keys directory add-party directory.json --bundle FR/bundle.json --authority "…" \\
        --phone "+33 …" --email poc@example.fr --tz Europe/Paris --languages en,fr
    keys directory sign directory.json --key admin1/ --out signed-1.json   # each admin
    keys directory combine signed-1.json signed-2.json --out directory.json
    keys directory verify directory.json --previous published.json

Edits bump the version and drop the signatures (the payload changed). Files are read and
written here; every rule lives in :mod:`keys.directory`.
"""

from __future__ import annotations

import argparse
import re
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from keys import passphrase
from keys.cliutil import EXIT_REFUSED, emit
from keys.directory import (
    Contact,
    Directory,
    RootKeys,
    SignedDirectory,
    TrustedDirectory,
    diff,
    edit,
    verify_signed,
)
from keys.directory.model import ADMIN_NAME_RE
from keys.directory.render import (
    REASON_HELP,
    directory_dict,
    directory_text,
    status_dict,
    status_text,
)
from keys.encoding import canonical, format_time, loads_strict
from keys.errors import KeystoreError, NotFound, PocnetError, Rejected, ValidationError
from keys.files import BUNDLE_NAME, KEYSTORE_NAME, read_keystore, write_private, write_public
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import (
    KDF_PROFILES,
    Keystore,
    PublicBundle,
    StoredEncryptionKey,
    make_bundle,
    verify_bundle,
)

Command = Callable[[argparse.Namespace], int]
_DURATION_RE = re.compile(r"^(\d{1,5})([mhdw])\Z", re.ASCII)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# -- errors: at this command line, bad input is the operator's, not a peer's -------------


class InvalidInput(ValidationError):
    """A file or argument given to ``keys directory`` is not acceptable (exit code 5)."""

    fault = "local"


class MissingInput(NotFound):
    """A file or party named on the command line does not exist (exit code 4)."""

    fault = "local"


def _local(func: Command) -> Command:
    """Report validation errors from the core as the operator's to fix, codes unchanged."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except PocnetError as e:
            if e.fault == "local" or isinstance(e, Rejected):
                raise
            if isinstance(e, NotFound):
                raise MissingInput(e.message, code=e.code) from e
            if isinstance(e, ValidationError):
                raise InvalidInput(e.message, code=e.code) from e
            raise

    return wrapped


# -- reading and writing ----------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise NotFound(f"no {what} at {path}", code="not_found") from e
    except OSError as e:
        raise NotFound(f"cannot read {what} {path}: {e.strerror}", code="not_found") from e


def _in_file(path: Path, e: ValidationError) -> ValidationError:
    return ValidationError(f"{path}: {e.message}", code=e.code)


def _load(path: Path) -> tuple[SignedDirectory, Directory]:
    """A directory file and its (unverified) content, for the secretariat's own tools."""
    try:
        signed = SignedDirectory.from_bytes(_read(path, "directory file"))
        return signed, signed.unverified_directory()
    except ValidationError as e:
        raise _in_file(path, e) from e


def _save(path: Path, signed: SignedDirectory) -> None:
    write_public(path, signed.to_bytes() + b"\n")


def _bundle(path: Path) -> PublicBundle:
    """A verified public bundle (a bundle file or a key folder holding ``bundle.json``)."""
    file = path / BUNDLE_NAME if path.is_dir() else path
    try:
        return verify_bundle(_read(file, "public bundle"))
    except ValidationError as e:
        raise _in_file(file, e) from e


def _duration(text: str) -> timedelta:
    m = _DURATION_RE.match(text.strip())
    if not m:
        raise ValidationError(
            f"{text!r} is not a duration: write e.g. 30d, 12h, 2w or 90m", code="bad_duration"
        )
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def _time(text: str | None) -> datetime:
    if text is None or text == "now":
        return _now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise ValidationError(
            f"{text!r} is not a time: write e.g. 2025-03-01T12:00:00Z", code="bad_time"
        ) from e
    if moment.tzinfo is None:
        raise ValidationError(f"{text!r} has no time zone: add Z or +01:00", code="bad_time")
    return moment


def _timezone(name: str | None) -> str | None:
    """``name`` if this machine's time zone database knows it (the core checks the form;
    a machine without a database skips this check)."""
    if name is None or not zoneinfo.available_timezones():
        return name
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise ValidationError(
            f"{name!r} is not an IANA time zone: write e.g. Europe/Paris", code="bad_timezone"
        ) from e
    return name


def _languages(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(x.strip() for x in text.split(",") if x.strip())


def _result(directory: Directory, signed: SignedDirectory, path: Path) -> dict[str, Any]:
    return {
        "file": str(path),
        "version": directory.version,
        "expires": format_time(directory.expires),
        "payload_sha256": directory.payload_sha256,
        "signatures": status_dict(signed.status(directory.root)),
    }


# -- commands -----------------------------------------------------------------------------


def cmd_admin_key(args: argparse.Namespace) -> int:
    name = args.name
    if not ADMIN_NAME_RE.match(name):
        raise ValidationError(
            f"{name!r} is not an administrator name: use XX- and 1 to 8 capital letters or "
            "digits, e.g. XX-ADMIN1",
            code="bad_admin_name",
        )
    out: Path = args.out
    ks_path = out / KEYSTORE_NAME
    if ks_path.exists() and not args.force:
        raise KeystoreError(
            f"{ks_path} exists; refusing to overwrite keys (use --force to replace them)",
            code="keystore_exists",
        )
    secret = passphrase.resolve(args.passphrase_file, confirm=True)
    now = _now()
    # An administrator's keystore is an ordinary keystore; its small X25519 encryption key
    # is never used (docs/adr/0002-directory.md).
    enc = StoredEncryptionKey(EncryptionPrivateKey.generate("x25519"), format_time(now))
    ks = Keystore(name, SigningKey.generate(), (enc,))
    write_private(ks_path, ks.to_bytes(secret, kdf=args.kdf))
    write_public(out / BUNDLE_NAME, make_bundle(ks, now))
    key = ks.signing_key.public
    info = {
        "name": name,
        "key_id": key.key_id,
        "fingerprint": key.fingerprint,
        "keystore": str(ks_path),
        "bundle": str(out / BUNDLE_NAME),
    }
    text = (
        f"administrator {name}\nkey id       {key.key_id}\nfingerprint  {key.fingerprint}\n"
        f"keystore     {ks_path} (mode 0600, encrypted: keep it on this machine)\n"
        f"public key   {out / BUNDLE_NAME} (give it to the secretariat; read the "
        "fingerprint to them by phone)"
    )
    emit(info, as_json=args.json, text=text)
    return 0


def _root(threshold: int, admins: list[Path]) -> RootKeys:
    return edit.root_from_bundles(threshold, [_bundle(p) for p in admins])


def cmd_init(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and not args.force:
        raise ValidationError(
            f"{out} exists; refusing to replace a directory (use --force)", code="file_exists"
        )
    directory = edit.new_directory(
        _root(args.threshold, args.admin), _now(), _duration(args.expires_in)
    )
    signed = SignedDirectory.unsigned(directory)
    _save(out, signed)
    result = _result(directory, signed, out)
    text = (
        f"created {out}: version 1, {args.threshold} of {len(directory.root.keys)} "
        f"administrators must sign\n{status_text(signed.status(directory.root))}\n"
        "next: add the relay (set-relay) and parties (add-party), then each administrator "
        "signs (sign)"
    )
    emit(result, as_json=args.json, text=text)
    return 0


def _edit(args: argparse.Namespace, change: Callable[[Directory, datetime], Directory]) -> int:
    """Load FILE, apply ``change``, bump the version, drop signatures, write, report."""
    path: Path = args.file
    old_signed, old = _load(path)
    now = _now()
    new = edit.next_version(change(old, now), old, now, _duration(args.expires_in))
    signed = SignedDirectory.unsigned(new)
    out: Path = args.out or path
    _save(out, signed)
    changes = diff(old, new)
    result = _result(new, signed, out)
    result["changes"] = [c.to_dict() for c in changes]
    result["dropped_signatures"] = len(old_signed.signatures)
    lines = [f"wrote {out}: version {old.version} -> {new.version}"]
    lines += [f"  {c.describe()}" for c in changes]
    if old_signed.signatures:
        lines.append(f"dropped {len(old_signed.signatures)} signature(s): the content changed")
    lines.append(status_text(signed.status(new.root)))
    emit(result, as_json=args.json, text="\n".join(lines))
    return 0


def cmd_add_party(args: argparse.Namespace) -> int:
    bundle = _bundle(args.bundle)
    languages = _languages(args.languages)
    assert languages is not None
    contact = Contact(args.phone, args.email, _timezone(args.tz) or "", languages)
    return _edit(
        args,
        lambda d, now: edit.add_party(
            d, bundle, authority=args.authority, contact=contact, now=now
        ),
    )


def cmd_update_party(args: argparse.Namespace) -> int:
    tz = _timezone(args.tz)
    return _edit(
        args,
        lambda d, _now: edit.update_party(
            d,
            args.party,
            authority=args.authority,
            phone=args.phone,
            email=args.email,
            timezone=tz,
            languages=_languages(args.languages),
        ),
    )


def cmd_suspend(args: argparse.Namespace) -> int:
    at = _time(args.at)
    return _edit(args, lambda d, _: edit.suspend(d, args.party, at=at, reason=args.reason))


def cmd_reinstate(args: argparse.Namespace) -> int:
    return _edit(args, lambda d, _: edit.reinstate(d, args.party))


def cmd_revoke(args: argparse.Namespace) -> int:
    at = _time(args.at)
    return _edit(args, lambda d, _: edit.revoke(d, args.party, at=at, reason=args.reason))


def cmd_rotate_encryption_key(args: argparse.Namespace) -> int:
    bundle = _bundle(args.bundle)
    overlap = _duration(args.overlap)
    return _edit(
        args,
        lambda d, now: edit.rotate_encryption_key(d, args.party, bundle, now=now, overlap=overlap),
    )


def cmd_rotate_signing_key(args: argparse.Namespace) -> int:
    bundle = _bundle(args.bundle)
    at = _time(args.at)
    return _edit(args, lambda d, _: edit.rotate_signing_key(d, args.party, bundle, at=at))


def cmd_set_relay(args: argparse.Namespace) -> int:
    bundle = _bundle(args.bundle)
    at = _time(args.at)
    return _edit(args, lambda d, _: edit.set_relay(d, bundle, at=at))


def cmd_set_root(args: argparse.Namespace) -> int:
    root = _root(args.threshold, args.admin)
    return _edit(args, lambda d, _: edit.set_root(d, root))


def cmd_renew(args: argparse.Namespace) -> int:
    return _edit(args, lambda d, _: d)


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


def cmd_show(args: argparse.Namespace) -> int:
    signed, directory = _load(args.file)
    now = _now()
    status = signed.status(directory.root)
    result = directory_dict(directory, now)
    result["signatures"] = status_dict(status)
    emit(result, as_json=args.json, text=directory_text(directory, status, now))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    _, old = _load(args.old)
    _, new = _load(args.new)
    changes = diff(old, new)
    result: dict[str, Any] = {
        "old_version": old.version,
        "new_version": new.version,
        "changes": [c.to_dict() for c in changes],
    }
    lines = [f"version {old.version} -> {new.version}: {len(changes)} change(s)"]
    if new.version <= old.version:
        lines.append("WARNING: the new version is not higher: readers will refuse it")
        result["warning"] = "version_not_higher"
    lines += [c.describe() for c in changes]
    emit(result, as_json=args.json, text="\n".join(lines))
    return 0


def cmd_export_root(args: argparse.Namespace) -> int:
    _, directory = _load(args.file)
    root = directory.root
    write_public(args.out, canonical(root.to_file()) + b"\n")
    result = {
        "file": str(args.out),
        "threshold": root.threshold,
        "keys": [
            {"name": k.name, "key_id": k.key_id, "fingerprint": k.key.fingerprint}
            for k in root.keys
        ],
    }
    lines = [f"wrote {args.out}: {root.threshold} of {len(root.keys)} administrators"]
    lines += [
        f"  {k.name:<12} {k.key.fingerprint}" for k in sorted(root.keys, key=lambda k: k.name)
    ]
    lines.append("nodes pin this file; check the fingerprints with the secretariat by phone")
    emit(result, as_json=args.json, text="\n".join(lines))
    return 0


# -- parser ---------------------------------------------------------------------------------


def _file_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, metavar="FILE", help="the directory file to edit")
    p.add_argument(
        "--out", type=Path, metavar="NEW", help="write here (default: edit FILE in place)"
    )
    p.add_argument(
        "--expires-in",
        default="180d",
        metavar="DURATION",
        help="the new version expires this long from now (default 180d)",
    )


def _contact_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--authority", required=required, help="the authority's name")
    p.add_argument("--phone", required=required, help="24/7 phone, international: +33 1 …")
    p.add_argument("--email", required=required, help="24/7 e-mail address")
    p.add_argument("--tz", required=required, metavar="ZONE", help="IANA time zone: Europe/Paris")
    p.add_argument("--languages", required=required, metavar="LIST", help="accepted: en,fr")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys directory …`` to the ``keys`` command's sub-parsers."""
    top = sub.add_parser(
        "directory",
        help="the signed directory: create, edit, sign, verify (secretariat)",
        description="Manage the signed directory of contact points. Edits bump the version "
        "and drop signatures; then each administrator signs on their own machine.",
    )
    d = top.add_subparsers(dest="directory_command", required=True, metavar="COMMAND")
    parsers: list[argparse.ArgumentParser] = []

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = d.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=_local(func))
        parsers.append(p)
        return p

    p = add("admin-key", cmd_admin_key, "create an administrator's keystore and public key")
    p.add_argument("--name", required=True, help="administrator name: XX-ADMIN1")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write to")
    p.add_argument("--kdf", choices=sorted(KDF_PROFILES), default="moderate", help="Argon2id cost")
    p.add_argument("--force", action="store_true", help="replace existing keys in DIR")
    passphrase.add_arguments(p)

    p = add("init", cmd_init, "create version 1 with the administrators' keys")
    p.add_argument("--threshold", required=True, type=int, help="signatures required (m of n)")
    p.add_argument(
        "--admin",
        required=True,
        action="append",
        type=Path,
        metavar="BUNDLE",
        help="an administrator's public key (bundle.json or its folder); repeat",
    )
    p.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="directory file to write"
    )
    p.add_argument(
        "--expires-in", default="180d", metavar="DURATION", help="validity (default 180d)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing FILE")

    p = add("add-party", cmd_add_party, "list a new party from its public bundle")
    _file_args(p)
    p.add_argument("--bundle", required=True, type=Path, help="the party's bundle.json")
    _contact_args(p, required=True)

    p = add("update-party", cmd_update_party, "change a party's authority or contact profile")
    _file_args(p)
    p.add_argument("--party", required=True, help="the party's id, e.g. FR")
    _contact_args(p, required=False)

    for name, func, text in (
        ("suspend", cmd_suspend, "suspend a party (it may not send or receive)"),
        ("revoke", cmd_revoke, "revoke a party for good (signatures from --at on are invalid)"),
    ):
        p = add(name, func, text)
        _file_args(p)
        p.add_argument("--party", required=True, help="the party's id, e.g. FR")
        p.add_argument("--reason", required=True, help="short reason, shown to all members")
        p.add_argument("--at", metavar="TIME", help="effective time, RFC 3339 (default now)")

    p = add("reinstate", cmd_reinstate, "end a party's suspension")
    _file_args(p)
    p.add_argument("--party", required=True, help="the party's id, e.g. FR")

    p = add("rotate-encryption-key", cmd_rotate_encryption_key, "make a new encryption key current")
    _file_args(p)
    p.add_argument("--party", required=True, help="the party's id, e.g. FR")
    p.add_argument("--bundle", required=True, type=Path, help="the party's new bundle.json")
    p.add_argument(
        "--overlap",
        default="30d",
        metavar="DURATION",
        help="how long the old key stays valid (default 30d)",
    )

    p = add("rotate-signing-key", cmd_rotate_signing_key, "replace a party's signing key")
    _file_args(p)
    p.add_argument("--party", required=True, help="the party's id, e.g. FR")
    p.add_argument("--bundle", required=True, type=Path, help="bundle with the new signing key")
    p.add_argument("--at", metavar="TIME", help="switch time, RFC 3339 (default now)")

    p = add("set-relay", cmd_set_relay, "set the relay's receipt and checkpoint key")
    _file_args(p)
    p.add_argument("--bundle", required=True, type=Path, help="the relay's bundle.json")
    p.add_argument("--at", metavar="TIME", help="valid from, RFC 3339 (default now)")

    p = add("set-root", cmd_set_root, "change the administrators' keys or threshold")
    _file_args(p)
    p.add_argument("--threshold", required=True, type=int, help="signatures required (m of n)")
    p.add_argument(
        "--admin",
        required=True,
        action="append",
        type=Path,
        metavar="BUNDLE",
        help="an administrator's public key (bundle.json or its folder); repeat",
    )

    p = add("renew", cmd_renew, "publish the same content as a new version with a new expiry")
    _file_args(p)

    p = add("sign", cmd_sign, "add your administrator signature to a directory file")
    p.add_argument("file", type=Path, metavar="FILE", help="the directory file to sign")
    p.add_argument("--key", required=True, type=Path, metavar="DIR", help="your admin-key folder")
    p.add_argument(
        "--previous",
        type=Path,
        metavar="OLD",
        help="the directory before a root change (outgoing administrators)",
    )
    p.add_argument("--out", type=Path, metavar="NEW", help="write here (default: FILE)")
    passphrase.add_arguments(p)

    p = add("combine", cmd_combine, "merge signatures over the same version into one file")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="signed copies to merge")
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="merged file to write")

    p = add("verify", cmd_verify, "check signatures, version and expiry")
    p.add_argument("file", type=Path, metavar="FILE", help="the directory file to check")
    trust = p.add_mutually_exclusive_group()
    trust.add_argument("--trusted-root", type=Path, metavar="ROOT", help="a pinned root file")
    trust.add_argument("--previous", type=Path, metavar="OLD", help="the directory in force")
    p.add_argument("--at", metavar="TIME", help="judge expiry at TIME (default now)")

    p = add("show", cmd_show, "show a directory and its signature status")
    p.add_argument("file", type=Path, metavar="FILE", help="the directory file to show")

    p = add("diff", cmd_diff, "what changed between two versions")
    p.add_argument("old", type=Path, metavar="OLD", help="the earlier directory file")
    p.add_argument("new", type=Path, metavar="NEW", help="the later directory file")

    p = add("export-root", cmd_export_root, "write the root keys file that nodes pin")
    p.add_argument("file", type=Path, metavar="FILE", help="a signed directory file")
    p.add_argument("--out", required=True, type=Path, metavar="ROOT", help="root file to write")

    for p in parsers:
        p.add_argument("--json", action="store_true", help="print JSON")
