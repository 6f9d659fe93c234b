"""Values the decoders produce; each is a frozen dataclass built only from packet bytes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Packet:
    """One IPv4 or IPv6 packet with its TCP/UDP header read."""

    ts: float
    version: int
    src: str
    dst: str
    transport: str  # "tcp", "udp", "icmp" or "other"
    sport: int
    dport: int
    tcp_flags: int
    payload: bytes  # transport payload as captured (may be cut short by the snap length)
    payload_len: int  # transport payload length the headers declare
    tcp_seq: int = 0
    tcp_ack: int = 0


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    name: str
    rtype: str  # "A", "AAAA", "CNAME"
    value: str


@dataclass(frozen=True, slots=True)
class DnsMessage:
    id: int
    is_response: bool
    qname: str
    qtype: str
    rcode: int
    answers: tuple[DnsAnswer, ...]


@dataclass(frozen=True, slots=True)
class TlsClientHello:
    sni: str | None
    alpn: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    target: str
    host: str | None


@dataclass(frozen=True, slots=True)
class QuicInitial:
    version: int


TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_ACK = 0x10
