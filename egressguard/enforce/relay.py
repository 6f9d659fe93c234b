"""The relay: every TCP connection from the sandbox is redirected here (nftables REDIRECT).

It reads the original destination (SO_ORIGINAL_DST), asks the policy whether that address may
be reached, connects out from the host only if so, and copies bytes both ways. What the command
sends to one host over the whole run stops at that host's upload limit: bytes beyond it are never
sent, and the connection is reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

_SO_ORIGINAL_DST = 80
_CHUNK = 256 * 1024
_CONNECT_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Admission:
    allowed: bool
    host: str  # the name (or address) the upload limit is counted against
    limit: int  # bytes this host may receive over the whole run


# (original destination address, port) -> admission
Admit = Callable[[str, int], Admission]
# (host, bytes it was sent so far, its limit) -> None; called when a connection hits the limit
Capped = Callable[[str, int, int], None]


class Relay:
    def __init__(self, bind: str, admit: Admit, capped: Capped) -> None:
        self.bind = bind
        self._admit = admit
        self._capped = capped
        self._sent: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((bind, 0))
        self._listener.listen(512)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=10)

    def close(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, sock=self._listener, limit=_CHUNK)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = writer.get_extra_info("socket")
        try:
            address, port = original_destination(client)
        except OSError:
            _reset(writer)
            return
        admission = self._admit(address, port)
        if not admission.allowed:
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(address, port, limit=_CHUNK), _CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            _reset(writer)
            return
        upload = asyncio.ensure_future(self._upload(reader, up_writer, admission))
        download = asyncio.ensure_future(_pump(up_reader, writer))
        done, pending = await asyncio.wait({upload, download}, return_when=asyncio.FIRST_COMPLETED)
        if upload in done and upload.result() is False:  # capped: cut both sides now
            download.cancel()
            _reset(writer)
            _reset(up_writer)
            return
        await asyncio.gather(*pending, return_exceptions=True)  # the other side finishes
        for stream in (writer, up_writer):
            stream.close()

    async def _upload(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, admission: Admission
    ) -> bool:
        """Copy client -> server within the host's limit; False when the limit cut it."""
        host = admission.host
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                _half_close(writer)
                return True
            room = admission.limit - self._sent[host]
            if len(data) > room:
                if room > 0:
                    writer.write(data[:room])
                    self._sent[host] += room
                    await _drain(writer)
                self._capped(host, self._sent[host], admission.limit)
                return False
            self._sent[host] += len(data)
            writer.write(data)
            if not await _drain(writer):
                return True


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        try:
            data = await reader.read(_CHUNK)
        except OSError:
            data = b""
        if not data:
            _half_close(writer)
            return
        writer.write(data)
        if not await _drain(writer):
            return


async def _drain(writer: asyncio.StreamWriter) -> bool:
    try:
        await writer.drain()
    except (OSError, RuntimeError):
        return False
    return True


def _half_close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), so the peer sees a refusal, not an orderly end."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


def original_destination(sock: socket.socket) -> tuple[str, int]:
    raw = sock.getsockopt(socket.SOL_IP, _SO_ORIGINAL_DST, 16)
    port = int.from_bytes(raw[2:4], "big")
    return socket.inet_ntoa(raw[4:8]), port
