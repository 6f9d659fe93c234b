"""Live capture on every interface of the current network namespace through an AF_PACKET socket.

libpcap is not needed: the socket sees whole frames, and the kernel tells us how many it dropped.
A BPF filter in the kernel (capture/bpf.py) keeps bulk downloads and bare ACKs out of Python.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from collections.abc import Iterator

from egressguard.capture.bpf import PacketType, attach
from egressguard.capture.interface import Frame, LinkType, PacketSource, SourceStats
from egressguard.errors import CaptureError

_ETH_P_ALL = 0x0003
_SOL_PACKET = 263
_PACKET_STATISTICS = 6
_ARPHRD_ETHER = 1
_ARPHRD_LOOPBACK = 772
_RECV_BUFFER = 64 * 1024 * 1024
_SNAP = 65535


class LiveSource(PacketSource):
    """Every frame in and out of this namespace's interfaces until `stop()`.

    The socket opens in the constructor, so a missing permission is reported before the
    wrapped command starts, and packets queue in the kernel until `frames()` reads them.
    """

    def __init__(self, interface: str | None = None) -> None:
        """Every interface of the namespace the command runs in (its uploads are frames this
        namespace sends), or only `interface`: the host side of the sandbox's veth, where the
        command's uploads arrive."""
        # Bound to one interface, the socket starts with protocol 0 and takes ETH_P_ALL at
        # bind(): the kernel then hooks it once, not twice (each unhook waits for an RCU grace
        # period, about 10 ms).
        protocol = socket.htons(_ETH_P_ALL) if interface is None else 0
        try:
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, protocol)
            attach(self._sock, PacketType.OUTGOING if interface is None else PacketType.HOST)
        except PermissionError as e:
            raise CaptureError(
                "no permission to capture packets",
                "run egressguard as root (sudo egressguard run ...) or grant it CAP_NET_RAW",
            ) from e
        except OSError as e:
            raise CaptureError(
                f"cannot open a packet socket: {e.strerror}",
                "egressguard needs Linux with AF_PACKET support",
            ) from e
        if interface is not None:
            try:
                self._sock.bind((interface, _ETH_P_ALL))  # CPython converts to network order
            except OSError as e:
                self._sock.close()
                raise CaptureError(
                    f"cannot capture on {interface}: {e.strerror}", "check the interface"
                ) from e
        self._grow_buffer()
        self._sock.setblocking(False)
        self._wake_read, self._wake_write = os.pipe()  # stop() wakes the reader at once
        self._stopping = False
        self._packets = 0
        self._dropped = 0

    def _grow_buffer(self) -> None:
        for option in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, option, _RECV_BUFFER)
                return
            except OSError:
                continue

    def frames(self) -> Iterator[Frame]:
        """Frames until `stop()`; what the kernel queued before the stop is still yielded."""
        buffer = bytearray(_SNAP)
        view = memoryview(buffer)
        try:
            while True:
                try:
                    size, address = self._sock.recvfrom_into(buffer)
                except BlockingIOError:
                    if self._stopping:
                        return  # the queue is drained
                    select.select([self._sock.fileno(), self._wake_read], [], [])
                    continue
                except OSError as e:
                    if e.errno == errno.EINTR:
                        continue
                    raise CaptureError(f"capture failed: {e.strerror}", "re-run the command") from e
                hatype = address[3]  # loopback's second copy of each frame: the filter drops it
                self._packets += 1
                ethernet = hatype in (_ARPHRD_ETHER, _ARPHRD_LOOPBACK)
                linktype = LinkType.ETHERNET if ethernet else LinkType.RAW
                yield Frame(time.time(), bytes(view[:size]), linktype)
        finally:
            self._read_kernel_drops()

    def stop(self) -> None:
        self._stopping = True
        os.write(self._wake_write, b"x")

    def close(self) -> None:
        self._read_kernel_drops()
        self._sock.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _read_kernel_drops(self) -> None:
        try:
            raw = self._sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, 8)
        except OSError:
            return
        _, drops = struct.unpack("II", raw)  # the kernel resets these counters on each read
        self._dropped += drops

    def stats(self) -> SourceStats:
        self._read_kernel_drops()
        return SourceStats(packets=self._packets, dropped=self._dropped)
