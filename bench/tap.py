"""A wire tap: relays the bot's TCP connections to the fakes and notes when messages pass.

The fakes run in the benchmark's own process, whose event loop is busy during a burst (it
serves 200 callbacks, downloads and uploads one after another). Times the fakes note are
therefore when the fake got round to a request, not when the bot sent it. This small
process sits between the bot and the fakes, does nothing but copy bytes, and writes one JSON
line per HTTP exchange (request first/last byte, response first/last byte) and per gateway
frame the bot sends. `time.monotonic()` is CLOCK_MONOTONIC: comparable across processes.

    python -m bench.tap OUT_FILE DISCORD_PORT SEGMIND_PORT

It listens on three ports of 127.0.0.1 (Discord REST and CDN, Discord gateway, Segmind) and
prints them as one JSON line on stdout once it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

HOST = "127.0.0.1"
READ_BYTES = 256 * 1024
_KEEP_HEADERS = (b"content-length", b"x-seed-value", b"transfer-encoding")


class Message:
    """One HTTP message as it passed: first and last byte times, first line, some headers."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.ended = started
        self.first_line = ""
        self.headers: dict[str, str] = {}
        self.size = 0


class Framer:
    """Finds HTTP/1.1 message boundaries in one direction of a connection (no pipelining)."""

    def __init__(self, on_message: Callable[[Message], None]) -> None:
        self._on_message = on_message
        self._head = bytearray()
        self._current: Message | None = None
        self._body_left = 0
        self._chunked_tail = b""
        self._chunked = False
        self.upgraded = False

    def feed(self, data: bytes, now: float) -> None:
        view = memoryview(data)
        while view and not self.upgraded:
            if self._current is None:
                self._current = Message(now)
            message = self._current
            if self._body_left == 0 and not self._chunked:
                self._head += view
                message.size += len(view)
                end = self._head.find(b"\r\n\r\n")
                if end < 0:
                    return
                rest = bytes(self._head[end + 4 :])
                message.size -= len(rest)
                self._parse_head(message, bytes(self._head[:end]))
                self._head.clear()
                view = memoryview(rest)
                length = int(message.headers.get("content-length", "0") or 0)
                self._chunked = "chunked" in message.headers.get("transfer-encoding", "")
                if message.first_line.startswith("HTTP/1.1 101"):
                    self.upgraded = True
                if self._chunked or length:
                    self._body_left = length
                    continue
                self._finish(now)
            elif self._chunked:
                message.size += len(view)
                tail = self._chunked_tail + bytes(view[-16:])
                self._chunked_tail = tail[-16:]
                view = view[len(view) :]
                if tail.endswith(b"0\r\n\r\n"):
                    self._finish(now)
            else:
                take = min(self._body_left, len(view))
                message.size += take
                self._body_left -= take
                view = view[take:]
                if self._body_left == 0:
                    self._finish(now)

    def _parse_head(self, message: Message, head: bytes) -> None:
        lines = head.split(b"\r\n")
        message.first_line = lines[0].decode("latin-1")
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() in _KEEP_HEADERS:
                message.headers[name.strip().lower().decode()] = value.strip().decode("latin-1")

    def _finish(self, now: float) -> None:
        message, self._current = self._current, None
        self._chunked, self._chunked_tail, self._body_left = False, b"", 0
        if message is not None:
            message.ended = now
            self._on_message(message)

    def close(self, now: float) -> None:
        """The connection ended: a message cut short (or close-delimited) ends here."""
        if self._current is not None and self._current.first_line:
            self._finish(now)


class FrameReader:
    """Reads the client's WebSocket frames (masked, uncompressed) and reports each text op."""

    def __init__(self, on_op: Callable[[int, float], None]) -> None:
        self._on_op = on_op
        self._buffer = bytearray()

    def feed(self, data: bytes, now: float) -> None:
        self._buffer += data
        while len(self._buffer) >= 2:
            first, second = self._buffer[0], self._buffer[1]
            length, offset = second & 0x7F, 2
            if length == 126:
                if len(self._buffer) < 4:
                    return
                length, offset = int.from_bytes(self._buffer[2:4], "big"), 4
            elif length == 127:
                if len(self._buffer) < 10:
                    return
                length, offset = int.from_bytes(self._buffer[2:10], "big"), 10
            masked = bool(second & 0x80)
            key = bytes(self._buffer[offset : offset + 4]) if masked else b"\0\0\0\0"
            start = offset + (4 if masked else 0)
            if len(self._buffer) < start + length:
                return
            payload = bytes(self._buffer[start : start + length])
            del self._buffer[: start + length]
            if first & 0x0F != 1:  # text frames only: control frames carry no op
                continue
            text = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            with contextlib.suppress(ValueError, AttributeError):
                self._on_op(int(json.loads(text).get("op")), now)


class Tap:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._connections = 0

    def write(self, record: dict[str, Any]) -> None:
        self._out.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._out.flush()

    async def serve(self, name: str, target_port: int) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._relay(name, target_port, reader, writer)

        server = await asyncio.start_server(handle, HOST, 0, backlog=4096)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def _relay(
        self,
        name: str,
        target_port: int,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
    ) -> None:
        self._connections += 1
        connection = self._connections
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(HOST, target_port)
        except OSError:
            client_writer.close()
            return
        pending: deque[Message] = deque()

        def request_done(message: Message) -> None:
            pending.append(message)

        def response_done(message: Message) -> None:
            request = pending.popleft() if pending else None
            record: dict[str, Any] = {
                "l": name,
                "c": connection,
                "line": request.first_line if request else "",
                "rq": [request.started, request.ended] if request else None,
                "rq_bytes": request.size if request else None,
                "rs": [message.started, message.ended],
                "rs_bytes": message.size,
                "status": message.first_line.split(" ")[1] if " " in message.first_line else "",
            }
            if "x-seed-value" in message.headers:
                record["seed"] = message.headers["x-seed-value"]
            self.write(record)

        requests = Framer(request_done)
        responses = Framer(response_done)
        frames = FrameReader(
            lambda op, at: self.write({"l": name, "c": connection, "ws": op, "t": at})
        )

        def to_upstream(data: bytes, now: float) -> None:
            # After a 101 the client sends WebSocket frames (it waits for the 101 to do so).
            if requests.upgraded:
                frames.feed(data, now)
            else:
                requests.feed(data, now)

        def to_client(data: bytes, now: float) -> None:
            if not responses.upgraded:
                responses.feed(data, now)
                if responses.upgraded:
                    requests.upgraded = True  # what the client sends next is frames

        await asyncio.gather(
            self._pump(client_reader, upstream_writer, to_upstream, requests),
            self._pump(upstream_reader, client_writer, to_client, responses),
        )

    @staticmethod
    async def _pump(
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        note: Callable[[bytes, float], None],
        framer: Framer,
    ) -> None:
        try:
            while data := await source.read(READ_BYTES):
                note(data, time.monotonic())
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            framer.close(time.monotonic())
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                if sink.can_write_eof():
                    sink.write_eof()
                else:
                    sink.close()


async def main(out: TextIO, discord_port: int, segmind_port: int) -> None:
    tap = Tap(out)
    ports = {
        "rest": await tap.serve("rest", discord_port),
        "gateway": await tap.serve("gateway", discord_port),
        "segmind": await tap.serve("segmind", segmind_port),
    }
    print(json.dumps(ports), flush=True)
    await asyncio.Event().wait()  # until the benchmark terminates this process


if __name__ == "__main__":
    with open(sys.argv[1], "w", buffering=1) as log, contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(log, int(sys.argv[2]), int(sys.argv[3])))
