"""The secretariat's edits to a directory, as pure functions.

Each edit takes a :class:`Directory` and returns a new one with the same version;
:func:`next_version` then bumps the version and sets a new expiry (every published change
gets a higher version, and its old signatures no longer apply). Edits refuse what would
make the directory wrong or ambiguous, with a message that says what to do instead.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from keys.directory.document import Directory
from keys.directory.fields import instant
from keys.directory.model import (
    ADMIN_NAME_RE,
    Contact,
    EncryptionKeyEntry,
    Party,
    RelayInfo,
    RootKey,
    RootKeys,
    SigningKeyEntry,
    Status,
)
from keys.errors import ValidationError
from keys.identities import RELAY_ID
from keys.keystore import PublicBundle

DEFAULT_VALIDITY = timedelta(days=180)


def root_from_bundles(threshold: int, bundles: list[PublicBundle]) -> RootKeys:
    """Root keys from administrators' public bundles (``keys directory admin-key``).

    Raises:
        ValidationError: a bundle is not an administrator's (``XX-…``), or the set is invalid.
    """
    keys = []
    for b in bundles:
        if not ADMIN_NAME_RE.match(b.party):
            raise ValidationError(
                f"the bundle of {b.party} is not an administrator's: administrator keys are "
                "created with 'keys directory admin-key --name XX-ADMIN1'",
                code="not_admin_bundle",
            )
        keys.append(RootKey(b.party, b.signing_key))
    return RootKeys(threshold, tuple(keys))


def new_directory(
    root: RootKeys, now: datetime, validity: timedelta = DEFAULT_VALIDITY
) -> Directory:
    """Version 1: the root, no relay, no party."""
    return Directory(version=1, expires=now + validity, root=root, relay=None, parties=())


def next_version(
    edited: Directory, previous: Directory, now: datetime, validity: timedelta = DEFAULT_VALIDITY
) -> Directory:
    """``edited`` as the version after ``previous``, expiring ``validity`` after ``now``.

    Raises:
        ValidationError: ``validity`` is not positive.
    """
    if validity <= timedelta(0):
        raise ValidationError("the validity period must be positive", code="bad_validity")
    return replace(edited, version=previous.version + 1, expires=now + validity)


def _replace_party(directory: Directory, party: Party) -> Directory:
    others = tuple(p for p in directory.parties if p.id != party.id)
    return replace(directory, parties=(*others, party))


def add_party(
    directory: Directory,
    bundle: PublicBundle,
    *,
    authority: str,
    contact: Contact,
    now: datetime,
) -> Directory:
    """List a new party with the keys of its (verified) public bundle, valid from ``now``.

    Raises:
        ValidationError: the party is already listed, the bundle is the relay's or an
            administrator's, or a key is already used by someone else.
    """
    if bundle.party == RELAY_ID:
        raise ValidationError("this is the relay's bundle: use set-relay", code="relay_bundle")
    if bundle.party in directory:
        raise ValidationError(
            f"{bundle.party} is already listed: use update-party or a rotate command",
            code="party_exists",
        )
    start = instant(now)
    party = Party(
        id=bundle.party,
        authority=authority,
        contact=contact,
        signing_keys=(SigningKeyEntry(bundle.signing_key, start),),
        encryption_keys=(EncryptionKeyEntry(bundle.current_encryption_key, start),),
    )
    return _replace_party(directory, party)


def update_party(
    directory: Directory,
    party_id: str,
    *,
    authority: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    timezone: str | None = None,
    languages: tuple[str, ...] | None = None,
) -> Directory:
    """Change a party's authority name or contact profile (fields left None are kept).

    Raises:
        NotFound: no such party.
        ValidationError: nothing would change, or a new value is invalid.
    """
    party = directory.party(party_id)
    c = party.contact
    contact = Contact(
        phone if phone is not None else c.phone,
        email if email is not None else c.email,
        timezone if timezone is not None else c.timezone,
        languages if languages is not None else c.languages,
    )
    updated = replace(party, authority=authority or party.authority, contact=contact)
    if updated == party:
        raise ValidationError(f"nothing to change for {party_id}", code="nothing_to_change")
    return _replace_party(directory, updated)


def suspend(directory: Directory, party_id: str, *, at: datetime, reason: str) -> Directory:
    """Suspend a party from ``at``: it may not send or receive until reinstated.

    Raises:
        NotFound: no such party.
        ValidationError: the party is not active.
    """
    party = directory.party(party_id)
    if party.status.state != "active":
        raise ValidationError(f"{party_id} is {party.status.state}, not active", code="not_active")
    return _replace_party(directory, replace(party, status=Status("suspended", at, reason)))


def reinstate(directory: Directory, party_id: str) -> Directory:
    """End a suspension. A revoked party cannot be reinstated.

    Raises:
        NotFound: no such party.
        ValidationError: the party is not suspended.
    """
    party = directory.party(party_id)
    if party.status.state != "suspended":
        raise ValidationError(
            f"{party_id} is {party.status.state}; only a suspended party can be reinstated",
            code="not_suspended",
        )
    return _replace_party(directory, replace(party, status=Status()))


def revoke(directory: Directory, party_id: str, *, at: datetime, reason: str) -> Directory:
    """Revoke a party from ``at`` (which may be in the past, e.g. the suspected time of a
    key compromise). Its signatures made before ``at`` still verify; none after.

    A suspended party is revoked from its suspension time if that is earlier than ``at``:
    a directory keeps one status per party, so a later revocation time would otherwise make
    signatures dated inside the suspension valid again. (To revoke from a later time after
    all, reinstate the party first.)

    Raises:
        NotFound: no such party.
        ValidationError: already revoked.
    """
    party = directory.party(party_id)
    if party.status.state == "revoked":
        raise ValidationError(f"{party_id} is already revoked", code="already_revoked")
    effective = instant(at)
    if party.status.state == "suspended" and party.status.at is not None:
        effective = min(effective, party.status.at)
    return _replace_party(directory, replace(party, status=Status("revoked", effective, reason)))


def _require_same_signer(party: Party, bundle: PublicBundle, now: datetime) -> None:
    if bundle.party != party.id:
        raise ValidationError(
            f"the bundle is for {bundle.party}, not {party.id}", code="bundle_party_mismatch"
        )
    current = [e.key for e in party.signing_keys if e.valid_at(now)]
    if bundle.signing_key not in current:
        raise ValidationError(
            f"the bundle is not signed by {party.id}'s current signing key: ask the party for "
            "a bundle from its existing keystore, or use rotate-signing-key",
            code="bundle_signer_mismatch",
        )


def rotate_encryption_key(
    directory: Directory,
    party_id: str,
    bundle: PublicBundle,
    *,
    now: datetime,
    overlap: timedelta,
) -> Directory:
    """Make the bundle's newest encryption key current from ``now``; keys valid now stay
    valid for ``overlap`` more (for messages already sealed to them). Keys whose window
    has ended are dropped.

    Raises:
        NotFound: no such party.
        ValidationError: the bundle is not the party's (same signing key), its key is
            already listed, or ``overlap`` is negative.
    """
    if overlap < timedelta(0):
        raise ValidationError("the overlap cannot be negative", code="bad_overlap")
    party = directory.party(party_id)
    start = instant(now)
    _require_same_signer(party, bundle, start)
    new_key = bundle.current_encryption_key
    if any(e.key.key_id == new_key.key_id for e in party.encryption_keys):
        raise ValidationError(
            f"{new_key.key_id} is already listed for {party_id}: the party must create a new "
            "encryption key first",
            code="key_already_listed",
        )
    end = start + overlap
    kept = []
    for e in party.encryption_keys:
        if e.not_after is not None and e.not_after <= start:
            continue
        if e.not_after is None or e.not_after > end:
            e = replace(e, not_after=max(end, e.not_before + timedelta(milliseconds=1)))
        kept.append(e)
    kept.append(EncryptionKeyEntry(new_key, start))
    return _replace_party(directory, replace(party, encryption_keys=tuple(kept)))


def _rotate_signing(
    entries: tuple[SigningKeyEntry, ...], new: SigningKeyEntry, what: str
) -> tuple[SigningKeyEntry, ...]:
    if any(e.key == new.key for e in entries):
        raise ValidationError(
            f"this signing key is already listed for {what}", code="key_already_listed"
        )
    last = entries[-1]
    if last.not_before >= new.not_before:
        raise ValidationError(
            f"the new key must start after the current one began ({last.not_before})",
            code="bad_window",
        )
    if last.not_after is not None and last.not_after < new.not_before:
        return (*entries, new)
    return (*entries[:-1], replace(last, not_after=new.not_before), new)


def rotate_signing_key(
    directory: Directory, party_id: str, bundle: PublicBundle, *, at: datetime
) -> Directory:
    """Replace a party's signing key from ``at``: signatures made before ``at`` verify with
    the old key, from ``at`` on only with the new one. Encryption keys are unchanged (use
    :func:`rotate_encryption_key` for them).

    Raises:
        NotFound: no such party.
        ValidationError: the bundle is for another party, or its key is already listed.
    """
    party = directory.party(party_id)
    if bundle.party != party.id:
        raise ValidationError(
            f"the bundle is for {bundle.party}, not {party.id}", code="bundle_party_mismatch"
        )
    start = instant(at)
    signing = _rotate_signing(
        party.signing_keys, SigningKeyEntry(bundle.signing_key, start), party_id
    )
    return _replace_party(directory, replace(party, signing_keys=signing))


def set_relay(directory: Directory, bundle: PublicBundle, *, at: datetime) -> Directory:
    """Set the relay's signing key from its public bundle (party ``relay``), valid from
    ``at``; an earlier relay key stays valid for receipts made before ``at``.

    Raises:
        ValidationError: not the relay's bundle, or the key is already the relay's.
    """
    if bundle.party != RELAY_ID:
        raise ValidationError(
            f"the bundle is for {bundle.party}, not the relay (create it with "
            "'keys generate --party relay')",
            code="not_relay_bundle",
        )
    entry = SigningKeyEntry(bundle.signing_key, instant(at))
    if directory.relay is None:
        return replace(directory, relay=RelayInfo((entry,)))
    signing = _rotate_signing(directory.relay.signing_keys, entry, "the relay")
    return replace(directory, relay=RelayInfo(signing))


def set_root(directory: Directory, root: RootKeys) -> Directory:
    """Replace the root keys or threshold. The next version must be signed by the old
    administrators' threshold and by the new one.

    Raises:
        ValidationError: the root is unchanged.
    """
    if root == directory.root:
        raise ValidationError("the root keys and threshold are unchanged", code="nothing_to_change")
    return replace(directory, root=root)
