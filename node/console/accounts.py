"""Officer accounts: names, roles and Argon2id password hashes (libsodium via PyNaCl).

The hash string carries its own parameters and salt (``$argon2id$v=19$m=...``), so the
cost can be raised later without invalidating stored accounts.
"""

from __future__ import annotations

import re

import nacl.exceptions
import nacl.pwhash

from keys.errors import ValidationError

ROLES = ("officer", "supervisor")
NAME_RE = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
# libsodium's "interactive" profile: about 64 MiB and a few tenths of a second per login.
OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE


def check_name(name: str) -> str:
    """An officer's login name: 2-32 characters, lower-case letters, digits, ``._-``.

    Raises:
        ValidationError: anything else.
    """
    if not NAME_RE.fullmatch(name):
        raise ValidationError(
            "an officer name is 2-32 characters: a lower-case letter, then lower-case "
            "letters, digits, '.', '_' or '-'",
            code="bad_officer_name",
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", code="bad_role")
    return role


def hash_password(password: str, *, opslimit: int = OPSLIMIT, memlimit: int = MEMLIMIT) -> str:
    """The Argon2id hash string of ``password``.

    Raises:
        ValidationError: shorter than :data:`MIN_PASSWORD` or longer than :data:`MAX_PASSWORD`.
    """
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError(
            f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters", code="bad_password"
        )
    raw = nacl.pwhash.argon2id.str(password.encode("utf-8"), opslimit=opslimit, memlimit=memlimit)
    return raw.decode("ascii")


# Checked when the name is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY = hash_password("not-a-password-of-anyone", opslimit=OPSLIMIT, memlimit=MEMLIMIT)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (None: an unknown name, always False, same cost)."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        nacl.pwhash.verify((stored or _DUMMY).encode("ascii"), password.encode("utf-8"))
    except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError):
        return False
    return stored is not None
