"""Who is calling: request signatures (:mod:`keys.httpsig_fast`), replayed nonces, request rates.

:class:`Authenticator` turns a request's method, URL, headers and body into the caller's
party id, or raises: :class:`keys.httpsig.AuthRejected` (401) for a missing, bad or stale
signature or a replayed nonce; :class:`Forbidden` (403) for an unknown or inactive party;
:class:`RateLimited` (429) past the party's token bucket. Time is passed in.

A nonce is remembered until its signature's ``created`` leaves the window (``created +
window``), in this process (:class:`NonceCache`, every request) and, for state-changing
requests, in the database (:meth:`Authenticator.persist`), so a captured request cannot
be replayed after a restart or at another relay process (docs/adr/0007).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from keys.errors import Forbidden, RateLimited
from keys.httpsig_fast import AuthRejected, Verified, verify_request
from keys.identities import VerifyKey
from relay.core.members import Members
from relay.storage.database import Unavailable
from relay.storage.nonces import NonceStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NonceCache:
    """Nonces seen within the replay window, bounded in size.

    Each entry lives until its expiry (the signature's ``created`` plus the window; by
    default ``now`` plus the window). When the cache is full of live entries it refuses
    new requests (fail closed) rather than forget a nonce that could be replayed.
    """

    def __init__(self, window: timedelta, max_size: int) -> None:
        self._window = window
        self._max = max_size
        self._seen: OrderedDict[tuple[str, str], datetime] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_add(
        self, party: str, nonce: str, now: datetime, expires_at: datetime | None = None
    ) -> None:
        """Record a nonce until ``expires_at``.

        Args:
            expires_at: when a request signed with this nonce can no longer pass the time
                check (the signature's ``created`` plus the window); ``now`` plus the window
                if not given.

        Raises:
            AuthRejected: ``replayed`` (seen and not yet expired).
            Unavailable: the cache is full of nonces still inside the window.
        """
        while self._seen:
            key, expiry = next(iter(self._seen.items()))
            if expiry >= now:  # at the expiry itself the signature still passes
                break
            self._seen.popitem(last=False)
        key = (party, nonce)
        known = self._seen.get(key)
        if known is not None and known >= now:
            raise AuthRejected("replayed")
        if len(self._seen) >= self._max:
            raise Unavailable("too many requests in the replay window; try again shortly")
        self._seen[key] = expires_at if expires_at is not None else now + self._window
        self._seen.move_to_end(key)


class Throttled(RateLimited):
    """Over the rate; ``retry_after`` whole seconds until a request will pass."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many requests; slow down")
        self.retry_after = retry_after


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per party: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, party: str, now: float) -> None:
        """Spend one token.

        Args:
            now: a monotonic time in seconds.

        Raises:
            Throttled: no token left; ``retry_after`` says when one will be.
        """
        bucket = self._buckets.get(party)
        if bucket is None:
            bucket = self._buckets[party] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            raise Throttled(max(1, math.ceil((1.0 - bucket.tokens) / self.rate)))
        bucket.tokens -= 1.0


class Authenticator:
    """Checks a signed request against the current members."""

    def __init__(
        self,
        members: Callable[[], Members],
        *,
        window: timedelta,
        nonces: NonceCache,
        limiter: RateLimiter,
        store: NonceStore | None = None,
    ) -> None:
        self._members = members
        self._window = window
        self._nonces = nonces
        self._limiter = limiter
        self._store = store

    def authenticate(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now: datetime,
        monotonic: float,
    ) -> Verified:
        """The verified caller.

        Raises:
            AuthRejected: 401, ``reason`` for the log.
            Forbidden: 403, an unknown or inactive party.
            RateLimited: 429.
            Unavailable: 503, the nonce cache is full.
        """
        members = self._members()
        unknown: list[str] = []

        def lookup(party: str) -> VerifyKey | None:
            key = members.signing_key(party, now)
            if key is None:
                unknown.append(party)
            return key

        try:
            verified = verify_request(
                method, url, headers, body, lookup=lookup, now=now, window=self._window
            )
        except AuthRejected as e:
            # The signature library wraps the lookup's own error, so note unknown ids here.
            if unknown:
                raise Forbidden("not a member of this network") from e
            raise
        if not members.is_active(verified.party, now):
            raise Forbidden("this member is suspended or revoked", code="forbidden")
        expires = verified.created + self._window
        self._nonces.check_and_add(verified.party, verified.nonce, now, expires)
        self._limiter.take(verified.party, monotonic)
        return verified

    async def persist(self, method: str, verified: Verified, now: datetime) -> None:
        """Record a state-changing request's nonce in the database (no-op for reads or
        without a store).

        Raises:
            AuthRejected: ``replayed``: another process, or this one before a restart,
                accepted this nonce within the window.
            Unavailable: the database failed.
        """
        if self._store is None or method.upper() in SAFE_METHODS:
            return
        expires = verified.created + self._window
        if not await self._store.claim(verified.party, verified.nonce, expires, now):
            raise AuthRejected("replayed")
