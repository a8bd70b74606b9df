"""``node init``, ``node forms``. (``node directory``: :mod:`node.cli.directory`.)"""

from __future__ import annotations

import argparse
import json

from keys.directory import RootKeys
from keys.encoding import format_time
from keys.errors import ConfigError
from keys.host import passphrase
from keys.host.command import emit
from keys.host.files import BUNDLE_NAME, KEYSTORE_NAME, write_private, write_public
from keys.identities import EncryptionPrivateKey, SigningKey, normalise_party_id
from keys.keystore import Keystore, StoredEncryptionKey, make_bundle, verify_bundle
from node import config as node_config
from node.cli.base import data_dir, now
from node.cli.directory import pin_root, read_root_file
from node.forms import KINDS, get_kind, i18n
from node.forms.examples import example
from node.forms.template import describe_text, template
from node.storage.store import Store
from node.trust.directory import root_summary


async def cmd_init(args: argparse.Namespace) -> int:
    party = normalise_party_id(args.party)
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
    root = read_root_file(args.root) if args.root is not None else None
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
        if root is not None:
            await pin_root(store, root, format_time(moment), force=True)
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
        "mode": "directory" if root is not None else "development",
        "root": root_summary(root) if root is not None else None,
    }
    text = (
        f"node {party} created in {folder}\n"
        f"  config    {cfg_path} (every setting listed with its default)\n"
        f"  keystore  {keys_dir / KEYSTORE_NAME} (mode 0600, "
        + ("encrypted)" if secret is not None else "UNENCRYPTED by your choice)")
        + f"\n  bundle    {keys_dir / BUNDLE_NAME} (public)\n"
        f"  fingerprint {info.signing_key.fingerprint}\n" + _next_steps(root)
    )
    emit(result, as_json=args.json, text=text)
    return 0


async def cmd_forms(args: argparse.Namespace) -> int:
    lang = getattr(args, "lang", "en") or "en"
    if not args.kind:
        kinds = [
            {"kind": k.name, "title": i18n.title(k, lang), "basis": k.basis} for k in KINDS.values()
        ]
        text = "\n".join(f"{k['kind']:<30} {k['title']} ({k['basis']})" for k in kinds)
        emit({"kinds": kinds}, as_json=args.json, text=text)
        return 0
    spec = get_kind(args.kind)
    if args.describe:
        emit({"kind": spec.name}, as_json=False, text=describe_text(spec, lang))
        return 0
    doc = example(spec.name, now()) if args.example else template(spec)
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    return 0


def _next_steps(root: RootKeys | None) -> str:
    if root is None:
        return (
            "DEVELOPMENT MODE: no secretariat root pinned (--root), so other parties' keys "
            "will be trusted on first sight from the relay's list\n"
            "next: give the bundle to the relay operator, then run 'node directory refresh' "
            "and start the daemon with 'node run'"
        )
    lines = [
        f"  root      {root.threshold} of {len(root.keys)} secretariat administrators pinned; "
        "READ THESE FINGERPRINTS BACK TO THE SECRETARIAT BY PHONE:"
    ]
    lines += [f"    {k['name']:<12} {k['fingerprint']}" for k in root_summary(root)["keys"]]
    lines.append(
        "next: give the bundle (and your fingerprint) to the secretariat, which lists you in "
        "the signed directory; then run 'node directory refresh' and 'node run'"
    )
    return "\n".join(lines)
