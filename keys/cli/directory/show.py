"""``keys directory`` commands that create or read: admin-key, init, show, diff, export-root."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from keys.cli.directory.common import _duration, _load, _now, _result, _root, _save
from keys.directory import SignedDirectory, diff, edit
from keys.directory.model import ADMIN_NAME_RE
from keys.directory.render import directory_dict, directory_text, status_dict, status_text
from keys.encoding import canonical, format_time
from keys.errors import KeystoreError, ValidationError
from keys.host import passphrase
from keys.host.command import emit
from keys.host.files import BUNDLE_NAME, KEYSTORE_NAME, write_private, write_public
from keys.identities import EncryptionPrivateKey, SigningKey
from keys.keystore import Keystore, StoredEncryptionKey, make_bundle


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
