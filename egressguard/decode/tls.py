"""TLS ClientHello: server name (SNI) and ALPN, read from the first record of a connection."""

from __future__ import annotations

from egressguard.decode.interface import TlsClientHello

_HANDSHAKE = 0x16
_CLIENT_HELLO = 0x01
_EXT_SNI = 0x0000
_EXT_ALPN = 0x0010


def looks_like_tls(payload: bytes) -> bool:
    return len(payload) >= 5 and payload[0] in (0x14, 0x15, 0x16, 0x17) and payload[1] == 0x03


def parse_client_hello(payload: bytes) -> TlsClientHello | None:
    """The ClientHello at the start of a client's first segment, or None."""
    try:
        return _parse(payload)
    except (IndexError, ValueError, UnicodeError):
        return None


def _parse(data: bytes) -> TlsClientHello | None:
    if len(data) < 9 or data[0] != _HANDSHAKE or data[1] != 0x03 or data[5] != _CLIENT_HELLO:
        return None
    body_end = min(len(data), 5 + int.from_bytes(data[3:5], "big"))
    pos = 9 + 2 + 32  # handshake header, legacy version, random
    pos += 1 + data[pos]  # session id
    pos += 2 + int.from_bytes(data[pos : pos + 2], "big")  # cipher suites
    pos += 1 + data[pos]  # compression methods
    if pos + 2 > body_end:
        return TlsClientHello(None, ())
    extensions_end = min(body_end, pos + 2 + int.from_bytes(data[pos : pos + 2], "big"))
    pos += 2
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    while pos + 4 <= extensions_end:
        ext_type = int.from_bytes(data[pos : pos + 2], "big")
        ext_len = int.from_bytes(data[pos + 2 : pos + 4], "big")
        ext = data[pos + 4 : pos + 4 + ext_len]
        if ext_type == _EXT_SNI:
            sni = _server_name(ext)
        elif ext_type == _EXT_ALPN:
            alpn = _protocols(ext)
        pos += 4 + ext_len
    return TlsClientHello(sni, alpn)


def _server_name(ext: bytes) -> str | None:
    pos = 2
    while pos + 3 <= len(ext):
        name_type, size = ext[pos], int.from_bytes(ext[pos + 1 : pos + 3], "big")
        if name_type == 0:
            raw = ext[pos + 3 : pos + 3 + size]
            name = raw.decode("ascii").rstrip(".").lower()
            return name or None
        pos += 3 + size
    return None


def _protocols(ext: bytes) -> tuple[str, ...]:
    out: list[str] = []
    pos = 2
    while pos < len(ext) and len(out) < 16:
        size = ext[pos]
        out.append(ext[pos + 1 : pos + 1 + size].decode("ascii", "replace"))
        pos += 1 + size
    return tuple(out)
