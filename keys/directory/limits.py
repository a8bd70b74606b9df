"""Limits on a directory file: one frozen dataclass, a name and a default for each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DirectoryLimits:
    """Bounds applied when reading a directory, before and after its signatures are checked.

    The defaults leave room for the paper estimate of DESIGN.md section 12: 10,000 parties
    with one hybrid encryption key each make a file of about 28 MiB (about 2.8 KiB per
    party), and up to twice that while many keys are in their rotation overlap.

    Attributes:
        max_bytes: largest signed directory file accepted.
        max_depth: deepest JSON nesting in the file or its payload.
        max_signatures: most signature entries in one file.
        max_root_keys: most administrator keys in the root.
        max_parties: most parties listed.
        max_keys_per_party: most signing keys, and most encryption keys, per party
            (and signing keys for the relay).
        max_text_chars: longest free text (authority name, reason, e-mail, phone).
        max_languages: most languages in one contact profile.
    """

    max_bytes: int = 64 * 1024 * 1024
    max_depth: int = 8
    max_signatures: int = 32
    max_root_keys: int = 16
    max_parties: int = 20_000
    max_keys_per_party: int = 16
    max_text_chars: int = 200
    max_languages: int = 16


DEFAULT_DIRECTORY_LIMITS = DirectoryLimits()
