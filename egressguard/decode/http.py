"""Cleartext HTTP/1.x request line and Host header."""

from __future__ import annotations

from egressguard.decode.interface import HttpRequest

_METHODS = (b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"HEAD", b"OPTIONS", b"CONNECT")
_MAX_HEAD = 8192


def parse_http_request(payload: bytes) -> HttpRequest | None:
    """The request at the start of a client's payload, or None when it is not HTTP/1.x."""
    space = payload.find(b" ", 0, 10)
    if space <= 0 or payload[:space] not in _METHODS:
        return None
    head = payload[:_MAX_HEAD].split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return None
    host = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"host":
            host = value.strip().decode("ascii", "replace").lower()
            host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            break
    return HttpRequest(
        parts[0].decode("ascii"), parts[1].decode("ascii", "replace")[:512], host or None
    )
