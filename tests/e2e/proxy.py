"""A TCP proxy on loopback in front of a server, for end-to-end tests of clients: it can cut
every connection it carries (a dropped stream), or lose the answers to POSTs (a request that
reached the server whose response never came back)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit


class Proxy:
    """Passes bytes both ways between clients and `target` (`http://127.0.0.1:<port>`)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.ends: set[asyncio.StreamWriter] = set()
        self.pumps: set[asyncio.Task[None]] = set()
        self.to_lose = 0
        self.url = ""
        self.connections = 0
        self.lost = 0  # answers read from the server and not passed on

    def cut(self) -> int:
        """Abort every connection now (both sides, no FIN): what a dropped network does."""
        writers = list(self.ends)
        for writer in writers:
            writer.transport.abort()
        return len(writers) // 2

    def lose_answers(self, count: int) -> None:
        """The next `count` answers to a POST reach the proxy and go no further: the client's
        connection is closed instead, after the server has acted."""
        self.to_lose = count

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Proxy]:
        server = await asyncio.start_server(self.carry, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            yield self
        finally:
            server.close()
            self.cut()
            for pump in list(self.pumps):
                pump.cancel()
            await asyncio.gather(*self.pumps, return_exceptions=True)
            await server.wait_closed()

    async def carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        pump = asyncio.current_task()
        assert pump is not None
        self.pumps.add(pump)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            self.pumps.discard(pump)
            return
        self.ends |= {writer, up_writer}
        posted = [False]  # whether the request in flight on this connection is a POST

        async def to_server() -> None:
            while data := await reader.read(65536):
                if data[:1].isalpha():  # a request line starts a new request
                    posted[0] = data.startswith(b"POST ")
                up_writer.write(data)
                await up_writer.drain()

        async def to_client() -> None:
            while data := await up_reader.read(65536):
                if posted[0] and self.to_lose > 0:
                    self.to_lose -= 1
                    self.lost += 1
                    return
                writer.write(data)
                await writer.drain()

        try:
            directions = [asyncio.create_task(to_server()), asyncio.create_task(to_client())]
            await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
            for direction in directions:
                direction.cancel()
            await asyncio.gather(*directions, return_exceptions=True)
        finally:
            for end in (writer, up_writer):
                self.ends.discard(end)
                end.transport.abort()
            self.pumps.discard(pump)
