"""Capture files: pcap and pcapng, read frame by frame, and a pcap writer for recordings.

The readers are our own rather than scapy's: scapy turns a truncated record into a quiet
end-of-file plus a logged warning, and a monitor must say when part of a capture was lost.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from egressguard.capture.interface import Frame, LinkType, PacketSource, SourceStats
from egressguard.errors import CaptureError

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_MAX_RECORD = 1 << 20
_ETHERTYPE = {4: b"\x08\x00", 6: b"\x86\xdd"}


class _Truncated(Exception):
    pass


class PcapFileSource(PacketSource):
    """Reads a pcap or pcapng file; a damaged file raises CaptureError naming where it broke."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._count = 0
        try:
            with self.path.open("rb") as handle:
                self._magic = handle.read(4)
        except OSError as e:
            raise CaptureError(
                f"cannot read capture {self.path}: {e.strerror}", "check the path and permissions"
            ) from e
        if self._magic not in _PCAP_MAGIC and self._magic != _PCAPNG_MAGIC:
            raise CaptureError(
                f"{self.path} is not a pcap or pcapng capture",
                "record one with `egressguard run --save-capture FILE` or `tcpdump -w FILE`",
            )

    def frames(self) -> Iterator[Frame]:
        with self.path.open("rb") as handle:
            reader = _pcapng_frames if self._magic == _PCAPNG_MAGIC else _pcap_frames
            try:
                for frame in reader(handle):
                    self._count += 1
                    yield frame
            except (_Truncated, struct.error, ValueError) as e:
                where = f"after packet {self._count}" if self._count else "in its header"
                raise CaptureError(
                    f"capture {self.path} is truncated or corrupt {where} ({e})",
                    "re-record it; nothing after the damage could be judged",
                ) from e

    def stats(self) -> SourceStats:
        return SourceStats(packets=self._count, dropped=0)


def _read_exact(handle: BinaryIO, size: int, what: str) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise _Truncated(f"{what} cut short at byte {handle.tell()}")
    return data


def _pcap_frames(handle: BinaryIO) -> Iterator[Frame]:
    header = _read_exact(handle, 24, "file header")
    endian, resolution = _PCAP_MAGIC[header[:4]]
    linktype = struct.unpack(endian + "I", header[20:24])[0] & 0x0FFFFFFF
    while True:
        record = handle.read(16)
        if not record:
            return
        if len(record) != 16:
            raise _Truncated(f"record header cut short at byte {handle.tell()}")
        sec, frac, caplen, _wirelen = struct.unpack(endian + "IIII", record)
        if caplen > _MAX_RECORD:
            raise ValueError(f"record of {caplen} bytes at byte {handle.tell()} is implausible")
        data = _read_exact(handle, caplen, "packet data")
        yield Frame(sec + frac * resolution, data, linktype)


def _pcapng_frames(handle: BinaryIO) -> Iterator[Frame]:
    endian = "<"
    interfaces: list[tuple[int, float]] = []
    while True:
        head = handle.read(8)
        if not head:
            return
        if len(head) != 8:
            raise _Truncated(f"block header cut short at byte {handle.tell()}")
        if head[:4] == _PCAPNG_MAGIC:
            bom = _read_exact(handle, 4, "section header")
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
            handle.seek(-4, 1)
        block_type, length = struct.unpack(endian + "II", head)
        if length < 12 or length % 4 or length > _MAX_RECORD:
            raise ValueError(f"block of length {length} at byte {handle.tell() - 8}")
        body = _read_exact(handle, length - 8, "block")[:-4]
        if block_type == 1:  # interface description
            linktype = struct.unpack(endian + "H", body[:2])[0]
            interfaces.append((linktype, _tsresol(body[8:], endian)))
        elif block_type == 6:  # enhanced packet
            iface, high, low, caplen = struct.unpack(endian + "IIII", body[:16])
            if iface >= len(interfaces):
                raise ValueError(f"packet names interface {iface}, which was never described")
            linktype, resolution = interfaces[iface]
            yield Frame(((high << 32) | low) * resolution, body[20 : 20 + caplen], linktype)
        elif block_type == 3 and interfaces:  # simple packet
            linktype, _ = interfaces[0]
            yield Frame(0.0, body[4:], linktype)


def _tsresol(options: bytes, endian: str) -> float:
    offset = 0
    while offset + 4 <= len(options):
        code, size = struct.unpack(endian + "HH", options[offset : offset + 4])
        if code == 0:
            break
        if code == 9 and size >= 1:
            value = options[offset + 4]
            return float(2 ** -(value & 0x7F) if value & 0x80 else 10 ** -(value & 0x7F))
        offset += 4 + size + (-size % 4)
    return 1e-6


class PcapRecorder:
    """Writes frames to a classic pcap file (Ethernet link type), for replay through `analyze`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._handle = self.path.open("wb")
        except OSError as e:
            raise CaptureError(
                f"cannot write capture {self.path}: {e.strerror}", "choose a writable path"
            ) from e
        self._handle.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

    def write(self, frame: Frame) -> None:
        data = _as_ethernet(frame)
        if data is None:
            return
        sec = int(frame.ts)
        usec = min(int((frame.ts - sec) * 1_000_000), 999_999)
        self._handle.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)

    def close(self) -> None:
        self._handle.close()


def _as_ethernet(frame: Frame) -> bytes | None:
    if frame.linktype == LinkType.ETHERNET:
        return frame.data
    if frame.linktype in (LinkType.RAW, LinkType.IPV4, LinkType.IPV6) and frame.data:
        ethertype = _ETHERTYPE.get(frame.data[0] >> 4)
        return b"\x00" * 12 + ethertype + frame.data if ethertype else None
    return None
