"""The signed directory of contact points and their keys (DESIGN.md section 9). No I/O.

- :mod:`~keys.directory.model` and :mod:`~keys.directory.document`: the content and the
  queries the relay and the node ask (``party``, ``signing_key_for``, ``is_active``,
  ``encryption_key_for``, ``decryption_key_ids_valid``, ``relay_key``, ``contact``);
- :mod:`~keys.directory.signed`: the file format (payload bytes + administrators'
  signatures over PAE with :data:`TYPE_DIRECTORY`);
- :mod:`~keys.directory.trusted`: the acceptance rules (threshold, root rotation,
  rollback, expiry) as a state machine, :class:`TrustedDirectory`;
- :mod:`~keys.directory.edit`, :mod:`~keys.directory.diff` and
  :mod:`~keys.directory.render`: the secretariat's tools (pure; the ``keys directory``
  command in :mod:`keys.cli.directory` does the file I/O).

This module's names are the stable API.
"""

from keys.directory.diff import Change, diff
from keys.directory.document import Directory
from keys.directory.limits import DEFAULT_DIRECTORY_LIMITS, DirectoryLimits
from keys.directory.model import (
    Contact,
    EncryptionKeyEntry,
    Party,
    RelayInfo,
    RootKey,
    RootKeys,
    SigningKeyEntry,
    Status,
)
from keys.directory.signed import (
    TYPE_DIRECTORY,
    Signature,
    SignatureStatus,
    SignedDirectory,
    sign_directory,
)
from keys.directory.trusted import Accepted, TrustedDirectory, verify_signed

__all__ = [
    "DEFAULT_DIRECTORY_LIMITS",
    "TYPE_DIRECTORY",
    "Accepted",
    "Change",
    "Contact",
    "Directory",
    "DirectoryLimits",
    "EncryptionKeyEntry",
    "Party",
    "RelayInfo",
    "RootKey",
    "RootKeys",
    "Signature",
    "SignatureStatus",
    "SignedDirectory",
    "SigningKeyEntry",
    "Status",
    "TrustedDirectory",
    "diff",
    "sign_directory",
    "verify_signed",
]
