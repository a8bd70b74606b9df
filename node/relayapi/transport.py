"""The node's side of the relay API v1 (docs/relay-api.md), behind one interface.

:class:`RelayTransport` is what the rest of the node uses; :class:`HttpRelayTransport` is
the aiohttp implementation (every request signed with :func:`keys.httpsig_fast.sign_request`),
:class:`tests.support.fake_relay.FakeRelay` the in-memory one for tests. Like python-tuf's fetcher,
every public method wraps every failure in the project's own errors:

- :class:`keys.host.command.Unreachable`: no answer (connection refused, reset, timeout, DNS) or a
  5xx; the work is kept and retried;
- :class:`keys.errors.RateLimited`: 429 (``retry_after`` seconds, when the relay said);
- :class:`node.relayapi.misconfig.RelayConfigError` (exit 8): a host that does not
  resolve, a TLS failure, a 404 from a path every relay serves, a 401/403 for this node's
  key: configuration to fix, not an outage;
- otherwise the error class for the relay's stable error code (``rejected`` ->
  :class:`Rejected`, ``forbidden`` -> :class:`Forbidden`, ``msg_id_reused`` ->
  :class:`Conflict` ...), which are final for that request.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import aiohttp
from yarl import URL

from keys.encoding import canonical, loads_strict
from keys.errors import (
    Conflict,
    DecodeError,
    Forbidden,
    NotFound,
    PeerError,
    PocnetError,
    RateLimited,
    Rejected,
    TooLarge,
    Unauthenticated,
    ValidationError,
)
from keys.host.command import Unreachable
from keys.httpsig_fast import sign_request
from keys.identities import SigningKey
from node.relayapi import auditwire
from node.relayapi.misconfig import connection_error, refused_key, wrong_path

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
MAX_ACK_IDS = 100
MAX_PROOF_MESSAGES = 50
_ERRORS: dict[str, type[PeerError]] = {
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "msg_id_reused": Conflict,
    "too_large": TooLarge,
}


@dataclass(frozen=True)
class InboxItem:
    """One item of the caller's inbox: an envelope, or a receipt about one of its messages."""

    id: str
    type: str
    envelope: Mapping[str, Any] | None = None
    msg_id: str | None = None
    receipt: Mapping[str, Any] | None = None

    @classmethod
    def from_wire(cls, obj: Any) -> InboxItem:
        """Validate one item of ``GET /v1/inbox``.

        Raises:
            ValidationError: not an item of the contract.
        """
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise ValidationError("inbox item without an id")
        item_id = obj["id"]
        if not 0 < len(item_id) <= 128:
            raise ValidationError("inbox item id of a wrong length")
        if obj.get("type") == "envelope" and isinstance(obj.get("envelope"), dict):
            return cls(item_id, "envelope", envelope=obj["envelope"])
        if obj.get("type") == "receipt" and isinstance(obj.get("receipt"), dict):
            msg_id = obj.get("msg_id")
            return cls(
                item_id,
                "receipt",
                msg_id=msg_id if isinstance(msg_id, str) else None,
                receipt=obj["receipt"],
            )
        raise ValidationError("inbox item of an unknown type")


@dataclass(frozen=True)
class HandOver:
    """The relay's answer to receipts posted with a download confirmation.

    ``receipts``: for each receipt given, in order, True (stored now), False (the relay
    already held it) or the error that refused it (as its own ``POST /v1/receipts`` would
    have raised it).
    """

    acked: int
    receipts: list[bool | PocnetError]
    items: list[InboxItem] | None = None  # the next items, when a long-poll was asked for


@dataclass(frozen=True)
class SubmitResult:
    """The relay's answer to a submitted envelope."""

    receipt: Mapping[str, Any]
    created: bool


class RelayTransport(Protocol):
    """What the node asks of the relay. Every method raises only PoCNet errors."""

    async def submit(self, envelope: bytes) -> SubmitResult:
        """``POST /v1/envelopes``: the ACCEPTED receipt's wire object."""
        ...

    async def inbox(self, *, wait: float, limit: int) -> list[InboxItem]:
        """``GET /v1/inbox``: items, at once or after up to ``wait`` seconds."""
        ...

    async def ack(self, ids: Sequence[str]) -> int:
        """``POST /v1/inbox/ack``: the number of items removed."""
        ...

    async def post_receipt(self, receipt: bytes) -> bool:
        """``POST /v1/receipts``: True if newly stored, False if already there."""
        ...

    async def hand_over(
        self,
        ids: Sequence[str],
        receipts: Sequence[bytes],
        *,
        wait: float | None = None,
        limit: int = MAX_ACK_IDS,
    ) -> HandOver:
        """``POST /v1/inbox/ack`` with ``receipts``: the receipts stored and forwarded,
        then the items removed, in one request (or as few as the size limit allows); with
        ``wait``, the same request then long-polls for the next items (``HandOver.items``;
        None from a relay that cannot)."""
        ...

    async def evidence(self, msg_id: str) -> dict[str, Any]:
        """``GET /v1/envelopes/{msg_id}/evidence``."""
        ...

    async def directory(self) -> dict[str, Any]:
        """``GET /v1/directory``."""
        ...

    async def audit_checkpoint(self) -> bytes:
        """``GET /v1/audit/checkpoint``: the latest signed note (not verified yet)."""
        ...

    async def audit_consistency(self, old_size: int, new_size: int) -> tuple[bytes, ...]:
        """``GET /v1/audit/proofs/consistency``: the proof's hashes (not verified yet)."""
        ...

    async def audit_inclusion(self, index: int, size: int) -> tuple[bytes, ...]:
        """``GET /v1/audit/proofs/inclusion``: the proof's hashes (not verified yet)."""
        ...

    async def audit_messages(
        self, msg_ids: Sequence[str]
    ) -> tuple[bytes, dict[str, list[auditwire.LeafProof]]]:
        """``GET /v1/audit/proofs/messages``: one note and, by message, its log entries with
        their inclusion proofs (not verified yet); at most :data:`MAX_PROOF_MESSAGES` ids."""
        ...

    async def close(self) -> None: ...


class RelayRateLimited(RateLimited):
    """429 from the relay; ``retry_after`` is its hint in seconds, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ClockOff(Unauthenticated):
    """401 ``stale``: the relay finds this request's signature time outside its window, so
    this computer's clock is off; ``offset_seconds`` is the relay's clock minus ours (None
    if the relay did not say). Transient: the request is sent again, and passes once the
    clock is right."""

    code = "stale"

    def __init__(self, offset_seconds: int | None) -> None:
        if offset_seconds is None:
            what = "this computer's clock is off"
        else:
            way = "behind" if offset_seconds > 0 else "ahead of"
            what = f"this computer's clock is {abs(offset_seconds)} s {way} the relay's"
        super().__init__(
            f"the relay refused the request's time: {what}; set the clock right (NTP), "
            "the request is sent again once it is"
        )
        self.offset_seconds = offset_seconds


RELAY_TIME_HEADER = "Pocnet-Relay-Time"


def clock_offset(relay_time: str | None, now: datetime) -> int | None:
    """The relay's clock (Unix seconds, from its header) minus ``now``, in whole seconds;
    None if absent or not a plausible ASCII number."""
    if relay_time is None or not relay_time.isascii() or not relay_time.isdigit():
        return None
    if len(relay_time) > 12:
        return None
    return int(relay_time) - int(now.timestamp())


def is_transient(error: PocnetError) -> bool:
    """True for failures that a later retry may cure (no answer, overload, our clock)."""
    return isinstance(error, Unreachable | RateLimited | ClockOff)


def error_for(
    status: int,
    body: Mapping[str, Any],
    retry_after: str | None = None,
    *,
    relay_time: str | None = None,
    now: datetime | None = None,
) -> PocnetError:
    """The PoCNet error for a relay error answer (``relay_time``: its clock header on a
    401 ``stale``; ``now``: ours when the answer came)."""
    code = str(body.get("error", ""))[:40]
    message = str(body.get("message", ""))[:200] or f"HTTP {status}"
    if status == 401 and code == "stale":
        return ClockOff(None if now is None else clock_offset(relay_time, now))
    if status >= 500:
        return Unreachable(f"the relay answered {status} ({code or 'server error'}): {message}")
    if status == 429 or code == "rate_limited":
        try:
            after = float(retry_after) if retry_after else None
        except ValueError:
            after = None
        return RelayRateLimited(f"the relay is rate-limiting this node: {message}", after)
    if code == "rejected":
        return Rejected("relay_rejected")
    cls = _ERRORS.get(code)
    if cls is not None:
        return cls(f"the relay refused: {message}", code=code)
    if status == 400:
        return ValidationError(f"the relay refused the request: {message}", code=code or None)
    return PeerError(f"the relay answered {status}: {message}", code=code or None)


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None if it is longer than ``limit`` bytes."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class HttpRelayTransport:
    """The relay API over aiohttp; every ``/v1`` request signed (RFC 9421)."""

    def __init__(
        self,
        base_url: str,
        *,
        party: str,
        signing_key: SigningKey,
        clock: Callable[[], datetime],
        timeout: float = 15.0,
        ca_file: str | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._party = party
        self._key = signing_key
        self._clock = clock
        self._timeout = timeout
        self._ssl: ssl.SSLContext | bool = True
        if ca_file:
            self._ssl = ssl.create_default_context(cafile=ca_file)
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=32, ssl=self._ssl),
                headers={"User-Agent": "pocnet-node/0.1"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _call(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        timeout: float | None = None,
        always_served: bool = True,
        scoped: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """One signed request; a relay error answer raised as its PoCNet error.

        ``always_served``: every relay serves ``path`` and never answers it 404 itself, so
        a 404 means ``relay.url`` is wrong (:class:`RelayConfigError`). A 401 always
        concerns this node's key (or clock); a 403 too unless ``scoped`` (a submission or
        receipt that the relay's rules may refuse as such: a suspended sender, another
        party's name), where it stays :class:`Forbidden` and the message fails.
        """
        url = self._base + path
        headers = sign_request(
            method, url, body, key=self._key, party=self._party, now=self._clock()
        )
        if method == "POST":
            headers["Content-Type"] = "application/json"
        session = self._get_session()
        limit = aiohttp.ClientTimeout(total=timeout or self._timeout)
        try:
            async with session.request(
                method, URL(url, encoded=True), data=body or None, headers=headers, timeout=limit
            ) as resp:
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
                relay_time = resp.headers.get(RELAY_TIME_HEADER)
                raw = await _read_capped(resp, MAX_RESPONSE_BYTES)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            misconfigured = connection_error(e, self._base)
            if misconfigured is not None:
                raise misconfigured from e
            raise Unreachable(
                f"the relay at {self._base} did not answer ({type(e).__name__}); "
                "check the network and relay.url in node.toml"
            ) from e
        if status == 404 and always_served:  # whatever the body (a proxy's HTML page)
            raise wrong_path(self._base, path)
        if raw is None:
            raise PeerError(f"the relay's answer exceeds {MAX_RESPONSE_BYTES} bytes")
        try:
            doc = loads_strict(raw, max_bytes=MAX_RESPONSE_BYTES) if raw else {}
        except (DecodeError, TooLarge) as e:
            if status >= 500:
                raise Unreachable(f"the relay answered {status}") from e
            raise PeerError(f"the relay's answer ({status}) is not valid JSON") from e
        stale = status == 401 and doc.get("error") == "stale"  # our clock, not our key
        if (status == 401 and not stale) or (status == 403 and not scoped):
            raise refused_key(status, str(doc.get("message", ""))[:200], self._party)
        if status >= 400:
            raise error_for(status, doc, retry_after, relay_time=relay_time, now=self._clock())
        return status, doc

    async def submit(self, envelope: bytes) -> SubmitResult:
        status, doc = await self._call("POST", "/v1/envelopes", envelope, scoped=True)
        receipt = doc.get("receipt")
        if not isinstance(receipt, dict):
            raise PeerError("the relay's answer to a submission carries no receipt")
        return SubmitResult(receipt=receipt, created=status == 201)

    async def inbox(self, *, wait: float, limit: int) -> list[InboxItem]:
        path = f"/v1/inbox?wait={int(wait)}&limit={int(limit)}"
        _, doc = await self._call("GET", path, timeout=wait + self._timeout)
        raw_items = doc.get("items")
        if not isinstance(raw_items, list):
            raise PeerError("the relay's inbox answer has no items list")
        return [InboxItem.from_wire(obj) for obj in raw_items]

    async def ack(self, ids: Sequence[str]) -> int:
        acked = 0
        for start in range(0, len(ids), MAX_ACK_IDS):
            chunk = list(ids[start : start + MAX_ACK_IDS])
            _, doc = await self._call("POST", "/v1/inbox/ack", canonical({"ids": chunk}))
            acked += _count(doc.get("acked"))
        return acked

    async def hand_over(
        self,
        ids: Sequence[str],
        receipts: Sequence[bytes],
        *,
        wait: float | None = None,
        limit: int = MAX_ACK_IDS,
    ) -> HandOver:
        outcomes: list[bool | PocnetError] = []
        acked = 0
        items: list[InboxItem] | None = None
        chunks = handover_chunks(list(ids), list(receipts))
        for n, (id_chunk, receipt_chunk) in enumerate(chunks):
            last = n == len(chunks) - 1
            poll = b"" if wait is None or not last else b',"wait":%d,"limit":%d' % (wait, limit)
            body = b'{"ids":%s,"receipts":[%s]%s}' % (
                canonical(id_chunk),
                b",".join(receipt_chunk),
                poll,
            )
            try:
                _, doc = await self._call(
                    "POST", "/v1/inbox/ack", body, timeout=(wait or 0) + self._timeout
                )
            except ValidationError as e:
                if e.code != "bad_fields" or n:
                    raise
                return await self._hand_over_apart(ids, receipts)  # an older relay
            acked += _count(doc.get("acked"))
            outcomes += handover_outcomes(doc.get("receipts"), len(receipt_chunk))
            if poll and isinstance(doc.get("items"), list):
                items = [InboxItem.from_wire(obj) for obj in doc["items"]]
        return HandOver(acked, outcomes, items)

    async def _hand_over_apart(self, ids: Sequence[str], receipts: Sequence[bytes]) -> HandOver:
        """The same with one request per receipt and the plain acknowledgement."""
        outcomes: list[bool | PocnetError] = []
        for wire in receipts:
            try:
                outcomes.append(await self.post_receipt(wire))
            except PocnetError as e:
                if is_transient(e):
                    raise
                outcomes.append(e)
        return HandOver(await self.ack(ids), outcomes)

    async def post_receipt(self, receipt: bytes) -> bool:
        # 404: the relay no longer holds the envelope (not a wrong base URL).
        status, _ = await self._call(
            "POST", "/v1/receipts", receipt, always_served=False, scoped=True
        )
        return status == 201

    async def evidence(self, msg_id: str) -> dict[str, Any]:
        _, doc = await self._call("GET", f"/v1/envelopes/{msg_id}/evidence", always_served=False)
        return doc

    async def directory(self) -> dict[str, Any]:
        _, doc = await self._call("GET", "/v1/directory")
        return doc

    async def audit_checkpoint(self) -> bytes:
        _, doc = await self._call("GET", "/v1/audit/checkpoint")
        return auditwire.checkpoint_answer(doc)

    async def audit_consistency(self, old_size: int, new_size: int) -> tuple[bytes, ...]:
        path = f"/v1/audit/proofs/consistency?from={int(old_size)}&to={int(new_size)}"
        _, doc = await self._call("GET", path, always_served=False)
        return auditwire.consistency_answer(doc, old_size, new_size)

    async def audit_inclusion(self, index: int, size: int) -> tuple[bytes, ...]:
        _, doc = await self._call(
            "GET",
            f"/v1/audit/proofs/inclusion?index={int(index)}&size={int(size)}",
            always_served=False,
        )
        return auditwire.inclusion_answer(doc, index, size)

    async def audit_messages(
        self, msg_ids: Sequence[str]
    ) -> tuple[bytes, dict[str, list[auditwire.LeafProof]]]:
        query = "&".join(f"msg_id={m}" for m in msg_ids[:MAX_PROOF_MESSAGES])
        _, doc = await self._call("GET", f"/v1/audit/proofs/messages?{query}", always_served=False)
        return auditwire.messages_audit(doc, msg_ids)

    # Sealed attachments (docs/relay-api.md; node/exchange/attachments.py) ---------------

    async def put_chunk(
        self, att_id: str, idx: int, blob: bytes, *, size: int, chunks: int
    ) -> bool:
        """Upload chunk ``idx`` of a file of ``size`` encrypted bytes in ``chunks`` chunks;
        True if stored now, False if the relay held the same bytes already."""
        path = f"/v1/attachments/{att_id}/chunks/{int(idx)}?size={int(size)}&chunks={int(chunks)}"
        status, _ = await self._call("PUT", path, blob, always_served=False, scoped=True)
        return status == 201

    async def attachment_status(self, att_id: str) -> dict[str, Any]:
        """``{"id", "present": [[first, last], ...], "bytes", "msg_id"}``."""
        _, doc = await self._call("GET", f"/v1/attachments/{att_id}", always_served=False)
        return doc

    async def get_chunk(self, att_id: str, idx: int, max_bytes: int) -> bytes:
        """Chunk ``idx`` of an attachment addressed to this node, at most ``max_bytes``."""
        path = f"/v1/attachments/{att_id}/chunks/{int(idx)}"
        url = self._base + path
        headers = sign_request("GET", url, b"", key=self._key, party=self._party, now=self._clock())
        limit = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with self._get_session().get(
                URL(url, encoded=True), headers=headers, timeout=limit
            ) as resp:
                status = resp.status
                raw = await _read_capped(resp, max(max_bytes, 64 * 1024))
                retry_after = resp.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise Unreachable(
                f"the relay at {self._base} did not answer ({type(e).__name__})"
            ) from e
        if raw is None or (status == 200 and len(raw) > max_bytes):
            raise PeerError(f"the relay's chunk exceeds {max_bytes} bytes")
        if status == 200:
            return raw
        try:
            doc = loads_strict(raw, max_bytes=MAX_RESPONSE_BYTES) if raw else {}
        except (DecodeError, TooLarge) as e:
            raise Unreachable(f"the relay answered {status}") from e
        raise error_for(status, doc, retry_after, now=self._clock())


HANDOVER_BYTES = 48 * 1024
"""Most receipt bytes in one hand-over request (the relay reads 64 KiB by default)."""


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def handover_chunks(ids: list[str], receipts: list[bytes]) -> list[tuple[list[str], list[bytes]]]:
    """Split a hand-over into requests: at most :data:`MAX_ACK_IDS` ids and receipts and
    about :data:`HANDOVER_BYTES` of receipts each (a larger receipt goes alone); the
    receipts of a request are stored before its ids are acknowledged, and every receipt
    is in the request of its item or an earlier one."""
    groups: list[list[bytes]] = [[]]
    size = 0
    for wire in receipts:
        full = len(groups[-1]) >= MAX_ACK_IDS or size + len(wire) > HANDOVER_BYTES
        if groups[-1] and full:
            groups.append([])
            size = 0
        groups[-1].append(wire)
        size += len(wire)
    id_groups = [ids[i : i + MAX_ACK_IDS] for i in range(0, len(ids), MAX_ACK_IDS)]
    count = max(len(groups), len(id_groups), 1)
    # The ids go with the last requests, so that every receipt precedes its ack.
    id_groups = [[] for _ in range(count - len(id_groups))] + id_groups
    groups += [[] for _ in range(count - len(groups))]
    return list(zip(id_groups, groups, strict=True))


def handover_outcomes(raw: Any, expected: int) -> list[bool | PocnetError]:
    """The relay's per-receipt answers (``{"status", "error"?, "message"?}``) as
    :class:`HandOver` outcomes.

    Raises:
        PeerError: not one answer per receipt given.
    """
    if not isinstance(raw, list) or len(raw) != expected:
        raise PeerError("the relay's answer does not account for every receipt given")
    out: list[bool | PocnetError] = []
    for item in raw:
        status = item.get("status") if isinstance(item, dict) else None
        if not isinstance(status, int) or isinstance(status, bool):
            raise PeerError("the relay's answer about a receipt has no status")
        if status in (200, 201):
            out.append(status == 201)
        else:
            out.append(error_for(status, item))
    return out
