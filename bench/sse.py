"""Many lightweight SSE clients on raw asyncio sockets (httpx per stream would cost more)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Watcher:
    """One open event stream; records each frame's arrival time."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self._host, self._port, self._path = host, port, path
        self.frames: list[tuple[float, bytes]] = []
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None

    async def run(self, on_frame: Callable[[float, bytes], None] | None = None) -> None:
        reader, writer = await asyncio.open_connection(self._host, self._port, limit=2**20)
        self._writer = writer
        # A Host the service answers (any other is 421 MISDIRECTED_HOST since hardening II).
        request = (
            f"GET {self._path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        buffer = b""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                now = time.time()
                if not self.opened.is_set():
                    if not chunk.startswith(b"HTTP/1.1 200"):
                        # A refused stream is no open one: the figures would count nothing.
                        status = chunk.partition(b"\r\n")[0]
                        raise RuntimeError(f"stream refused: {status!r}")
                    self.opened.set()
                buffer += chunk
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    self.frames.append((now, frame))
                    if on_frame is not None:
                        on_frame(now, frame)
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            writer.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
