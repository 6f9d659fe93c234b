"""scapy-built packets for unit tests: what a client and a server really put on the wire."""

from __future__ import annotations

from typing import Any

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

# Explicit MACs, or scapy goes looking for neighbours to fill them in.
ETHER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
CLIENT = "198.18.0.2"
RESOLVER = "198.18.0.1"


def _ip(src: str, dst: str) -> Any:
    return IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)


def dns_query(
    name: str, client: str = CLIENT, resolver: str = RESOLVER, sport: int = 40000, qtype: str = "A"
) -> Any:
    return (
        ETHER
        / _ip(client, resolver)
        / UDP(sport=sport, dport=53)
        / DNS(id=7, rd=1, qd=DNSQR(qname=name, qtype=qtype))
    )


def dns_answer(
    name: str, address: str, client: str = CLIENT, resolver: str = RESOLVER, sport: int = 40000
) -> Any:
    rtype = "AAAA" if ":" in address else "A"
    return (
        ETHER
        / _ip(resolver, client)
        / UDP(sport=53, dport=sport)
        / DNS(
            id=7,
            qr=1,
            rd=1,
            ra=1,
            qd=DNSQR(qname=name, qtype=rtype),
            an=DNSRR(rrname=name, type=rtype, rdata=address, ttl=60),
        )
    )


def client_hello(sni: str | None, alpn: tuple[str, ...] = ("h2", "http/1.1")) -> bytes:
    """A TLS 1.2/1.3 ClientHello laid out by RFC 8446 section 4.1.2 (scapy's TLS layer needs
    the cryptography package, which egressguard does not)."""

    def vec(data: bytes, width: int) -> bytes:
        return len(data).to_bytes(width, "big") + data

    extensions = b""
    if sni is not None:
        name = b"\x00" + vec(sni.encode(), 2)
        extensions += b"\x00\x00" + vec(vec(name, 2), 2)
    if alpn:
        protocols = b"".join(vec(p.encode(), 1) for p in alpn)
        extensions += b"\x00\x10" + vec(vec(protocols, 2), 2)
    body = (
        b"\x03\x03"
        + b"\x11" * 32
        + vec(b"\x22" * 32, 1)
        + vec(b"\x13\x01\x13\x02", 2)
        + vec(b"\x00", 1)
        + vec(extensions, 2)
    )
    handshake = b"\x01" + vec(body, 3)
    return b"\x16\x03\x01" + vec(handshake, 2)


def tcp(
    src: str, dst: str, sport: int, dport: int, flags: str, seq: int = 1000, payload: bytes = b""
) -> Any:
    return ETHER / _ip(src, dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq) / payload


def connection(
    server: str,
    port: int,
    first_payload: bytes,
    upload: int = 0,
    client: str = CLIENT,
    sport: int = 50000,
) -> list[Any]:
    """A TCP handshake, the first client payload, then `upload` bytes in 1400-byte segments."""
    packets = [
        tcp(client, server, sport, port, "S", seq=999),
        tcp(server, client, port, sport, "SA", seq=5000),
        tcp(client, server, sport, port, "A", seq=1000),
        tcp(client, server, sport, port, "PA", seq=1000, payload=first_payload),
    ]
    seq = 1000 + len(first_payload)
    while upload > 0:
        size = min(1400, upload)
        packets.append(tcp(client, server, sport, port, "PA", seq=seq, payload=b"x" * size))
        seq += size
        upload -= size
    return packets
