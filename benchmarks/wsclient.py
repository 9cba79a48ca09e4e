"""A lean WebSocket client for benchmarks: asyncio protocol, no per-message objects.

The harness must not be the bottleneck: a general-purpose client spends ~10 us per message, which
at 100,000 deliveries/s is a whole core. This one parses frames straight from the receive buffer
and reads the envelope timestamp (the last key of every event message) without a JSON parse.
Only what the benchmarks need: text frames, ping -> pong, close.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from collections.abc import Callable


def _mask(payload: bytes) -> bytes:
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return key + masked


def client_frame(opcode: int, payload: bytes) -> bytes:
    header = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        header += bytes([0x80 | length])
    elif length < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", length)
    return header + _mask(payload)


class BenchClient(asyncio.Protocol):
    """Counts event messages and records their delivery latency (seconds)."""

    def __init__(self, on_text: Callable[[bytes], None] | None = None) -> None:
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.latencies: list[float] = []
        self.control: list[dict] = []
        self.on_text = on_text
        self.close_code: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.upgraded.set_exception(ConnectionError(head.decode(errors="replace")))
                return
            self.upgraded.set_result(True)
        self._frames()

    def _frames(self) -> None:
        buf = self.buffer
        pos = 0
        now = time.time()
        while len(buf) - pos >= 2:
            opcode = buf[pos] & 0x0F
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = struct.unpack_from("!H", buf, pos + 2)[0]
                head = 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if len(buf) - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            if opcode == 0x1:
                marker = payload.rfind(b'"timestamp":')
                if payload.startswith(b'{"type":"event"') and marker >= 0:
                    self.latencies.append(now - float(payload[marker + 12 : -1]))
                else:
                    self.control.append(json.loads(payload))
                if self.on_text:
                    self.on_text(payload)
            elif opcode == 0x9 and self.transport:
                self.transport.write(client_frame(0xA, payload))
            elif opcode == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                if self.transport:
                    self.transport.close()
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)

    def send_json(self, message: dict) -> None:
        assert self.transport is not None
        self.transport.write(client_frame(0x1, json.dumps(message).encode()))


async def connect(host: str, port: int, path: str) -> BenchClient:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(BenchClient, host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    protocol.transport.write(
        (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    )
    await asyncio.wait_for(protocol.upgraded, 10)
    return protocol
