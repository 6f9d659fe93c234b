"""Link, IPv4/IPv6 and TCP/UDP headers, read with struct: no dissection library on the hot path."""

from __future__ import annotations

import socket
import struct

from egressguard.capture.interface import Frame, LinkType
from egressguard.decode.interface import Packet

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_ETH_VLAN = (0x8100, 0x88A8)
_IPV6_EXTENSIONS = {0, 43, 60}
_IPV6_FRAGMENT = 44
_TRANSPORTS = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}


def decode_frame(frame: Frame) -> Packet | None:
    """The IP packet inside a frame, or None for anything else (ARP, damaged or cut-short data)."""
    ip = _ip_bytes(frame.data, frame.linktype)
    if not ip:
        return None
    try:
        version = ip[0] >> 4
        if version == 4:
            return _ipv4(frame.ts, ip)
        if version == 6:
            return _ipv6(frame.ts, ip)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _ip_bytes(data: bytes, linktype: int) -> bytes | None:
    if linktype == LinkType.ETHERNET:
        offset, ethertype = 14, int.from_bytes(data[12:14], "big") if len(data) >= 14 else 0
        while ethertype in _ETH_VLAN and len(data) >= offset + 4:
            ethertype = int.from_bytes(data[offset + 2 : offset + 4], "big")
            offset += 4
        return data[offset:] if ethertype in (_ETH_IPV4, _ETH_IPV6) else None
    if linktype in (LinkType.RAW, LinkType.IPV4, LinkType.IPV6):
        return data
    if linktype == LinkType.LINUX_SLL:
        return data[16:] if data[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if linktype == LinkType.LINUX_SLL2:
        return data[20:] if data[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    if linktype == LinkType.NULL:
        return data[4:]
    return None


def _ipv4(ts: float, ip: bytes) -> Packet | None:
    header_len = (ip[0] & 0x0F) * 4
    total_len, frag, proto = struct.unpack("!H2xHxB", ip[2:10])
    if header_len < 20 or len(ip) < header_len or total_len < header_len:
        return None
    if frag & 0x1FFF:
        return None  # a later fragment carries no transport header
    src = socket.inet_ntop(socket.AF_INET, ip[12:16])
    dst = socket.inet_ntop(socket.AF_INET, ip[16:20])
    return _transport(ts, 4, src, dst, proto, ip[header_len:total_len], total_len - header_len)


def _ipv6(ts: float, ip: bytes) -> Packet | None:
    payload_len, next_header = struct.unpack("!HB", ip[4:7])
    src = socket.inet_ntop(socket.AF_INET6, ip[8:24])
    dst = socket.inet_ntop(socket.AF_INET6, ip[24:40])
    offset = 40
    for _ in range(8):  # bound the extension-header walk
        if next_header in _IPV6_EXTENSIONS:
            next_header, ext_len = ip[offset], (ip[offset + 1] + 1) * 8
        elif next_header == _IPV6_FRAGMENT:
            if struct.unpack("!H", ip[offset + 2 : offset + 4])[0] & 0xFFF8:
                return None
            next_header, ext_len = ip[offset], 8
        else:
            break
        offset += ext_len
    length = payload_len - (offset - 40)
    if length < 0:
        return None
    return _transport(ts, 6, src, dst, next_header, ip[offset : 40 + payload_len], length)


def _transport(
    ts: float, version: int, src: str, dst: str, proto: int, segment: bytes, length: int
) -> Packet | None:
    transport = _TRANSPORTS.get(proto, "other")
    if transport == "tcp":
        if len(segment) < 20:
            return None
        sport, dport, seq, ack, offset_flags = struct.unpack("!HHIIH", segment[:14])
        data_offset = (offset_flags >> 12) * 4
        if data_offset < 20:
            return None
        payload = segment[data_offset:]
        return Packet(
            ts,
            version,
            src,
            dst,
            "tcp",
            sport,
            dport,
            offset_flags & 0x3F,
            payload,
            max(length - data_offset, 0),
            seq,
            ack,
        )
    if transport == "udp":
        if len(segment) < 8:
            return None
        sport, dport = struct.unpack("!HH", segment[:4])
        return Packet(
            ts, version, src, dst, "udp", sport, dport, 0, segment[8:], max(length - 8, 0)
        )
    return Packet(ts, version, src, dst, transport, 0, 0, 0, b"", length)
