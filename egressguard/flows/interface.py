"""Events the flow table emits and the values it hands on; each is frozen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from egressguard.decode.interface import DnsAnswer


@dataclass(frozen=True, slots=True)
class FlowKey:
    transport: str
    client: str
    client_port: int
    server: str
    server_port: int


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    exe: str
    cmdline: tuple[str, ...]


# Finds which process owns a connection (its client side) -> process.
Attributor = Callable[[FlowKey], ProcessInfo | None]


@dataclass(frozen=True, slots=True)
class DnsQuery:
    ts: float
    client: str
    resolver: str
    port: int
    transport: str
    qname: str
    qtype: str


@dataclass(frozen=True, slots=True)
class DnsResponse:
    ts: float
    resolver: str
    client: str
    qname: str
    rcode: int
    answers: tuple[DnsAnswer, ...]


@dataclass(frozen=True, slots=True)
class FlowOpened:
    """A new connection; `host` is the name a DNS answer gave its address, if any."""

    ts: float
    key: FlowKey
    host: str | None
    process: ProcessInfo | None


@dataclass(frozen=True, slots=True)
class FlowIdentified:
    """The client's first payload said what the connection is (TLS SNI, HTTP Host, QUIC)."""

    ts: float
    key: FlowKey
    protocol: str
    host: str | None
    named_by: str | None  # "sni", "http", "dns" or None


@dataclass(frozen=True, slots=True)
class FlowUpload:
    """The client has sent `bytes_out` payload bytes on this connection so far."""

    ts: float
    key: FlowKey
    bytes_out: int
    delta: int
    cleartext: bytes = b""  # this segment's payload when the flow is not encrypted


FlowEvent = DnsQuery | DnsResponse | FlowOpened | FlowIdentified | FlowUpload


@dataclass(frozen=True, slots=True)
class FlowSummary:
    key: FlowKey
    host: str | None
    named_by: str | None
    dns_named: bool
    protocol: str
    bytes_out: int
    bytes_in: int
    packets: int
    first_ts: float
    last_ts: float
    process: ProcessInfo | None
