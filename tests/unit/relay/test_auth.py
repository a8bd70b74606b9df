"""Request authentication pieces: the nonce cache, the token bucket, the authenticator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keys.errors import Forbidden
from keys.httpsig import AuthRejected, sign_request
from relay.core.auth import Authenticator, NonceCache, RateLimiter, Throttled
from relay.core.members import StaticMembers
from relay.storage.database import Unavailable
from tests.integration.relaykit import make_member, make_relay_keystore

T = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = timedelta(minutes=5)


def test_nonce_replayed_within_the_window_is_refused_then_forgotten() -> None:
    cache = NonceCache(WINDOW, 10)
    cache.check_and_add("FR", "abc", T)
    with pytest.raises(AuthRejected) as e:
        cache.check_and_add("FR", "abc", T + timedelta(minutes=4))
    assert e.value.reason == "replayed"
    cache.check_and_add("DE", "abc", T)  # nonces are per party
    cache.check_and_add("FR", "abc", T + timedelta(minutes=5, seconds=1))  # old one expired
    assert len(cache) == 1


def test_nonce_cache_is_bounded_and_fails_closed() -> None:
    cache = NonceCache(WINDOW, 3)
    for i in range(3):
        cache.check_and_add("FR", f"n{i}", T)
    with pytest.raises(Unavailable):
        cache.check_and_add("FR", "n3", T + timedelta(seconds=1))
    cache.check_and_add("FR", "n3", T + WINDOW + timedelta(seconds=1))  # the old ones left
    assert len(cache) == 1


@given(st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=60))
def test_token_bucket_never_allows_more_than_burst_plus_rate_times_time(gaps: list[float]) -> None:
    limiter = RateLimiter(rate=2.0, burst=5.0)
    now = allowed = 0
    for gap in gaps:
        now += gap
        try:
            limiter.take("FR", now)
            allowed += 1
        except Throttled as e:
            assert e.retry_after >= 1 and e.http_status == 429
    assert allowed <= 5 + 2.0 * now + 1e-9


def test_token_bucket_refills() -> None:
    limiter = RateLimiter(rate=1.0, burst=1.0)
    limiter.take("FR", 0.0)
    with pytest.raises(Throttled):
        limiter.take("FR", 0.5)
    limiter.take("FR", 1.6)


def _auth(members: StaticMembers) -> Authenticator:
    return Authenticator(
        lambda: members,
        window=WINDOW,
        nonces=NonceCache(WINDOW, 100),
        limiter=RateLimiter(100, 100),
    )


def test_authenticator_names_the_caller_and_refuses_unknown_and_suspended() -> None:
    fr, su = make_member("FR"), make_member("SU")
    _, relay_bundle = make_relay_keystore()
    members = StaticMembers({"FR": fr.bundle, "SU": su.bundle}, relay_bundle, frozenset({"SU"}))
    auth = _auth(members)
    url = "http://relay.invalid/v1/inbox?wait=1"
    headers = sign_request("GET", url, b"", key=fr.key, party="FR", now=T)
    assert auth.authenticate("GET", url, headers, b"", now=T, monotonic=0).party == "FR"
    with pytest.raises(AuthRejected):  # the same request again: replay
        auth.authenticate("GET", url, headers, b"", now=T, monotonic=0)
    gb = make_member("GB")
    headers = sign_request("GET", url, b"", key=gb.key, party="GB", now=T)
    with pytest.raises(Forbidden):
        auth.authenticate("GET", url, headers, b"", now=T, monotonic=0)
    headers = sign_request("GET", url, b"", key=su.key, party="SU", now=T)
    with pytest.raises(Forbidden):
        auth.authenticate("GET", url, headers, b"", now=T, monotonic=0)


def test_a_request_from_a_clock_ahead_is_not_replayable_once_its_nonce_would_expire() -> None:
    # A node whose clock runs 4 minutes ahead: its signature stays valid until created +
    # window, a minute longer than "first seen + window". The nonce must be kept as long.
    fr = make_member("FR")
    _, relay_bundle = make_relay_keystore()
    auth = _auth(StaticMembers({"FR": fr.bundle}, relay_bundle, frozenset()))
    url = "http://relay.invalid/v1/envelopes"
    ahead = T + timedelta(minutes=4)
    headers = sign_request("POST", url, b"{}", key=fr.key, party="FR", now=ahead)
    auth.authenticate("POST", url, headers, b"{}", now=T, monotonic=0)
    for later in (T + WINDOW + timedelta(seconds=1), ahead + WINDOW):
        with pytest.raises(AuthRejected) as e:
            auth.authenticate("POST", url, headers, b"{}", now=later, monotonic=1)
        assert e.value.reason == "replayed"
    with pytest.raises(AuthRejected) as e:  # past created + window: stale, and forgotten
        auth.authenticate(
            "POST", url, headers, b"{}", now=ahead + WINDOW + timedelta(seconds=1), monotonic=2
        )
    assert e.value.reason == "stale"


def test_a_nonce_lives_until_its_signature_leaves_the_window() -> None:
    # Signed 4 minutes ahead of the relay's clock (inside the window): the signature passes
    # the time check until created + window, so its nonce must be remembered as long.
    cache = NonceCache(WINDOW, 10)
    created = T + timedelta(minutes=4)
    cache.check_and_add("FR", "ahead", T, created + WINDOW)
    with pytest.raises(AuthRejected):
        cache.check_and_add("FR", "ahead", T + timedelta(minutes=8))
    cache.check_and_add("FR", "ahead", created + WINDOW + timedelta(seconds=1))


def test_a_nonce_is_still_refused_at_its_expiry_itself() -> None:
    # abs(created - now) == window still passes the time check: the nonce must be kept.
    cache = NonceCache(WINDOW, 10)
    cache.check_and_add("FR", "edge", T, T + WINDOW)
    with pytest.raises(AuthRejected):
        cache.check_and_add("FR", "edge", T + WINDOW)
    cache.check_and_add("FR", "edge", T + WINDOW + timedelta(microseconds=1))
