"""The project's RFC 9421 request-signature profile, signed and verified directly.

:mod:`keys.httpsig` goes through the general ``http-message-signatures`` library, which
parses every structured field and builds the signature base generically; for our single,
fixed profile that costs about ten times the Ed25519 and SHA-256 work underneath (issue
12, ADR 0010). This module speaks only the profile of ``docs/protocol.md`` section 10:

- ``Content-Digest: sha-256=:<base64>:`` (one member, SHA-256 only);
- ``Signature-Input: <label>=("@method" "@path" "@query" "content-digest");created=<n>;
  keyid="<party>";alg="ed25519";nonce="<nonce>";tag="pocnet-v1"`` (one member, these
  parameters in this order, canonical spelling, no ``expires``);
- ``Signature: <label>=:<base64 of 64 bytes>:`` (one member, the same label).

Each header is matched by one compiled pattern as a whole; anything outside the profile
(other components, parameters or algorithms, a second signature, spaces, escapes,
non-canonical integers or base64, a repeated header) is refused before any signature
work. Because only the canonical spelling is accepted, the received parameters are the
``@signature-params`` line of the signature base as they stand. Every check of the
reference still runs on every request: digest against the body (constant-time), keyid,
key validity, Ed25519 over the base, nonce length, ``created`` within ``now ± window``.
The library stays in the tests as the oracle: a differential test signs with each,
verifies with the other, and holds that this module accepts nothing the library refuses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature

from keys.encoding import b64u_encode
from keys.errors import LocalError, ValidationError
from keys.httpsig import LABEL, MAX_HEADER_CHARS, TAG, AuthRejected, Verified, _instant
from keys.identities import SigningKey, VerifyKey, validate_party_id

__all__ = ["AuthRejected", "UnsignableRequest", "Verified", "sign_request", "verify_request"]

MAX_URL_CHARS = 8192
"""The longest request URL signed or verified (aiohttp's own request-line limit is 8190)."""

_COVERED = '("@method" "@path" "@query" "content-digest")'
_KEY = r"[a-z*][a-z0-9_.*-]{0,63}"  # an RFC 8941 dictionary key, bounded
_NONCE_CHARS = r"[A-Za-z0-9+/=_-]"

# RFC 3986 character classes; a path or query is a run of them or of percent escapes.
_PCHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
_URL = re.compile(
    r"https?://"
    r"(?:(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+|(?P<ipv6>\[[0-9A-Fa-f:.]{2,45}\]))"
    r"(?::[0-9]{1,5})?"
    rf"(?P<path>/(?:{_PCHAR}|/)*)?"
    rf"(?:\?(?P<query>(?:{_PCHAR}|[/?])*))?"
)
_METHOD = re.compile(r"[A-Z0-9!#$%&'*+.^_`|~-]{1,32}")
_SIG_INPUT = re.compile(
    rf"(?P<label>{_KEY})=(?P<params>{re.escape(_COVERED)}"
    r";created=(?P<created>0|[1-9][0-9]{0,14})"
    r';keyid="(?P<keyid>[A-Za-z0-9-]{1,32})"'
    r';alg="ed25519"'
    rf';nonce="(?P<nonce>{_NONCE_CHARS}{{1,128}})"'
    rf';tag="{re.escape(TAG)}")'
)
_SIGNATURE = re.compile(rf"(?P<label>{_KEY})=:(?P<sig>[A-Za-z0-9+/]{{86}}==):")
_WANTED = ("content-digest", "signature-input", "signature")


class UnsignableRequest(LocalError):
    """A request this profile cannot sign (a method, URL, party or nonce outside it)."""

    code = "unsignable_request"


def _content_digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def _method_path_query(method: str, url: str) -> tuple[str, str, str] | None:
    """The ``@method``, ``@path`` and ``@query`` values, or None outside the profile."""
    method = method.upper()
    if len(url) > MAX_URL_CHARS or _METHOD.fullmatch(method) is None:
        return None
    match = _URL.fullmatch(url)
    if match is None:
        return None
    if match["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(match["ipv6"][1:-1])
        except ValueError:
            return None
    return method, match["path"] or "/", "?" + (match["query"] or "")


def _base(method: str, path: str, query: str, digest: str, params: str) -> bytes:
    return (
        f'"@method": {method}\n"@path": {path}\n"@query": {query}\n'
        f'"content-digest": {digest}\n"@signature-params": {params}'
    ).encode("ascii")


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

    The same headers, byte for byte, as :func:`keys.httpsig.sign_request`.

    Args:
        url: the absolute URL the request goes to (its path and query are signed).
        now: the ``created`` time.
        nonce: a fixed nonce (for tests); otherwise 128 random bits.

    Raises:
        UnsignableRequest: the method, URL, party id or nonce is outside the profile.
    """
    parts = _method_path_query(method, url)
    if parts is None:
        raise UnsignableRequest("this request method or URL cannot be signed")
    try:
        validate_party_id(party, allow_relay=True)
    except ValidationError as e:
        raise UnsignableRequest("the signing party is not a party id") from e
    if nonce is None:
        nonce = b64u_encode(secrets.token_bytes(16))
    elif not 16 <= len(nonce) <= 64 or re.fullmatch(f"{_NONCE_CHARS}+", nonce) is None:
        raise UnsignableRequest("the nonce is outside the profile")
    digest = _content_digest(body)
    params = (
        f'{_COVERED};created={int(now.timestamp())};keyid="{party}";alg="ed25519";'
        f'nonce="{nonce}";tag="{TAG}"'
    )
    signature = key.sign(_base(*parts, digest, params))
    return {
        "Content-Digest": digest,
        "Signature-Input": f"{LABEL}={params}",
        "Signature": f"{LABEL}=:{base64.b64encode(signature).decode('ascii')}:",
    }


def _profile_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    found: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _WANTED:
            if lowered in found:
                raise AuthRejected("duplicate_header")
            found[lowered] = value
    if len(found) != len(_WANTED):
        raise AuthRejected("missing_signature")
    if any(len(v) > MAX_HEADER_CHARS for v in found.values()):
        raise AuthRejected("header_too_long")
    return found["content-digest"], found["signature-input"], found["signature"]


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

    A drop-in for :func:`keys.httpsig.verify_request`, stricter about spelling. The caller
    must still reject a nonce it has seen within ``window`` (replay).

    Raises:
        AuthRejected: missing, repeated, malformed or outside the profile, unknown key,
            bad signature or digest, or ``created`` outside ``now ± window``.
    """
    digest, sig_input, sig_header = _profile_headers(headers)
    parsed = _SIG_INPUT.fullmatch(sig_input)
    signature_match = _SIGNATURE.fullmatch(sig_header)
    parts = _method_path_query(method, url)
    if parsed is None or signature_match is None or parts is None:
        raise AuthRejected("bad_signature")
    if signature_match["label"] != parsed["label"]:
        raise AuthRejected("bad_signature")
    party = parsed["keyid"]
    try:
        validate_party_id(party, allow_relay=True)
    except ValidationError as e:
        raise AuthRejected("bad_keyid") from e
    key = lookup(party)
    if key is None:
        raise AuthRejected("unknown_keyid")
    try:
        public = key.crypto_key()
    except ValidationError as e:
        raise AuthRejected("bad_key") from e
    encoded = signature_match["sig"]
    try:
        signature = base64.b64decode(encoded, validate=True)
    except binascii.Error as e:  # pragma: no cover - the pattern admits only base64
        raise AuthRejected("bad_signature") from e
    if base64.b64encode(signature).decode("ascii") != encoded:
        raise AuthRejected("bad_signature")  # non-canonical padding bits
    expected = _content_digest(body)
    if not digest.isascii() or not hmac.compare_digest(digest, expected):
        raise AuthRejected("bad_signature")
    try:
        public.verify(signature, _base(*parts, expected, parsed["params"]))
    except InvalidSignature as e:
        raise AuthRejected("bad_signature") from e
    nonce = parsed["nonce"]
    if not 16 <= len(nonce) <= 64:
        raise AuthRejected("bad_nonce")
    created = _instant(int(parsed["created"]))
    if created is None or abs(created - now) > window:
        raise AuthRejected("stale")
    return Verified(party=party, created=created, nonce=nonce)
