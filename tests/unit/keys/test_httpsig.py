"""RFC 9421 request signatures between node and relay (keys/httpsig.py, keys/httpsig_fast.py)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from keys import httpsig, httpsig_fast
from keys.httpsig import AuthRejected, sign_request, verify_request
from keys.identities import SigningKey, VerifyKey

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
WINDOW = timedelta(seconds=300)
FR = SigningKey(hashlib.sha256(b"FR").digest())
IT = SigningKey(hashlib.sha256(b"IT").digest())
URL = "https://relay.example.net/v1/envelopes?dry_run=0"
BODY = b'{"v":1}'
NONCE = "bm9uY2Utb2YtMTYtYnl0ZXM"


@pytest.fixture(autouse=True, params=["reference", "fast"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case runs against the library (the reference) and the fast path."""
    module = httpsig if request.param == "reference" else httpsig_fast
    monkeypatch.setitem(globals(), "sign_request", module.sign_request)
    monkeypatch.setitem(globals(), "verify_request", module.verify_request)


def keys_of(**parties: SigningKey) -> dict[str, VerifyKey]:
    return {name: key.public for name, key in parties.items()}


def signed(
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    *,
    key: SigningKey = FR,
    party: str = "FR",
    now: datetime = NOW,
    nonce: str | None = NONCE,
) -> dict[str, str]:
    return sign_request(method, url, body, key=key, party=party, now=now, nonce=nonce)


def verify(
    headers: dict[str, str],
    method: str = "POST",
    url: str = URL,
    body: bytes = BODY,
    *,
    directory: dict[str, VerifyKey] | None = None,
    now: datetime = NOW,
) -> object:
    known = keys_of(FR=FR) if directory is None else directory
    return verify_request(method, url, headers, body, lookup=known.get, now=now, window=WINDOW)


def reason(headers: dict[str, str], **kw: object) -> str:
    with pytest.raises(AuthRejected) as info:
        verify(headers, **kw)  # type: ignore[arg-type]
    assert info.value.http_status == 401
    assert info.value.reason not in str(info.value)
    return info.value.reason


def test_round_trip() -> None:
    headers = signed()
    assert set(headers) == {"Content-Digest", "Signature-Input", "Signature"}
    result = verify(headers)
    assert result.party == "FR"  # type: ignore[attr-defined]
    assert result.nonce == NONCE  # type: ignore[attr-defined]
    assert result.created == NOW  # type: ignore[attr-defined]


def test_signature_input_names_our_profile() -> None:
    params = signed()["Signature-Input"]
    assert params.startswith('pocnet=("@method" "@path" "@query" "content-digest");')
    for part in ('keyid="FR"', 'alg="ed25519"', 'tag="pocnet-v1"', f'nonce="{NONCE}"'):
        assert part in params
    assert f"created={int(NOW.timestamp())}" in params


def test_content_digest_is_rfc9530_sha256() -> None:
    digest = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert signed()["Content-Digest"] == f"sha-256=:{digest}:"


def test_random_nonces_differ() -> None:
    a, b = signed(nonce=None), signed(nonce=None)
    assert a["Signature-Input"] != b["Signature-Input"]
    assert verify(a) and verify(b)


def test_header_names_are_case_insensitive() -> None:
    headers = {k.lower(): v for k, v in signed().items()}
    assert verify(headers)
    headers = {k.upper(): v for k, v in signed().items()}
    assert verify(headers)


def test_wrong_key() -> None:
    assert reason(signed(key=IT), directory=keys_of(FR=FR)) == "bad_signature"


def test_signing_as_someone_else() -> None:
    # IT signs with its own key but claims to be FR.
    assert reason(signed(key=IT, party="FR"), directory=keys_of(FR=FR, IT=IT)) == "bad_signature"


def test_unknown_keyid() -> None:
    assert reason(signed(), directory={}) == "unknown_keyid"


def signed_by_the_library(**kw: object) -> dict[str, str]:
    """Headers from the general library, which signs what our own signers refuse."""
    args: dict[str, object] = {"key": FR, "party": "FR", "now": NOW, "nonce": NONCE} | kw
    return httpsig.sign_request("POST", URL, BODY, **args)  # type: ignore[arg-type]


def test_keyid_that_is_not_a_party_id() -> None:
    assert reason(signed_by_the_library(party="fr")) == "bad_keyid"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("PUT", URL),
        ("POST", "https://relay.example.net/v1/inbox/ack?dry_run=0"),
        ("POST", "https://relay.example.net/v1/envelopes?dry_run=1"),
        ("POST", "https://relay.example.net/v1/envelopes"),
        ("POST", "https://relay.example.net/v1/envelopes?dry_run=0&x=1"),
    ],
    ids=["method", "path", "query-value", "query-removed", "query-added"],
)
def test_altered_request_line(method: str, url: str) -> None:
    assert reason(signed(), method=method, url=url) == "bad_signature"


def test_host_is_not_covered_so_a_proxy_may_rewrite_it() -> None:
    assert verify(signed(), url="http://127.0.0.1:8443/v1/envelopes?dry_run=0")


def test_altered_body() -> None:
    assert reason(signed(), body=b'{"v":2}') == "bad_signature"


def test_altered_body_with_a_recomputed_digest() -> None:
    headers = signed()
    other = b'{"v":2}'
    headers["Content-Digest"] = (
        "sha-256=:" + base64.b64encode(hashlib.sha256(other).digest()).decode() + ":"
    )
    assert reason(headers, body=other) == "bad_signature"


def test_empty_body_is_signed_too() -> None:
    headers = signed("GET", "https://relay.example.net/v1/inbox?wait=30", b"")
    assert verify(headers, "GET", "https://relay.example.net/v1/inbox?wait=30", b"")
    assert (
        reason(headers, method="GET", url="https://relay.example.net/v1/inbox?wait=30", body=b"x")
        == "bad_signature"
    )


@pytest.mark.parametrize(
    "offset",
    [timedelta(seconds=301), -timedelta(seconds=301), timedelta(days=1)],
    ids=["old", "future", "day-old"],
)
def test_stale_created(offset: timedelta) -> None:
    assert reason(signed(), now=NOW + offset) == "stale"


@pytest.mark.parametrize("offset", [timedelta(seconds=300), -timedelta(seconds=300)])
def test_created_at_the_window_edge_is_accepted(offset: timedelta) -> None:
    assert verify(signed(), now=NOW + offset)


@pytest.mark.parametrize("missing", ["Content-Digest", "Signature-Input", "Signature"])
def test_missing_headers(missing: str) -> None:
    headers = signed()
    del headers[missing]
    assert reason(headers) == "missing_signature"


def test_no_headers_at_all() -> None:
    assert reason({}) == "missing_signature"


def test_overlong_header() -> None:
    headers = signed()
    headers["Signature"] = "pocnet=:" + "A" * 3000 + ":"
    assert reason(headers) == "header_too_long"


def test_short_nonce() -> None:
    assert reason(signed_by_the_library(nonce="short")) == "bad_nonce"


@pytest.mark.parametrize(
    ("party", "nonce"),
    [("fr", NONCE), ("FR", "short"), ("FR", "x" * 65), ("FR", 'quote"' * 4)],
    ids=["party", "short-nonce", "long-nonce", "nonce-chars"],
)
def test_the_fast_signer_refuses_what_is_outside_the_profile(party: str, nonce: str) -> None:
    with pytest.raises(httpsig_fast.UnsignableRequest):
        httpsig_fast.sign_request("POST", URL, BODY, key=FR, party=party, now=NOW, nonce=nonce)


def test_garbled_signature_header() -> None:
    headers = signed()
    headers["Signature"] = "pocnet=:not base64:"
    assert reason(headers) == "bad_signature"


def test_wrong_tag() -> None:
    headers = signed()
    headers["Signature-Input"] = headers["Signature-Input"].replace("pocnet-v1", "other-v1")
    assert reason(headers) == "bad_signature"


def test_the_label_is_not_significant() -> None:
    # RFC 9421 does not sign the label; the tag selects our signature.
    headers = signed()
    headers["Signature-Input"] = headers["Signature-Input"].replace("pocnet=", "other=")
    headers["Signature"] = headers["Signature"].replace("pocnet=", "other=")
    assert verify(headers)


def test_only_the_given_now_matters_not_the_wall_clock() -> None:
    # The library on its own rejects a "created" more than 5 s ahead of the wall clock;
    # a node whose clock runs a minute fast must still get in within the window.
    future = datetime.now(UTC) + timedelta(days=3650)
    assert verify(signed(now=future), now=future)
    fast = datetime.now(UTC).replace(microsecond=0)
    assert verify(signed(now=fast + timedelta(seconds=60)), now=fast)


def test_covering_fewer_components_is_refused() -> None:
    headers = signed()
    headers["Signature-Input"] = headers["Signature-Input"].replace(' "@query"', "")
    assert reason(headers) == "bad_signature"


# --- from the security review of keys/ (findings 4) ----------

REVIEW_FR = SigningKey(hashlib.sha256(b"review FR").digest())


# --- 4. RFC 9421: a created or expires beyond datetime's range crashed the verifier -------

REVIEW_URL = "https://relay.example/v1/envelopes?dry_run=0"
SF_MAX = 999_999_999_999_999  # RFC 8941 integers have at most 15 digits


def _hand_signed(created: int, expires: int | None = None) -> dict[str, str]:
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(b"{}").digest()).decode() + ":"
    params = f'("@method" "@path" "@query" "content-digest");created={created}'
    if expires is not None:
        params += f";expires={expires}"
    params += f';keyid="FR";alg="ed25519";nonce="{NONCE}";tag="pocnet-v1"'
    base = "\n".join(
        [
            '"@method": POST',
            '"@path": /v1/envelopes',
            '"@query": ?dry_run=0',
            f'"content-digest": {digest}',
            f'"@signature-params": {params}',
        ]
    )
    sig = base64.b64encode(REVIEW_FR.sign(base.encode())).decode()
    return {
        "Content-Digest": digest,
        "Signature-Input": f"pocnet={params}",
        "Signature": f"pocnet=:{sig}:",
    }


def _verify_hand_signed(headers: dict[str, str]) -> object:
    return verify_request(
        "POST",
        REVIEW_URL,
        headers,
        b"{}",
        lookup={"FR": REVIEW_FR.public}.get,
        now=NOW,
        window=timedelta(minutes=5),
    )


def test_hand_signed_request_is_well_formed() -> None:
    assert _verify_hand_signed(_hand_signed(int(NOW.timestamp()))).party == "FR"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("created", "expires"),
    [
        (SF_MAX, None),  # the largest structured-field integer: year 31,690,708
        (-SF_MAX, None),
        (253402300800, None),  # the first second of year 10000
        (int(NOW.timestamp()), SF_MAX),
        (int(NOW.timestamp()), -SF_MAX),
    ],
)
def test_out_of_range_times_are_stale_not_a_crash(
    created: int, expires: int | None, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(AuthRejected) as info:
        _verify_hand_signed(_hand_signed(created, expires))
    # The fast path's profile has no sign and no "expires": such a header is outside the
    # profile (a bad signature header) before any time is read; the reference finds it stale.
    outside = created < 0 or expires is not None
    fast = request.node.callspec.params["implementation"] == "fast"
    assert info.value.reason == ("bad_signature" if fast and outside else "stale")
