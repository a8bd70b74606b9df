"""The development members folder: self-signed public bundles in ``DATA/members``.

``relay members add BUNDLE`` writes ``DATA/members/<PARTY>.json`` (verified first) and
``relay members suspend`` the list in ``DATA/members/suspended``; :func:`load_folder` reads
them into a :class:`relay.core.members.StaticMembers`. An installed signed directory takes
precedence (:mod:`relay.directory.installed`).
"""

from __future__ import annotations

from pathlib import Path

from keys.errors import ConfigError, ValidationError
from keys.host.files import write_public
from keys.identities import RELAY_ID, validate_party_id
from keys.keystore import MAX_KEYSTORE_BYTES, PublicBundle, verify_bundle
from relay.core.members import MEMBERS_DIR, SUSPENDED_NAME, StaticMembers


def folder(data_dir: Path) -> Path:
    return data_dir / MEMBERS_DIR


def load_folder(data_dir: Path, relay_bundle: bytes) -> StaticMembers:
    """Read and verify every bundle in ``DATA/members``.

    Raises:
        ConfigError: a file is not a valid bundle, or is named after another party.
    """
    path = folder(data_dir)
    wires: dict[str, bytes] = {}
    for file in sorted(path.glob("*.json")) if path.is_dir() else []:
        try:
            data = file.read_bytes()
            bundle = verify_bundle(data)
        except (OSError, ValidationError) as e:
            raise ConfigError(f"member bundle {file} is not valid: {e}") from e
        if bundle.party != file.stem or bundle.party == RELAY_ID:
            raise ConfigError(f"member bundle {file} belongs to party {bundle.party!r}")
        wires[bundle.party] = data
    return StaticMembers(wires, relay_bundle, read_suspended(data_dir))


def read_suspended(data_dir: Path) -> frozenset[str]:
    """The parties listed in ``DATA/members/suspended``.

    Raises:
        ConfigError: a line is not a party id.
    """
    path = folder(data_dir) / SUSPENDED_NAME
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return frozenset()
    out = set()
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            try:
                out.add(validate_party_id(text))
            except ValidationError as e:
                raise ConfigError(f"{path}: {text[:20]!r} is not a party id") from e
    return frozenset(out)


def write_suspended(data_dir: Path, parties: frozenset[str]) -> None:
    """Replace the suspended list atomically."""
    text = "# parties suspended from the relay, one per line\n"
    text += "".join(f"{p}\n" for p in sorted(parties))
    write_public(folder(data_dir) / SUSPENDED_NAME, text.encode("utf-8"))


def add_bundle(data_dir: Path, data: bytes, *, replace: bool = False) -> tuple[PublicBundle, bool]:
    """Verify a bundle and store it as ``DATA/members/<PARTY>.json``.

    Returns:
        The bundle, and whether an existing one with other keys was replaced.

    Raises:
        ValidationError: the bundle does not verify, or is the relay's.
        ConfigError: the party already has a different bundle and ``replace`` is False.
    """
    if len(data) > MAX_KEYSTORE_BYTES:
        raise ValidationError("the file is too large to be a bundle", code="too_large")
    bundle = verify_bundle(data)
    if bundle.party == RELAY_ID:
        raise ValidationError("that is a relay's bundle, not a member's", code="bad_bundle")
    target = folder(data_dir) / f"{bundle.party}.json"
    replaced = False
    if target.exists():
        old = verify_bundle(target.read_bytes())
        same = (
            old.signing_key == bundle.signing_key and old.encryption_keys == bundle.encryption_keys
        )
        if not same and not replace:
            raise ConfigError(
                f"{bundle.party} already has other keys (signing key {old.signing_key.key_id}); "
                "use --replace if this change is expected",
                code="member_exists",
            )
        replaced = not same
    write_public(target, data)
    return bundle, replaced
