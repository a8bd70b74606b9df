"""The fast RFC 9421 path against the library it replaces (ADR 0010).

``keys.httpsig`` (through ``http-message-signatures``) is the oracle: over random methods,
paths, queries, bodies and parameters the fast signer writes the same headers byte for
byte, each side verifies what the other signed, every meaningful change to a signed
request is refused by both, and no arbitrary edit of a header makes the fast verifier
accept anything, let alone something the library would refuse.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from keys import httpsig, httpsig_fast
from keys.httpsig import AuthRejected, Verified
from keys.identities import PARTY_RE, SigningKey

WINDOW = timedelta(seconds=300)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_PCHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"


def key_of(party: str) -> SigningKey:
    return SigningKey(hashlib.sha256(party.encode()).digest())


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes
    party: str
    created: int
    nonce: str

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.created, UTC)


methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]) | st.from_regex(
    r"[A-Z][A-Z0-9!#$%&'*+.^_`|~-]{0,15}", fullmatch=True
)
paths = st.lists(st.from_regex(rf"{_PCHAR}{{0,12}}", fullmatch=True), max_size=5).map(
    lambda segments: "".join("/" + s for s in segments)
)
queries = st.none() | st.from_regex(rf"(?:{_PCHAR}|[/?]){{0,40}}", fullmatch=True)
hosts = st.sampled_from(
    [
        "http://relay.invalid",
        "https://relay.example.net",
        "http://127.0.0.1:8443",
        "https://[::1]:1",
    ]
)
parties = st.from_regex(
    PARTY_RE.pattern.rstrip("\\Z").lstrip("^") + r"\Z", fullmatch=True
) | st.just("relay")
nonces = st.from_regex(r"[A-Za-z0-9+/=_-]{16,64}", fullmatch=True)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    query = draw(queries)
    url = draw(hosts) + draw(paths) + ("" if query is None else "?" + query)
    return Request(
        method=draw(methods),
        url=url,
        body=draw(st.binary(max_size=300)),
        party=draw(parties),
        created=draw(st.integers(0, 253402300799 - 400)),
        nonce=draw(nonces),
    )


def sign(module: object, r: Request, *, key: SigningKey | None = None) -> dict[str, str]:
    signer: Callable[..., dict[str, str]] = module.sign_request  # type: ignore[attr-defined]
    return signer(
        r.method, r.url, r.body, key=key or key_of(r.party), party=r.party, now=r.now, nonce=r.nonce
    )


def verify(
    module: object,
    headers: dict[str, str],
    r: Request,
    *,
    method: str | None = None,
    url: str | None = None,
    body: bytes | None = None,
) -> Verified | str:
    """The verified caller, or the refusal's reason."""
    directory = {p: key_of(p).public for p in (r.party, "FR", "IT")}
    verifier: Callable[..., Verified] = module.verify_request  # type: ignore[attr-defined]
    try:
        return verifier(
            method or r.method,
            url or r.url,
            headers,
            r.body if body is None else body,
            lookup=directory.get,
            now=r.now,
            window=WINDOW,
        )
    except AuthRejected as e:
        return e.reason


@SETTINGS
@given(requests())
def test_the_fast_signer_writes_the_librarys_headers_byte_for_byte(r: Request) -> None:
    assert sign(httpsig_fast, r) == sign(httpsig, r)


@SETTINGS
@given(requests())
def test_each_verifies_what_the_other_signed(r: Request) -> None:
    expected = Verified(party=r.party, created=r.now, nonce=r.nonce)
    assert verify(httpsig_fast, sign(httpsig, r), r) == expected
    assert verify(httpsig, sign(httpsig_fast, r), r) == expected


def _flip_signature(h: dict[str, str]) -> None:
    label, _, value = h["Signature"].partition("=")
    raw = bytearray(base64.b64decode(value.strip(":")))
    raw[len(raw) // 3] ^= 0x10
    h["Signature"] = f"{label}=:{base64.b64encode(bytes(raw)).decode()}:"


def _replace(header: str, old: str, new: str) -> Callable[[dict[str, str]], None]:
    def edit(h: dict[str, str]) -> None:
        assert old in h[header], (old, h[header])
        h[header] = h[header].replace(old, new, 1)

    return edit


def _set(header: str, value: str) -> Callable[[dict[str, str]], None]:
    def edit(h: dict[str, str]) -> None:
        h[header] = value

    return edit


def _delete(header: str) -> Callable[[dict[str, str]], None]:
    def edit(h: dict[str, str]) -> None:
        del h[header]

    return edit


def _other(r: Request) -> str:
    return "IT" if r.party != "IT" else "FR"


# Changes to what a signed request says: each must be refused by both implementations.
HEADER_MUTATIONS: dict[str, Callable[[Request], Callable[[dict[str, str]], None]]] = {
    "created+1": lambda r: _replace(
        "Signature-Input", f"created={r.created}", f"created={r.created + 1}"
    ),
    "created-1": lambda r: _replace(
        "Signature-Input",
        f"created={r.created}",
        f"created={abs(r.created - 1) + (r.created == 0)}",
    ),
    "keyid": lambda r: _replace("Signature-Input", f'keyid="{r.party}"', f'keyid="{_other(r)}"'),
    "nonce": lambda r: _replace(
        "Signature-Input", f'nonce="{r.nonce}"', f'nonce="{r.nonce[::-1]}x"'
    ),
    "tag": lambda r: _replace("Signature-Input", 'tag="pocnet-v1"', 'tag="pocnet-v2"'),
    "alg": lambda r: _replace("Signature-Input", 'alg="ed25519"', 'alg="hmac-sha256"'),
    "drop-query": lambda r: _replace("Signature-Input", ' "@query"', ""),
    "drop-digest": lambda r: _replace("Signature-Input", ' "content-digest"', ""),
    "swap-components": lambda r: _replace(
        "Signature-Input", '"@method" "@path"', '"@path" "@method"'
    ),
    "add-expires": lambda r: _replace(
        "Signature-Input", ';tag="', f';expires={r.created + 1};tag="'
    ),
    "signature-bit": lambda r: _flip_signature,
    "signature-label": lambda r: _replace("Signature", "pocnet=", "other="),
    "digest-of-other-body": lambda r: _set(
        "Content-Digest",
        "sha-256=:" + base64.b64encode(hashlib.sha256(r.body + b"!").digest()).decode() + ":",
    ),
    "sha-512-digest": lambda r: _set(
        "Content-Digest",
        "sha-512=:" + base64.b64encode(hashlib.sha512(r.body).digest()).decode() + ":",
    ),
    "no-digest": lambda r: _delete("Content-Digest"),
    "no-signature": lambda r: _delete("Signature"),
    "no-signature-input": lambda r: _delete("Signature-Input"),
}

# Changes to the request line or body: (method, url, body) from the signed request's.
REQUEST_MUTATIONS: dict[str, Callable[[Request], tuple[str, str, bytes]]] = {
    "method": lambda r: ("PUT" if r.method != "PUT" else "POST", r.url, r.body),
    "path": lambda r: (
        r.method,
        r.url.split("?")[0] + "/x" + r.url[len(r.url.split("?")[0]) :],
        r.body,
    ),
    "query-added": lambda r: (r.method, r.url + ("&" if "?" in r.url else "?") + "x=1", r.body),
    "query-value": lambda r: (r.method, r.url + ("0" if "?" in r.url else "?0"), r.body),
    "body-appended": lambda r: (r.method, r.url, r.body + b"\x00"),
    "body-flipped": lambda r: (
        r.method,
        r.url,
        bytes([r.body[0] ^ 1]) + r.body[1:] if r.body else b"x",
    ),
}


@SETTINGS
@given(
    requests(),
    st.sampled_from(sorted(HEADER_MUTATIONS)),
    st.sampled_from([httpsig, httpsig_fast]),
)
def test_every_header_change_is_refused_by_both(r: Request, name: str, signer: object) -> None:
    headers = sign(signer, r)
    HEADER_MUTATIONS[name](r)(headers)
    for module in (httpsig, httpsig_fast):
        assert isinstance(verify(module, headers, r), str), (module.__name__, name)


@SETTINGS
@given(
    requests(),
    st.sampled_from(sorted(REQUEST_MUTATIONS)),
    st.sampled_from([httpsig, httpsig_fast]),
)
def test_every_request_change_is_refused_by_both(r: Request, name: str, signer: object) -> None:
    headers = sign(signer, r)
    method, url, body = REQUEST_MUTATIONS[name](r)
    for module in (httpsig, httpsig_fast):
        got = verify(module, headers, r, method=method, url=url, body=body)
        assert got == "bad_signature", (module.__name__, name, got)


@SETTINGS
@given(requests(), st.sampled_from([httpsig, httpsig_fast]))
def test_a_signature_by_another_key_is_refused_by_both(r: Request, signer: object) -> None:
    headers = sign(signer, r, key=key_of(r.party + "-forger"))
    for module in (httpsig, httpsig_fast):
        assert verify(module, headers, r) == "bad_signature"


@SETTINGS
@given(
    requests(),
    st.sampled_from(["Content-Digest", "Signature-Input", "Signature"]),
    st.integers(min_value=0),
    st.sampled_from(["replace", "insert", "delete"]),
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.characters(),
)
def test_no_edit_of_a_header_is_accepted_by_the_fast_path(
    r: Request, header: str, where: int, how: str, char: str
) -> None:
    headers = sign(httpsig, r)
    value = headers[header]
    i = where % (len(value) + 1)
    if how == "replace" and i < len(value):
        edited = value[:i] + char + value[i + 1 :]
    elif how == "delete" and i < len(value):
        edited = value[:i] + value[i + 1 :]
    else:
        edited = value[:i] + char + value[i:]
    headers[header] = edited
    fast = verify(httpsig_fast, headers, r)
    if edited == value:
        assert isinstance(fast, Verified)
        return
    # Stricter than the library: a respelling the library would normalise (spaces,
    # leading zeros, non-canonical base64 bits) is refused too.
    assert isinstance(fast, str), (header, edited)


def _second_signature(h: dict[str, str]) -> None:
    h["Signature-Input"] += ', x=("@method");tag="other"'
    h["Signature"] += ", x=:AA==:"


def _flip_padding_bit(h: dict[str, str]) -> None:
    value = h["Signature"]  # ...X==: where X's low four bits encode nothing
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    h["Signature"] = value[:-4] + alphabet[alphabet.index(value[-4]) ^ 1] + "==:"


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("leading-zero", _replace("Signature-Input", "created=", "created=0")),
        ("double-space", _replace("Signature-Input", '"@method" ', '"@method"  ')),
        ("second-signature", _second_signature),
        ("padding-bits", _flip_padding_bit),
    ],
)
def test_respellings_the_library_normalises_are_refused_by_the_fast_path(
    name: str, edit: Callable[[dict[str, str]], None]
) -> None:
    r = Request("POST", "http://relay.invalid/v1/envelopes", b"{}", "FR", 1740787200, "A" * 22)
    headers = sign(httpsig, r)
    edit(headers)
    assert isinstance(verify(httpsig, headers, r), Verified), name  # the library normalises
    assert verify(httpsig_fast, headers, r) == "bad_signature", name


def _hand_signed(params: str, key: SigningKey | None = None) -> dict[str, str]:
    """Headers over ``params`` exactly as written, signed like any RFC 9421 signer would."""
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(b"{}").digest()).decode() + ":"
    base = (
        f'"@method": POST\n"@path": /v1/envelopes\n"@query": ?\n'
        f'"content-digest": {digest}\n"@signature-params": {params}'
    )
    signature = (key or key_of("FR")).sign(base.encode())
    return {
        "Content-Digest": digest,
        "Signature-Input": f"pocnet={params}",
        "Signature": f"pocnet=:{base64.b64encode(signature).decode()}:",
    }


_COMPONENTS = '("@method" "@path" "@query" "content-digest")'
_TAIL = ';keyid="FR";alg="ed25519";nonce="AAAAAAAAAAAAAAAAAAAAAA";tag="pocnet-v1"'
_ESCAPED_TAIL = _TAIL.replace("AAAA", "A\\\\AA", 1)  # a valid structured-field escape


def _fast_verify(headers: Mapping[str, str]) -> Verified | str:
    try:
        return httpsig_fast.verify_request(
            "POST",
            "http://relay.invalid/v1/envelopes",
            headers,
            b"{}",
            lookup={"FR": key_of("FR").public}.get,
            now=datetime.fromtimestamp(1740787200, UTC),
            window=WINDOW,
        )
    except AuthRejected as e:
        return e.reason


@pytest.mark.parametrize(
    ("params", "why"),
    [
        (f"{_COMPONENTS};created=1740787200{_TAIL}", None),
        (f"{_COMPONENTS};created=999999999999999{_TAIL}", "stale"),
        (f"{_COMPONENTS};created=253402300800{_TAIL}", "stale"),
        (f"{_COMPONENTS};created=1740787501{_TAIL}", "stale"),
        (f"{_COMPONENTS};created=-1740787200{_TAIL}", "bad_signature"),
        (f"{_COMPONENTS};created=1740787200;expires=1740787300{_TAIL}", "bad_signature"),
        (f"{_COMPONENTS};created=1740787200{_TAIL};foo=1", "bad_signature"),
        (f"{_COMPONENTS};created=1740787200{_TAIL.replace('AAAAAAAAAA', 'AAA', 1)}", "bad_nonce"),
        (f"{_COMPONENTS};created=1740787200{_TAIL.replace('FR', 'fr')}", "bad_keyid"),
        (f"{_COMPONENTS};created=1740787200{_TAIL.replace('FR', 'DE')}", "unknown_keyid"),
        (f"{_COMPONENTS};created=1740787200{_ESCAPED_TAIL}", "bad_signature"),
    ],
    ids=[
        "well-formed",
        "15-digit-created",
        "year-10000",
        "301-s-ahead",
        "negative-created",
        "expires",
        "unknown-parameter",
        "15-char-nonce",
        "keyid-not-a-party",
        "unknown-party",
        "escaped-nonce",
    ],
)
def test_hand_signed_parameters_on_the_fast_path(params: str, why: str | None) -> None:
    got = _fast_verify(_hand_signed(params))
    if why is None:
        assert isinstance(got, Verified) and got.party == "FR"
    else:
        assert got == why


def test_a_repeated_header_is_refused_by_the_fast_path() -> None:
    headers = CIMultiDict(_hand_signed(f"{_COMPONENTS};created=1740787200{_TAIL}"))
    assert isinstance(_fast_verify(headers), Verified)
    headers.add("signature", headers["Signature"])
    assert _fast_verify(headers) == "duplicate_header"
