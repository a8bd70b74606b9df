"""Attachment chunks through the relay API in-process, on SQLite and on PostgreSQL:
upload before the envelope, resume, the check at submit, download by the recipient only,
limits refused early with 413, retention."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest

from keys.envelope import Attachment
from keys.envelope.stream import open_chunks, seal_file
from relay.config import RelayConfig
from tests.integration.relaykit import AppUnderTest, database, seal, start_app

CHUNK = 1024


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def relay(request: Any, tmp_path: Any, aiohttp_server: Any) -> Any:
    async with database(request.param, tmp_path) as url:
        yield await start_app(aiohttp_server, url)


def sealed(data: bytes) -> tuple[Attachment, list[bytes]]:
    blobs: list[bytes] = []
    att = seal_file(
        io.BytesIO(data),
        lambda _i, b: blobs.append(b),
        name="capture.pcap",
        media_type="application/octet-stream",
        chunk_size=CHUNK,
    )
    return att, blobs


async def upload(
    client: Any, att: Attachment, blobs: list[bytes], which: range | None = None
) -> None:
    for i in which if which is not None else range(len(blobs)):
        status, body = await client.put_chunk(
            att.id, i, blobs[i], size=att.ciphertext_size, chunks=att.chunks
        )
        assert status == 201, body


DATA = bytes(i % 253 for i in range(3 * CHUNK + 100))


async def test_upload_submit_download_by_the_recipient_only(relay: AppUnderTest) -> None:
    fr, de = relay.members["FR"], relay.members["DE"]
    att, blobs = sealed(DATA)
    env = seal(fr, de, relay.clock(), attachments=(att,))
    async with relay.client("FR") as cf, relay.client("DE") as cd, relay.client("IT") as ci:
        assert await cf.attachment_status(att.id) == (
            200,
            {"id": att.id, "present": [], "bytes": 0, "msg_id": None},
        )
        await upload(cf, att, blobs, range(0, 2))
        status, state = await cf.attachment_status(att.id)
        assert status == 200 and state["present"] == [[0, 1]]
        # Before the last chunk: no receipt, a clear 409 naming what is missing.
        status, err = await cf.submit(env.to_bytes())
        assert status == 409 and err["error"] == "attachment_incomplete"
        assert "2 of 4 chunks" in err["message"]
        await upload(cf, att, blobs, range(2, 4))
        # The same chunk again: stored already (a resumed upload), 200.
        status, _ = await cf.put_chunk(
            att.id, 3, blobs[3], size=att.ciphertext_size, chunks=att.chunks
        )
        assert status == 200
        status, accepted = await cf.submit(env.to_bytes())
        assert status == 201, accepted
        assert (await cf.submit(env.to_bytes()))[0] == 200  # the same receipt again
        # After acceptance no chunk may change.
        status, err = await cf.put_chunk(
            att.id, 3, b"x" * len(blobs[3]), size=att.ciphertext_size, chunks=att.chunks
        )
        assert status == 409 and err["error"] == "chunk_differs"
        # Only the recipient downloads; the sender and a third party get 404.
        got = []
        for i in range(att.chunks):
            status, blob = await cd.get_chunk(att.id, i)
            assert status == 200
            got.append(blob)
        assert b"".join(open_chunks(att, iter(got))) == DATA
        assert (await cf.get_chunk(att.id, 0))[0] == 404
        assert (await ci.get_chunk(att.id, 0))[0] == 404
        assert (await cd.get_chunk(att.id, att.chunks))[0] == 404
        assert (await ci.attachment_status(att.id))[0] == 404
        status, state = await cd.attachment_status(att.id)
        assert status == 200 and state["msg_id"] == env.header.msg_id
        assert state["bytes"] == att.ciphertext_size


async def test_submit_refuses_chunks_that_are_not_the_listed_ones(relay: AppUnderTest) -> None:
    fr, de = relay.members["FR"], relay.members["DE"]
    att, blobs = sealed(DATA)
    _other, other_blobs = sealed(DATA)
    env = seal(fr, de, relay.clock(), attachments=(att,))
    async with relay.client("FR") as cf:
        swapped = [blobs[0], other_blobs[1], blobs[2], blobs[3]]
        await upload(cf, att, swapped)
        status, err = await cf.submit(env.to_bytes())
        assert status == 400 and err["error"] == "attachment_mismatch"
        assert (await cf.inbox())[1]["items"] == []


async def test_another_party_cannot_write_into_an_id(relay: AppUnderTest) -> None:
    att, blobs = sealed(DATA)
    async with relay.client("FR") as cf, relay.client("IT") as ci:
        await upload(cf, att, blobs, range(0, 1))
        status, err = await ci.put_chunk(
            att.id, 1, blobs[1], size=att.ciphertext_size, chunks=att.chunks
        )
        assert status == 409 and err["error"] == "attachment_id_taken"
        assert (await ci.attachment_status(att.id))[0] == 404


async def test_limits_are_refused_at_the_first_chunk_with_413(
    tmp_path: Any, aiohttp_server: Any
) -> None:
    config = replace(
        RelayConfig(),
        attachment_max_file_bytes=4000,
        attachment_quota_bytes=6000,
        attachment_max_chunk_bytes=2000,
    )
    async with database("sqlite", tmp_path) as url:
        relay = await start_app(aiohttp_server, url, config=config)
        big, big_blobs = sealed(bytes(4 * CHUNK))
        att, blobs = sealed(bytes(3 * CHUNK))
        again, again_blobs = sealed(bytes(3 * CHUNK))
        async with relay.client("FR") as cf:
            status, err = await cf.put_chunk(
                big.id, 0, big_blobs[0], size=big.ciphertext_size, chunks=big.chunks
            )
            assert status == 413 and err["error"] == "attachment_too_large"
            assert "attachment_max_file_bytes" in err["message"]
            await upload(cf, att, blobs)
            status, err = await cf.put_chunk(
                again.id, 0, again_blobs[0], size=again.ciphertext_size, chunks=again.chunks
            )
            assert status == 413 and err["error"] == "attachment_quota"
            assert "quota" in err["message"]
            status, err = await cf.put_chunk(again.id, 0, bytes(2001), size=3000, chunks=1)
            assert status == 413 and err["error"] == "too_large"
        await relay.close()


async def test_retention_purges_the_chunks_with_the_envelope(relay: AppUnderTest) -> None:
    fr, de = relay.members["FR"], relay.members["DE"]
    service = relay.runtime.service
    att, blobs = sealed(DATA)
    stray, stray_blobs = sealed(DATA)
    env = seal(fr, de, relay.clock(), attachments=(att,))
    async with relay.client("FR") as cf, relay.client("DE") as cd:
        await upload(cf, att, blobs)
        await upload(cf, stray, stray_blobs, range(0, 1))  # never claimed
        assert (await cf.submit(env.to_bytes()))[0] == 201
        _, inbox = await cd.inbox()
        await cd.ack([inbox["items"][0]["id"]])
        assert (await service.process_deadlines(relay.clock.advance(days=29))).purged == 0
        assert (await cf.attachment_status(stray.id))[1]["present"] == []
        assert (await cd.get_chunk(att.id, 0))[0] == 200
        assert (await service.process_deadlines(relay.clock.advance(days=2))).purged == 1
        status, body = await cd.get_chunk(att.id, 0)
        assert status == 404 and b"purged" in body
        assert (await cd.attachment_status(att.id))[1]["present"] == []
