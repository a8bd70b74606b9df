"""``node init``, ``node forms``, ``node directory``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from keys import passphrase
from keys.cliutil import emit
from keys.encoding import format_time
from keys.errors import ConfigError
from keys.files import BUNDLE_NAME, KEYSTORE_NAME, write_private, write_public
from keys.identities import EncryptionPrivateKey, SigningKey, validate_party_id
from keys.keystore import Keystore, StoredEncryptionKey, make_bundle, verify_bundle
from node import config as node_config
from node.commands.base import data_dir, full_node, local_node, now
from node.forms import KINDS, get_kind
from node.forms.examples import example
from node.forms.template import describe_text, template
from node.store import Store


async def cmd_init(args: argparse.Namespace) -> int:
    party = validate_party_id(args.party)
    folder = data_dir(args)
    cfg_path = folder / node_config.CONFIG_NAME
    keys_dir = folder / "keys"
    if (cfg_path.exists() or (keys_dir / KEYSTORE_NAME).exists()) and not args.force:
        raise ConfigError(
            f"{folder} already holds a node (node.toml or keys); refusing to overwrite it "
            "(use --force to replace it, which makes new keys)",
            code="already_initialised",
        )
    if not args.relay.startswith(("http://", "https://")):
        raise ConfigError(f"--relay must be an http:// or https:// URL, not {args.relay!r}")
    secret = passphrase.resolve(
        args.passphrase_file, no_passphrase=args.no_passphrase, confirm=True
    )
    moment = now()
    keystore = Keystore(
        party,
        SigningKey.generate(),
        (StoredEncryptionKey(EncryptionPrivateKey.generate(args.suite), format_time(moment)),),
    )
    folder.mkdir(parents=True, exist_ok=True)
    write_private(keys_dir / KEYSTORE_NAME, keystore.to_bytes(secret, kdf=args.kdf))
    bundle = make_bundle(keystore, moment)
    write_public(keys_dir / BUNDLE_NAME, bundle)
    cfg_path.write_text(node_config.render(party, args.relay), encoding="utf-8")
    cfg = node_config.load(folder)
    store = await Store.open(cfg.database_path)
    try:
        info = verify_bundle(bundle)
        await store.pin(
            party, bundle, info.signing_key.to_b64(), info.signing_key.key_id, format_time(moment)
        )
    finally:
        await store.close()
    result = {
        "party": party,
        "data": str(folder),
        "config": str(cfg_path),
        "keystore": str(keys_dir / KEYSTORE_NAME),
        "keystore_encrypted": secret is not None,
        "bundle": str(keys_dir / BUNDLE_NAME),
        "signing_key": info.signing_key.key_id,
        "fingerprint": info.signing_key.fingerprint,
        "relay": args.relay,
    }
    text = (
        f"node {party} created in {folder}\n"
        f"  config    {cfg_path} (every setting listed with its default)\n"
        f"  keystore  {keys_dir / KEYSTORE_NAME} (mode 0600, "
        + ("encrypted)" if secret is not None else "UNENCRYPTED by your choice)")
        + f"\n  bundle    {keys_dir / BUNDLE_NAME} (public)\n"
        f"  fingerprint {info.signing_key.fingerprint}\n"
        "next: give the bundle to the relay operator, then run 'node directory refresh' "
        "and start the daemon with 'node run'"
    )
    emit(result, as_json=args.json, text=text)
    return 0


async def cmd_forms(args: argparse.Namespace) -> int:
    if not args.kind:
        kinds = [{"kind": k.name, "title": k.title, "basis": k.basis} for k in KINDS.values()]
        text = "\n".join(f"{k['kind']:<30} {k['title']} ({k['basis']})" for k in kinds)
        emit({"kinds": kinds}, as_json=args.json, text=text)
        return 0
    spec = get_kind(args.kind)
    if args.describe:
        emit({"kind": spec.name}, as_json=False, text=describe_text(spec))
        return 0
    doc = example(spec.name, now()) if args.example else template(spec)
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    return 0


async def cmd_directory(args: argparse.Namespace) -> int:
    if args.action == "refresh":
        async with full_node(args) as node:
            report = await node.peers.refresh(node.transport, now())
        result: dict[str, Any] = report.to_dict()
        text = (
            f"directory: {report.parties} parties; newly pinned {report.pinned or 'none'}; "
            f"rotated {report.rotated or 'none'}; CHANGED {report.changed or 'none'}; "
            f"refused {report.refused or 'none'}; invalid bundles {report.invalid}"
        )
        emit(result, as_json=args.json, text=text)
        return 0
    async with local_node(args) as local:
        parties = []
        for party in local.peers.parties():
            bundle = local.peers.bundle(party)
            assert bundle is not None
            parties.append(
                {
                    "party": party,
                    "signing_key": bundle.signing_key.key_id,
                    "fingerprint": bundle.signing_key.fingerprint,
                    "encryption_key": bundle.current_encryption_key.key_id
                    if bundle.encryption_keys
                    else None,
                    "phone": local.config.contacts.get(party),
                }
            )
        changes = await local.store.key_changes()
    text = "\n".join(
        f"{p['party']:<8} {p['fingerprint']}  phone {p['phone'] or '-'}" for p in parties
    )
    if changes:
        text += f"\n{len(changes)} key change(s) seen: see --json"
    emit({"parties": parties, "key_changes": changes}, as_json=args.json, text=text)
    return 0
