"""``node rotate-key``: a new encryption key, the old ones kept.

The new key is added to the keystore (which keeps every older key: envelopes already sealed
to an old key are opened with it while the directory still lists it, the overlap window)
and a new public bundle is written for the secretariat, who lists the key with
``keys directory rotate-encryption-key … --overlap 30d``. Until the directory lists it,
nobody seals to it. Restart the daemon afterwards so that it holds the new key.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from keys.encoding import format_time, loads_strict
from keys.errors import PocnetError
from keys.host.command import emit
from keys.host.files import write_private, write_public
from keys.identities import EncryptionPrivateKey
from keys.keystore import KDF_PROFILES, MAX_KEYSTORE_BYTES, make_bundle, verify_bundle
from node.cli.base import load_config, now
from node.runtime import resolve_passphrase, unlock
from node.storage.store import Store


def _kdf_of(path: Path) -> str:
    """The cost profile the keystore was written with (``moderate`` if unknown)."""
    try:
        kdf = loads_strict(path.read_bytes(), max_bytes=MAX_KEYSTORE_BYTES, max_depth=4).get("kdf")
    except (OSError, PocnetError):
        return "moderate"
    if isinstance(kdf, dict):
        for name, (ops, mem) in KDF_PROFILES.items():
            if (kdf.get("opslimit"), kdf.get("memlimit")) == (ops, mem):
                return name
    return "moderate"


async def cmd_rotate_key(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    secret = resolve_passphrase(cfg, passphrase_file=args.passphrase_file)
    keystore = unlock(cfg, secret)
    suite = args.suite or keystore.current_encryption_key.suite
    moment = now()
    updated = keystore.with_new_encryption_key(EncryptionPrivateKey.generate(suite), moment)
    kdf = args.kdf or _kdf_of(cfg.keystore_path)
    write_private(cfg.keystore_path, updated.to_bytes(secret, kdf=kdf))
    bundle = make_bundle(updated, moment)
    write_public(cfg.bundle_path, bundle)
    info = verify_bundle(bundle)
    store = await Store.open(cfg.database_path)
    try:  # development mode pins its own bundle; harmless with the signed directory
        await store.pin(
            cfg.party,
            bundle,
            info.signing_key.to_b64(),
            info.signing_key.key_id,
            format_time(moment),
        )
    finally:
        await store.close()
    new = info.current_encryption_key
    result = {
        "party": cfg.party,
        "encryption_key": new.key_id,
        "suite": new.suite,
        "fingerprint": new.fingerprint,
        "keys_kept": [k.key_id for k in info.encryption_keys[:-1]],
        "bundle": str(cfg.bundle_path),
    }
    text = "\n".join(
        [
            f"new encryption key {new.key_id} ({new.suite})",
            f"  fingerprint {new.fingerprint}",
            f"  kept        {len(info.encryption_keys) - 1} older key(s): envelopes sealed to "
            "them open while the directory lists them (the overlap)",
            f"  bundle      {cfg.bundle_path} (public)",
            "next: 1. restart the daemon ('node run') so that it holds the new key;",
            "      2. give the bundle to the secretariat, who lists the key with",
            f"         'keys directory rotate-encryption-key DRAFT --party {cfg.party} "
            "--bundle bundle.json --overlap 30d', signs and publishes;",
            "      3. 'node directory refresh', then 'node directory show' lists it.",
        ]
    )
    emit(result, as_json=args.json, text=text)
    return 0
