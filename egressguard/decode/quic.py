"""QUIC recognised from its long-header Initial packet (the name itself comes from DNS)."""

from __future__ import annotations

from egressguard.decode.interface import QuicInitial

_VERSIONS = {0x00000001, 0x6B3343CF, 0xFF00001D, 0xFF000020}


def parse_quic_initial(payload: bytes) -> QuicInitial | None:
    if len(payload) < 7 or payload[0] & 0xC0 != 0xC0:
        return None
    version = int.from_bytes(payload[1:5], "big")
    if version not in _VERSIONS:
        return None
    packet_type = (payload[0] >> 4) & 0x03
    initial = 0b01 if version == 0x6B3343CF else 0b00
    return QuicInitial(version) if packet_type == initial else None
