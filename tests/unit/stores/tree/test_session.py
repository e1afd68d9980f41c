"""gateway/stores/tree/session.py: the pool's bound, its wait, and sessions dropped after a
failure that was not the server's answer. Sessions are stand-ins (a unit edge)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.stores.errors import DestinationUnavailable
from gateway.stores.tree.session import Pool, Session


class Answer(Exception):
    pass


class FakeSession(Session):
    closed = 0

    async def stat(self, full):
        return None

    async def listdir(self, full):
        return None

    def read(self, full, span, to_end, chunk):
        raise NotImplementedError

    async def open_write(self, full):
        raise NotImplementedError

    async def rename(self, source, target): ...

    async def remove(self, full): ...

    async def rmdir(self, full): ...

    async def mkdir(self, full): ...

    async def close(self):
        FakeSession.closed += 1

    @staticmethod
    def answered(exc):
        return isinstance(exc, Answer)


def pool_of(size: int, wait: float = 5.0) -> tuple[Pool, list[FakeSession]]:
    made: list[FakeSession] = []

    async def connect() -> FakeSession:
        made.append(FakeSession())
        return made[-1]

    return Pool(connect, size, wait, "sftp://u@h/x"), made


def test_sessions_are_reused_and_never_more_than_the_bound():
    async def scenario():
        pool, made = pool_of(2)
        busy, peak = [0], [0]

        async def use():
            async with pool.lease("d"):
                busy[0] += 1
                peak[0] = max(peak[0], busy[0])
                await asyncio.sleep(0.01)
                busy[0] -= 1

        await asyncio.gather(*(use() for _ in range(10)))
        return len(made), peak[0]

    assert asyncio.run(scenario()) == (2, 2)


def test_a_full_pool_is_the_destinations_failure_after_the_wait():
    async def scenario():
        pool, _ = pool_of(1, wait=0.05)
        held = await pool.acquire("d")
        with pytest.raises(DestinationUnavailable, match="no connection free") as caught:
            await pool.acquire("d")
        await pool.release(held)
        async with pool.lease("d"):  # the slot came back
            pass
        return caught.value

    error = asyncio.run(scenario())
    assert error.code == "PoolTimeout" and "sftp://u@h/x" in error.message


def test_a_session_survives_an_answer_and_goes_after_anything_else():
    async def scenario():
        pool, made = pool_of(1)
        with pytest.raises(Answer):
            async with pool.lease("d"):
                raise Answer
        with pytest.raises(ConnectionResetError):
            async with pool.lease("d"):
                raise ConnectionResetError
        async with pool.lease("d"):
            pass
        return made

    before = FakeSession.closed
    made = asyncio.run(scenario())
    assert len(made) == 2 and FakeSession.closed == before + 1
    assert made[0].usable is False and made[1].usable is True
