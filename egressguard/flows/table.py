"""Turns decoded packets into flow events: who connected where, under which name, with how much."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from egressguard.decode.dns import parse_dns, parse_dns_tcp
from egressguard.decode.http import parse_http_request
from egressguard.decode.interface import TCP_ACK, TCP_FIN, TCP_SYN, DnsMessage, Packet
from egressguard.decode.quic import parse_quic_initial
from egressguard.decode.tls import looks_like_tls, parse_client_hello
from egressguard.flows.interface import (
    Attributor,
    DnsQuery,
    DnsResponse,
    FlowEvent,
    FlowIdentified,
    FlowKey,
    FlowOpened,
    FlowSummary,
    FlowUpload,
    ProcessInfo,
)

DNS_PORT = 53
_SERVER_PORTS = frozenset({53, 80, 123, 443, 853, 8080, 8443, 22, 21, 25, 587, 993, 9418})
_MAX_NAMES = 100_000


@dataclass(slots=True)
class _Flow:
    key: FlowKey
    first_ts: float
    host: str | None
    dns_named: bool
    process: ProcessInfo | None
    named_by: str | None = None
    protocol: str = ""
    identified: bool = False
    bytes_out: int = 0
    bytes_in: int = 0
    packets: int = 0
    last_ts: float = 0.0
    client_isn: int | None = None
    server_isn: int | None = None
    server_fin: int | None = None  # bytes before the server's FIN: acks past it are not data


class FlowTable:
    """Keeps one record per connection and the address-to-name map learnt from DNS answers."""

    def __init__(self, attributor: Attributor | None = None, hosts: dict[str, str] | None = None):
        self._flows: dict[FlowKey, _Flow] = {}
        self._ended: list[_Flow] = []  # earlier connections whose addresses and ports were reused
        self._names: dict[str, str] = dict(hosts or {})
        self._attributor = attributor

    def name_of(self, address: str) -> str | None:
        return self._names.get(address)

    def update(self, packet: Packet) -> list[FlowEvent]:
        if packet.transport not in ("tcp", "udp"):
            return []
        local = _ignored(packet.dst) or _ignored(packet.src)
        if DNS_PORT in (packet.sport, packet.dport):
            # DNS on loopback (a local stub resolver) still teaches us names.
            events = self._dns(packet, count_connection=not local)
            if events is not None:
                return events
        return [] if local else self._connection(packet)

    def summaries(self) -> list[FlowSummary]:
        return [
            FlowSummary(
                f.key,
                f.host,
                f.named_by,
                f.dns_named,
                f.protocol or f.key.transport,
                f.bytes_out,
                f.bytes_in,
                f.packets,
                f.first_ts,
                f.last_ts,
                f.process,
            )
            for f in (*self._ended, *self._flows.values())
        ]

    # -- DNS ---------------------------------------------------------------------------------

    def _dns(self, packet: Packet, count_connection: bool) -> list[FlowEvent] | None:
        if not packet.payload:
            return None if packet.transport == "tcp" else []
        if packet.transport == "udp":
            message = parse_dns(packet.payload)
            messages = [message] if message else []
        else:
            messages = parse_dns_tcp(packet.payload)
        if not messages:
            return None
        events: list[FlowEvent] = []
        for message in messages:
            events.append(self._dns_event(packet, message))
        if packet.transport == "tcp" and count_connection:
            events.extend(self._connection(packet))
        return events

    def _dns_event(self, packet: Packet, message: DnsMessage) -> FlowEvent:
        if not message.is_response:
            return DnsQuery(
                packet.ts,
                packet.src,
                packet.dst,
                packet.dport,
                packet.transport,
                message.qname,
                message.qtype,
            )
        self._learn(message)
        return DnsResponse(
            packet.ts, packet.src, packet.dst, message.qname, message.rcode, message.answers
        )

    def _learn(self, message: DnsMessage) -> None:
        """Map each answered address to the name the client asked for, through CNAME chains."""
        if len(self._names) > _MAX_NAMES:
            self._names.clear()
        for answer in message.answers:
            if answer.rtype in ("A", "AAAA"):
                self._names[_normal_ip(answer.value)] = message.qname

    # -- connections -------------------------------------------------------------------------

    def _connection(self, packet: Packet) -> list[FlowEvent]:
        events: list[FlowEvent] = []
        flow, outbound = self._find(packet)
        if flow is not None and outbound and _reopens(flow, packet):
            self._ended.append(self._flows.pop(flow.key))
            flow = None
        if flow is None:
            flow, outbound = self._open(packet)
            events.append(FlowOpened(packet.ts, flow.key, flow.host, flow.process))
        flow.packets += 1
        flow.last_ts = packet.ts
        if not outbound:
            self._count_in(flow, packet)
            return events
        if packet.transport == "tcp" and packet.tcp_flags & TCP_SYN:
            flow.client_isn = _seq(packet)
        if packet.transport == "tcp" and packet.tcp_flags & TCP_ACK:
            self._count_acked(flow, packet)
        delta = self._count_out(flow, packet)
        if packet.payload and not flow.identified:
            events.append(self._identify(flow, packet))
        if delta:
            clear = packet.payload if flow.protocol not in ("tls", "quic") else b""
            events.append(FlowUpload(packet.ts, flow.key, flow.bytes_out, delta, clear))
        return events

    def _find(self, packet: Packet) -> tuple[_Flow | None, bool]:
        forward = FlowKey(packet.transport, packet.src, packet.sport, packet.dst, packet.dport)
        flow = self._flows.get(forward)
        if flow is not None:
            return flow, True
        reverse = FlowKey(packet.transport, packet.dst, packet.dport, packet.src, packet.sport)
        flow = self._flows.get(reverse)
        return flow, False

    def _open(self, packet: Packet) -> tuple[_Flow, bool]:
        outbound = _sender_is_client(packet)
        if outbound:
            key = FlowKey(packet.transport, packet.src, packet.sport, packet.dst, packet.dport)
        else:
            key = FlowKey(packet.transport, packet.dst, packet.dport, packet.src, packet.sport)
        host = self._names.get(key.server)
        process = self._attributor(key) if self._attributor else None
        flow = _Flow(key, packet.ts, host, host is not None, process, "dns" if host else None)
        self._flows[key] = flow
        return flow, outbound

    @staticmethod
    def _count_in(flow: _Flow, packet: Packet) -> None:
        """Bytes received, from sequence numbers: a live capture's kernel filter leaves out the
        server's data segments, and the server's FIN (or the client's acks) still says how far
        the data went."""
        if packet.transport != "tcp":
            flow.bytes_in += packet.payload_len
            return
        if packet.tcp_flags & TCP_SYN:
            flow.server_isn = packet.tcp_seq
            return
        if flow.server_isn is None:  # joined mid-connection: count what is seen
            flow.bytes_in += packet.payload_len
            return
        end = (packet.tcp_seq - flow.server_isn - 1) % (1 << 32) + packet.payload_len
        if packet.tcp_flags & TCP_FIN:
            flow.server_fin = end
        flow.bytes_in = max(flow.bytes_in, end)

    @staticmethod
    def _count_acked(flow: _Flow, packet: Packet) -> None:
        if flow.server_isn is None:
            return
        acked = (packet.tcp_ack - flow.server_isn - 1) % (1 << 32)
        if acked >= 1 << 31:  # behind the server's first byte: not an ack of this connection
            return
        if flow.server_fin is not None:
            acked = min(acked, flow.server_fin)
        flow.bytes_in = max(flow.bytes_in, acked)

    def _count_out(self, flow: _Flow, packet: Packet) -> int:
        if packet.payload_len == 0:
            return 0
        if packet.transport == "tcp" and flow.client_isn is not None:
            # Sequence numbers make retransmissions count once.
            end = (_seq(packet) - flow.client_isn - 1) % (1 << 32) + packet.payload_len
            delta = max(end - flow.bytes_out, 0)
        else:
            delta = packet.payload_len
        flow.bytes_out += delta
        return delta

    def _identify(self, flow: _Flow, packet: Packet) -> FlowIdentified:
        flow.identified = True
        payload = packet.payload
        name: str | None = None
        if packet.transport == "tcp":
            hello = parse_client_hello(payload)
            request = None if hello else parse_http_request(payload)
            if hello is not None:
                flow.protocol, name, via = "tls", hello.sni, "sni"
            elif request is not None:
                flow.protocol, name, via = "http", request.host, "http"
            elif looks_like_tls(payload):
                flow.protocol, via = "tls", "dns"
            else:
                flow.protocol, via = "tcp", "dns"
        else:
            quic = parse_quic_initial(payload)
            flow.protocol, via = ("quic" if quic else "udp"), "dns"
        if name:
            flow.host, flow.named_by = name, via
        return FlowIdentified(packet.ts, flow.key, flow.protocol, flow.host, flow.named_by)


def _reopens(flow: _Flow, packet: Packet) -> bool:
    """A client SYN with a new initial sequence number: the same addresses and ports, a new
    connection (thousands of short connections to one server reuse ports within a run)."""
    return (
        packet.transport == "tcp"
        and packet.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN
        and flow.client_isn is not None
        and packet.tcp_seq != flow.client_isn
    )


def _seq(packet: Packet) -> int:
    return packet.tcp_seq


def _sender_is_client(packet: Packet) -> bool:
    if packet.transport == "tcp" and packet.tcp_flags & TCP_SYN:
        return not packet.tcp_flags & TCP_ACK
    if packet.dport in _SERVER_PORTS and packet.sport not in _SERVER_PORTS:
        return True
    if packet.sport in _SERVER_PORTS and packet.dport not in _SERVER_PORTS:
        return False
    return packet.sport >= packet.dport


def _normal_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _ignored(address: str) -> bool:
    """Loopback, multicast and broadcast never leave the machine; the rest is egress."""
    if ":" in address:
        return address == "::1" or address.startswith("ff")
    first_octet = int(address.split(".", 1)[0])
    return first_octet == 127 or 224 <= first_octet <= 239 or address == "255.255.255.255"
