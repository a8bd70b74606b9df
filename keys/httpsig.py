"""Node-to-relay request authentication: HTTP Message Signatures (RFC 9421) with a
Content-Digest (RFC 9530), through the ``http-message-signatures`` library.

A signature covers ``@method``, ``@path``, ``@query`` and ``content-digest``, with the
parameters ``created``, ``nonce``, ``keyid`` (the caller's party id), ``alg`` (``ed25519``)
and ``tag`` (:data:`TAG`). The verifier checks ``created`` against a ``now`` it is given
(the library's own clock, with its 5-second skew, is switched off) and leaves the nonce
to the caller (a nonce seen within the window is a replay). The signature label is not
signed (RFC 9421 section 4.2) and carries no meaning; the ``tag`` selects our signature.
Nothing here does I/O; the relay and the node plug it into their HTTP stacks.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)

from keys.encoding import b64u_encode
from keys.errors import Unauthenticated, ValidationError
from keys.identities import SigningKey, VerifyKey, validate_party_id

TAG = "pocnet-v1"
LABEL = "pocnet"
COVERED = ("@method", "@path", "@query", "content-digest")
MAX_HEADER_CHARS = 2048


class AuthRejected(Unauthenticated):
    """A request signature failed; ``reason`` is for the operator's log only."""

    def __init__(self, reason: str) -> None:
        super().__init__("request signature rejected")
        self.reason = reason


class _Headers:
    """Case-insensitive header map with the interface the library expects."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._d: dict[str, tuple[str, str]] = {}
        for k, v in items:
            self[k] = v

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._d.values()))

    def __iter__(self) -> Iterator[str]:
        return iter([k for k, _ in self._d.values()])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._d

    def __setitem__(self, name: str, value: str) -> None:
        self._d[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._d[name.lower()][1]

    def __delitem__(self, name: str) -> None:
        del self._d[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:
        item = self._d.get(name.lower())
        return item[1] if item else default


class _Verifier(HTTPMessageVerifier):
    """The library's verifier without its own clock.

    The library compares ``created`` with the wall clock and a skew of 5 seconds; we judge
    ``created`` (and ``expires``, if a signer sent it) against the ``now`` we are given and
    the configured window, in :func:`verify_request`.
    """

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        return None


@dataclass
class _Request:
    method: str
    url: str
    headers: _Headers = field(default_factory=_Headers)


class _Keys(HTTPSignatureKeyResolver):
    def __init__(
        self,
        private: SigningKey | None = None,
        lookup: Callable[[str], VerifyKey | None] | None = None,
    ) -> None:
        self.private = private
        self.lookup = lookup

    def resolve_private_key(self, key_id: str) -> Any:
        assert self.private is not None
        return self.private.crypto_key()

    def resolve_public_key(self, key_id: str) -> Any:
        assert self.lookup is not None
        try:
            validate_party_id(key_id, allow_relay=True)
        except Exception as e:
            raise AuthRejected("bad_keyid") from e
        key = self.lookup(key_id)
        if key is None:
            raise AuthRejected("unknown_keyid")
        try:
            return key.crypto_key()
        except ValidationError as e:
            raise AuthRejected("bad_key") from e


def sign_request(
    method: str,
    url: str,
    body: bytes,
    *,
    key: SigningKey,
    party: str,
    now: datetime,
    nonce: str | None = None,
) -> dict[str, str]:
    """Headers (Content-Digest, Signature-Input, Signature) that authenticate a request.

    Args:
        url: the absolute URL the request goes to (its path and query are signed).
        now: the ``created`` time.
        nonce: a fixed nonce (for tests); otherwise 128 random bits.
    """
    req = _Request(method.upper(), url)
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=_Keys(key))
    signer.sign(
        req,
        key_id=party,
        created=now,
        nonce=nonce or b64u_encode(secrets.token_bytes(16)),
        label=LABEL,
        tag=TAG,
        covered_component_ids=COVERED,
        body=body,
    )
    return dict(req.headers.items())


@dataclass(frozen=True)
class Verified:
    """Who signed a request, and its signed parameters."""

    party: str
    created: datetime
    nonce: str


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    lookup: Callable[[str], VerifyKey | None],
    now: datetime,
    window: timedelta,
) -> Verified:
    """Verify a request's signature and digest; return the signer.

    The caller must still reject a nonce it has seen within ``window`` (replay).

    Raises:
        AuthRejected: missing, malformed, unknown key, bad signature or digest, or
            ``created`` outside ``now ± window``.
    """
    wanted = ("content-digest", "signature-input", "signature")
    present = {k.lower(): v for k, v in headers.items() if k.lower() in wanted}
    if len(present) != len(wanted):
        raise AuthRejected("missing_signature")
    if any(len(v) > MAX_HEADER_CHARS for v in present.values()):
        raise AuthRejected("header_too_long")
    req = _Request(method.upper(), url, _Headers(present.items()))
    verifier = _Verifier(signature_algorithm=algorithms.ED25519, key_resolver=_Keys(lookup=lookup))
    try:
        results = verifier.verify(
            req, max_age=None, expect_tag=TAG, require_components=COVERED, body=body
        )
    except AuthRejected:
        raise
    except (InvalidSignature, HTTPMessageSignaturesException, ValueError, TypeError) as e:
        # The library wraps what our key resolver raised; keep its precise reason.
        cause = e.__cause__
        if isinstance(cause, AuthRejected):
            raise AuthRejected(cause.reason) from e
        raise AuthRejected("bad_signature") from e
    if len(results) != 1:
        raise AuthRejected("bad_signature")
    params = results[0].parameters
    created_raw, nonce, party = params.get("created"), params.get("nonce"), params.get("keyid")
    if type(created_raw) is not int or not isinstance(nonce, str) or not isinstance(party, str):
        raise AuthRejected("missing_parameter")
    if not 16 <= len(nonce) <= 64:
        raise AuthRejected("bad_nonce")
    created = _instant(created_raw)
    if created is None or abs(created - now) > window:
        raise AuthRejected("stale")
    expires_raw = params.get("expires")
    if expires_raw is not None:
        expires = _instant(expires_raw) if type(expires_raw) is int else None
        if expires is None or expires < now:
            raise AuthRejected("stale")
    return Verified(party=party, created=created, nonce=nonce)


def _instant(seconds: int) -> datetime | None:
    """Unix seconds as a UTC datetime, or None beyond what a datetime holds (a signed
    structured-field integer may have 15 digits, far beyond year 9999)."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
