"""``keys directory`` commands that change a draft: each bumps the version, drops signatures."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from keys.cli.directory.common import (
    _bundle,
    _duration,
    _languages,
    _load,
    _now,
    _result,
    _root,
    _save,
    _time,
    _timezone,
)
from keys.directory import Contact, Directory, SignedDirectory, diff, edit
from keys.directory.render import status_text
from keys.host.command import emit


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
