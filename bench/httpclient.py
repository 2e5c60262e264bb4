"""A minimal HTTP/1.1 keep-alive client over asyncio streams, for loopback measurements.

httpx costs more per request than the servers under test; this sends prebuilt request
bytes and reads exactly one response (``Content-Length`` bodies, as uvicorn sends for
these apps). Not a general client: no chunked bodies, no redirects, no TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping

HOST = "127.0.0.1"


def request_bytes(path: str, headers: Mapping[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, timeout: float = 5.0) -> Connection:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """One request, one response: (status, body)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        lowered = head.lower()
        at = lowered.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lowered.index(b"\r\n", at + 2)
            length = int(lowered[at + 17 : end])
        elif b"\r\ntransfer-encoding:" in lowered:
            raise RuntimeError("chunked responses are not supported by the bench client")
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    async def status(self, request: bytes, timeout: float = 5.0) -> int:
        return (await asyncio.wait_for(self.send(request), timeout))[0]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


async def wait_ready(port: int, path: str, timeout: float, expect: int = 200) -> bool:
    """Poll ``path`` until it answers ``expect`` or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    request = request_bytes(path)
    while time.monotonic() < deadline:
        try:
            conn = await Connection.open(port, timeout=1.0)
            try:
                if await conn.status(request, timeout=1.0) == expect:
                    return True
            finally:
                await conn.close()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass
        await asyncio.sleep(0.05)
    return False
