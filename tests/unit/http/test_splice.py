"""The splice pump between two loopback connections: the bytes, a stalled backend, a backend
that ends early, a cancelled download; the event loop watches neither socket afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from gateway.http.request_stats import Sent
from gateway.http.splice import _Pump
from gateway.stores.base import FileStat
from gateway.stores.capabilities import SocketDownload

MIB = 1024 * 1024


def _pair() -> tuple[socket.socket, socket.socket]:
    """A loopback connection; the far end, the test's own, blocks at most 10 s per call."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        near = socket.create_connection(server.getsockname(), timeout=5)
        far, _ = server.accept()
    far.settimeout(10)
    return near, far


@contextlib.contextmanager
def _pump(size: int, timeout: float) -> Iterator[tuple[_Pump, socket.socket, socket.socket]]:
    """The pump, the backend's end to write the file into, the client's end to read it from."""
    source, backend = _pair()
    client, reader = _pair()
    source.setblocking(False)
    client.setblocking(False)
    stat = FileStat(size, '"e"', datetime.now(timezone.utc))
    download = SocketDownload(source, b"", stat, (0, size), timeout)
    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        yield _Pump(download, client.fileno(), read_end, write_end, 64 * 1024), backend, reader
    finally:
        for fd in (read_end, write_end):
            os.close(fd)
        for sock in (source, backend, client, reader):
            sock.close()


async def _run_then_check_unwatched(pump: _Pump, sent: Sent) -> None:
    """Runs the pump; whatever it raises, neither socket may stay registered with the loop."""
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(pump.run(sent), 30)
    finally:
        assert not loop.remove_reader(pump.source) and not loop.remove_writer(pump.client)


def test_every_byte_arrives_in_order() -> None:
    body = os.urandom(3 * MIB + 7)
    with _pump(len(body), timeout=10) as (pump, backend, reader):
        writer = threading.Thread(target=backend.sendall, args=(body,))
        writer.start()
        got = bytearray()

        def read_all() -> None:
            while len(got) < len(body) and (piece := reader.recv(MIB)):
                got.extend(piece)

        reading = threading.Thread(target=read_all)
        reading.start()
        sent = Sent()
        asyncio.run(_run_then_check_unwatched(pump, sent))
        writer.join(10)
        reading.join(10)
    assert bytes(got) == body and sent.bytes == sent.spliced == len(body)


def test_a_backend_that_stalls_mid_file_times_out() -> None:
    with _pump(MIB, timeout=0.5) as (pump, backend, _reader):
        backend.sendall(b"x" * 1000)
        with pytest.raises(TimeoutError):
            asyncio.run(_run_then_check_unwatched(pump, Sent()))


def test_a_backend_closing_early_is_an_error() -> None:
    with _pump(MIB, timeout=10) as (pump, backend, _reader):
        backend.sendall(b"x" * 1000)
        backend.shutdown(socket.SHUT_WR)
        with pytest.raises(ConnectionError, match="backend closed with"):
            asyncio.run(_run_then_check_unwatched(pump, Sent()))


def test_a_cancelled_download_leaves_no_socket_watched() -> None:
    with _pump(MIB, timeout=60) as (pump, _backend, _reader):

        async def cancel_while_waiting() -> None:
            task = asyncio.create_task(_run_then_check_unwatched(pump, Sent()))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)

        asyncio.run(cancel_while_waiting())
