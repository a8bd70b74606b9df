"""One error root for PoCNet.

Every error says whose fault it is (``fault``: ``"local"`` for our own misuse or
configuration, ``"input"`` for what the person at the terminal typed or gave in a file,
``"peer"`` for what a remote party sent us), carries a stable machine ``code`` and an
``http_status`` hint. Each class has a default fault; a raise site where the same check is
someone else's to fix (a bad file given on the command line, a message id typed wrong) says
so with the ``fault=`` keyword rather than a subclass:
``NotFound("no message 12ab", code="message_not_found", fault="local")``.

:class:`Rejected` is the opaque error for anything a peer sent that failed a
cryptographic or protocol check: its ``str()`` says only "rejected", while ``reason``
(for the operator's log, never for the peer) says why.
"""

from __future__ import annotations

from typing import ClassVar, Literal

Fault = Literal["local", "input", "peer"]
"""Whose fault an error is: ``local`` (this installation), ``input`` (what the person typed
or gave) or ``peer`` (a remote party sent it)."""


class PocnetError(Exception):
    """Root of every PoCNet error.

    Args:
        message: for the person who reads it (a peer sees it only through :meth:`to_wire`).
        code: a stable machine code, instead of the class's.
        fault: whose fault this one is, instead of the class's.
    """

    code: str = "internal_error"
    http_status: ClassVar[int] = 500
    fault: Fault = "local"

    def __init__(
        self, message: str, *, code: str | None = None, fault: Fault | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if fault is not None:
            self.fault = fault

    def diagnostics(self, fault: str | None = None) -> str:
        """A message for the person at the terminal: what happened, whose fault
        (``fault`` overrides the class's, for a command that has no remote party)."""
        who = {"peer": "the remote party", "input": "your input"}.get(
            fault or self.fault, "this installation"
        )
        return f"{self.message} (code {self.code}; caused by {who})"

    def to_wire(self) -> dict[str, str]:
        """The error as a peer may see it."""
        return {"error": self.code, "message": self.message}


class LocalError(PocnetError):
    """Our own misuse or configuration: fix it here."""


class ConfigError(LocalError):
    """A configuration value is missing or invalid."""

    code = "config_invalid"


class KeystoreError(LocalError):
    """A keystore cannot be read, written or decrypted."""

    code = "keystore_error"


class WrongPassphrase(KeystoreError):
    """The passphrase does not open the keystore."""

    code = "wrong_passphrase"


class PeerError(PocnetError):
    """What a peer sent is not acceptable."""

    fault: Fault = "peer"
    code = "bad_request"
    http_status = 400


class ValidationError(PeerError):
    """A field is missing or has a wrong value."""

    code = "invalid_field"
    http_status = 400


class DecodeError(ValidationError):
    """Bytes are not the strict JSON (or base64url) we accept."""

    code = "malformed"


class InvalidInput(ValidationError):
    """What the person at the terminal typed, or a file they gave, is not valid: the fault
    is theirs (``caused by your input``), never the remote party's."""

    fault = "input"


class TooLarge(ValidationError):
    """An input is larger than its configured limit."""

    code = "too_large"
    http_status = 413


class InvalidFile(ValidationError):
    """A file named on the command line is not what it should be (exit code 5): the
    operator's to fix, whatever check refused it."""

    fault = "local"


class Unauthenticated(PeerError):
    """A request signature is missing, bad, stale or replayed."""

    code = "unauthenticated"
    http_status = 401


class Forbidden(PeerError):
    """The caller is known but may not do this."""

    code = "forbidden"
    http_status = 403


class NotFound(PeerError):
    """The thing asked for does not exist (or is not the caller's to see)."""

    code = "not_found"
    http_status = 404


class Conflict(PeerError):
    """The request contradicts what is stored (e.g. a reused ``msg_id``)."""

    code = "conflict"
    http_status = 409


class RateLimited(PeerError):
    """The caller is over its request rate."""

    code = "rate_limited"
    http_status = 429


class Rejected(PeerError):
    """A cryptographic or protocol check failed.

    The peer learns only "rejected"; ``reason`` is for the operator's log.
    """

    code = "rejected"
    http_status = 400

    def __init__(self, reason: str) -> None:
        super().__init__("rejected")
        self.reason = reason

    def __repr__(self) -> str:
        return f"Rejected(reason={self.reason!r})"
