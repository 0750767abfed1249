"""A small HTTP/1.1 server for the simulator's REST endpoints (JSON in, JSON out).

It keeps connections alive as httpx expects, needs Content-Length on request bodies and
answers every request with a JSON body. Nothing heavier is needed on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Error"}
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            obj = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return obj if isinstance(obj, dict) else {}


Handler = Callable[[Request], tuple[int, dict[str, Any]]]


class HttpServer:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                parts = line.decode("latin-1").split()
                if len(parts) != 3:
                    await self._send(writer, 400, {"error": "bad request line"}, close=True)
                    break
                method, target, version = parts
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length > MAX_BODY or "chunked" in headers.get("transfer-encoding", ""):
                    await self._send(writer, 400, {"error": "body too large or chunked"}, True)
                    break
                body = await reader.readexactly(length) if length else b""
                url = urlsplit(target)
                req = Request(method.upper(), url.path, dict(parse_qsl(url.query)), headers, body)
                try:
                    status, obj = self._handler(req)
                except Exception as e:  # the simulator must answer, not hang the client
                    status, obj = 500, {"error": f"simulator error: {type(e).__name__}"}
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                await self._send(writer, status, obj, close)
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter, status: int, obj: dict[str, Any], close: bool
    ) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
            "content-type: application/json; charset=UTF-8\r\n"
            f"content-length: {len(data)}\r\n"
            f"connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        )
        writer.write(head.encode() + data)
        await writer.drain()
