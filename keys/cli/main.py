# PYTHON_ARGCOMPLETE_OK
"""The ``keys`` command: generate a party's keys, show them, verify a public bundle."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from keys.cli import directory as directory_cli
from keys.encoding import format_time
from keys.errors import KeystoreError, ValidationError
from keys.host import passphrase
from keys.host.command import (
    EXIT_CODES_HELP,
    add_exit_codes,
    add_version,
    emit,
    enable_completion,
    run,
)
from keys.host.files import (
    BUNDLE_NAME,
    KEYSTORE_NAME,
    keystore_is_encrypted,
    read_keystore,
    write_private,
    write_public,
)
from keys.identities import EncryptionPrivateKey, SigningKey, validate_party_id
from keys.keystore import (
    KDF_PROFILES,
    Keystore,
    PublicBundle,
    StoredEncryptionKey,
    make_bundle,
    verify_bundle,
)
from keys.suites import DEFAULT_SUITE, SUITES


def _bundle_dict(bundle: PublicBundle) -> dict[str, Any]:
    return {
        "party": bundle.party,
        "created_at": bundle.created_at,
        "signing_key": {
            "key_id": bundle.signing_key.key_id,
            "fingerprint": bundle.signing_key.fingerprint,
        },
        "encryption_keys": [
            {"suite": k.suite, "key_id": k.key_id, "fingerprint": k.fingerprint}
            for k in bundle.encryption_keys
        ],
    }


def _bundle_text(info: dict[str, Any]) -> str:
    lines = [
        f"party        {info['party']}",
        f"signing key  {info['signing_key']['key_id']}",
        f"  fingerprint {info['signing_key']['fingerprint']}",
    ]
    for k in info["encryption_keys"]:
        lines.append(f"encryption   {k['key_id']} ({k['suite']})")
        lines.append(f"  fingerprint {k['fingerprint']}")
    return "\n".join(lines)


def cmd_generate(args: argparse.Namespace) -> int:
    party = validate_party_id(args.party, allow_relay=True)
    out: Path = args.out
    ks_path = out / KEYSTORE_NAME
    if ks_path.exists() and not args.force:
        raise KeystoreError(
            f"{ks_path} exists; refusing to overwrite keys (use --force to replace them)",
            code="keystore_exists",
        )
    secret = passphrase.resolve(
        args.passphrase_file, no_passphrase=args.no_passphrase, confirm=True
    )
    now = datetime.now().astimezone()
    enc = (
        ()
        if party == "relay"
        else (StoredEncryptionKey(EncryptionPrivateKey.generate(args.suite), format_time(now)),)
    )
    ks = Keystore(party, SigningKey.generate(), enc)
    write_private(ks_path, ks.to_bytes(secret, kdf=args.kdf))
    bundle_bytes = make_bundle(ks, now)
    write_public(out / BUNDLE_NAME, bundle_bytes)
    info = _bundle_dict(verify_bundle(bundle_bytes))
    info.update(
        {
            "keystore": str(ks_path),
            "bundle": str(out / BUNDLE_NAME),
            "encrypted": secret is not None,
        }
    )
    text = _bundle_text(info) + f"\nkeystore     {ks_path} (mode 0600"
    text += ", encrypted)" if secret is not None else ", UNENCRYPTED by your choice)"
    text += f"\nbundle       {out / BUNDLE_NAME} (public: give it to the secretariat)"
    emit(info, as_json=args.json, text=text)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    path: Path = args.dir
    bundle_path = path / BUNDLE_NAME if path.is_dir() else path
    try:
        data = bundle_path.read_bytes()
    except OSError as e:
        raise KeystoreError(f"cannot read {bundle_path}: {e.strerror}", code="not_found") from e
    info = _bundle_dict(verify_bundle(data))
    if args.check_keystore:
        ks_path = bundle_path.parent / KEYSTORE_NAME
        secret = (
            passphrase.resolve(args.passphrase_file) if keystore_is_encrypted(ks_path) else None
        )
        ks = read_keystore(ks_path, secret)
        if ks.signing_key.public.key_id != info["signing_key"]["key_id"]:
            raise KeystoreError("the keystore does not match the bundle", code="keystore_mismatch")
        info["keystore"] = "opens and matches the bundle"
    emit(info, as_json=args.json, text=_bundle_text(info))
    return 0


def cmd_verify_bundle(args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as e:
        raise ValidationError(f"cannot read {args.file}: {e.strerror}", code="not_found") from e
    info = _bundle_dict(verify_bundle(data))
    info["valid"] = True
    emit(
        info,
        as_json=args.json,
        text="bundle OK: self-signature and key ids verify\n" + _bundle_text(info),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keys",
        description="PoCNet keys: create a party's key pairs, show their fingerprints, "
        "verify public bundles.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="create a keystore (private) and a bundle (public)")
    gen.add_argument(
        "--party", required=True, help="party id, e.g. FR or US-DOJ ('relay' for a relay)"
    )
    gen.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write to")
    gen.add_argument("--suite", choices=sorted(SUITES), default=DEFAULT_SUITE, help="HPKE suite")
    gen.add_argument(
        "--kdf", choices=sorted(KDF_PROFILES), default="interactive", help="Argon2id cost profile"
    )
    gen.add_argument("--force", action="store_true", help="replace existing keys in DIR")
    passphrase.add_arguments(gen, allow_none=True)
    gen.set_defaults(func=cmd_generate)

    show = sub.add_parser("show", help="key ids and fingerprints of a key folder or bundle")
    show.add_argument("dir", type=Path, metavar="DIR", help="key folder (or a bundle file)")
    show.add_argument(
        "--check-keystore", action="store_true", help="also open the keystore and match it"
    )
    passphrase.add_arguments(show)
    show.set_defaults(func=cmd_show)

    vb = sub.add_parser("verify-bundle", help="check a public bundle's self-signature")
    vb.add_argument("file", type=Path, metavar="FILE", help="the bundle.json to check")
    vb.set_defaults(func=cmd_verify_bundle)

    for p in (gen, show, vb):
        p.add_argument("--json", action="store_true", help="print JSON")
    directory_cli.register(sub)
    return add_version(add_exit_codes(parser))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    enable_completion(parser)
    args = parser.parse_args(argv)
    return run(lambda: int(args.func(args)), as_json=args.json, remote=False)


if __name__ == "__main__":
    sys.exit(main())
