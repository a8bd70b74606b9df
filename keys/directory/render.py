"""Text and JSON views of a directory and its signatures, for people (``keys directory``).

Pure functions: they take the time to judge by and return strings or JSON-ready dicts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from keys.directory.document import Directory
from keys.directory.model import EncryptionKeyEntry, Party, SigningKeyEntry
from keys.directory.signed import SignatureStatus
from keys.encoding import format_time

REASON_HELP = {
    "directory_too_large": "the file is larger than the configured limit",
    "too_many_signatures": "the file carries more signature entries than allowed",
    "directory_malformed": "the file is not a valid directory (damaged or not a directory)",
    "threshold_not_met": "not enough valid signatures by the trusted administrators' keys: "
    "collect more signatures ('keys directory sign', then 'combine')",
    "new_root_threshold_not_met": "the administrators' keys or threshold change, and the new "
    "administrators have not signed up to their threshold: the new keys must sign too",
    "rollback": "its version is lower than the trusted one: an old directory is being "
    "replayed, or the wrong file was given",
    "version_reused": "its version equals the trusted one but its content differs: every "
    "change needs a new version (edit commands bump it)",
    "expired": "it has expired: renew it ('keys directory renew') and sign again",
}


def status_dict(status: SignatureStatus) -> dict[str, Any]:
    """The signature status as JSON."""
    state = "signed" if status.met else ("unsigned" if not status.signers else "incomplete")
    return {
        "state": state,
        "valid": len(status.signers),
        "required": status.threshold,
        "signers": list(status.signers),
        "missing": list(status.missing),
        "ignored_entries": status.other,
    }


def status_text(status: SignatureStatus) -> str:
    """One line: ``SIGNED (2 of 2 …)`` or ``INCOMPLETE: 1 of 2 … (signed: …; may sign: …)``."""
    line = status.describe()
    if status.signers:
        line += f"; signed by {', '.join(status.signers)}"
    if not status.met:
        need = status.threshold - len(status.signers)
        line += f"; needs {need} more from {', '.join(status.missing)}"
    return line


def _window(entry: SigningKeyEntry | EncryptionKeyEntry) -> str:
    end = "open-ended" if entry.not_after is None else f"until {format_time(entry.not_after)}"
    return f"from {format_time(entry.not_before)} {end}"


def _state(party: Party, now: datetime) -> str:
    s = party.status
    if s.state == "active" or s.at is None:
        return "active"
    when = "since" if s.at <= now else "from"
    return f"{s.state.upper()} {when} {format_time(s.at)} ({s.reason})"


def directory_dict(directory: Directory, now: datetime) -> dict[str, Any]:
    """The directory as JSON, with key fingerprints and whether it has expired at ``now``."""
    out = directory.to_dict()
    out["expired"] = directory.is_expired(now)
    out["payload_sha256"] = directory.payload_sha256
    for rk, item in zip(directory.root.keys, out["root"]["keys"], strict=True):
        item["fingerprint"] = rk.key.fingerprint
    for party, item in zip(directory.parties, out["parties"], strict=True):
        for entry, key in zip(party.signing_keys, item["signing_keys"], strict=True):
            key["fingerprint"] = entry.key.fingerprint
            del key["key"]
        for e_entry, key in zip(party.encryption_keys, item["encryption_keys"], strict=True):
            key["fingerprint"] = e_entry.key.fingerprint
            del key["key"]
    return out


def directory_text(directory: Directory, status: SignatureStatus, now: datetime) -> str:
    """A readable summary for an administrator about to sign."""
    expiry = "EXPIRED" if directory.is_expired(now) else "expires"
    lines = [
        f"directory version {directory.version} ({expiry} {format_time(directory.expires)})",
        f"payload sha256  {directory.payload_sha256}",
        f"signatures      {status_text(status)}",
        f"root            {directory.root.threshold} of {len(directory.root.keys)} administrators",
    ]
    for rk in sorted(directory.root.keys, key=lambda k: k.name):
        lines.append(f"  {rk.name:<12} {rk.key_id}  {rk.key.fingerprint}")
    if directory.relay is None:
        lines.append("relay           NOT SET (use 'keys directory set-relay')")
    else:
        for entry in directory.relay.signing_keys:
            lines.append(f"relay key       {entry.key.key_id} {_window(entry)}")
    lines.append(f"parties         {len(directory.parties)}")
    for p in directory.parties:
        c = p.contact
        lines.append(f"  {p.id:<10} {p.authority} [{_state(p, now)}]")
        lines.append(
            f"    24/7 {c.phone}  {c.email}  {c.timezone}  languages {', '.join(c.languages)}"
        )
        for s_entry in p.signing_keys:
            lines.append(f"    signing    {s_entry.key.key_id} {_window(s_entry)}")
        for e_entry in p.encryption_keys:
            lines.append(f"    encryption {e_entry.key.key_id} {_window(e_entry)}")
    return "\n".join(lines)
