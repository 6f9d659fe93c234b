"""Byte counts and connection boundaries from TCP sequence numbers, as the kernel filter leaves
them: handshakes, FINs, the client's data and acks, no server data."""

from __future__ import annotations

from typing import Any

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from egressguard.capture.interface import Frame, LinkType
from egressguard.decode.ip import decode_frame
from egressguard.flows.interface import FlowSummary
from egressguard.flows.table import FlowTable

CLIENT, SERVER = "198.18.0.2", "198.18.1.10"


def _segment(outbound: bool, flags: str, seq: int, ack: int = 0, data: bytes = b"") -> Any:
    src, dst, sport, dport = (
        (CLIENT, SERVER, 40000, 443) if outbound else (SERVER, CLIENT, 443, 40000)
    )
    return (
        Ether()
        / IP(src=src, dst=dst)
        / TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack)
        / data
    )


def _flows(packets: list[Any]) -> list[FlowSummary]:
    table = FlowTable()
    for n, packet in enumerate(packets):
        decoded = decode_frame(Frame(1000.0 + n, bytes(packet), LinkType.ETHERNET))
        assert decoded is not None
        table.update(decoded)
    return table.summaries()


def _download(client_isn: int, server_isn: int, size: int) -> list[Any]:
    """A request, then (unseen) `size` bytes back, the server's FIN and the client's ack of it."""
    request = b"GET /big HTTP/1.1\r\nHost: pypi.org\r\n\r\n"
    after = client_isn + 1 + len(request)
    return [
        _segment(True, "S", client_isn),
        _segment(False, "SA", server_isn, client_isn + 1),
        _segment(True, "PA", client_isn + 1, server_isn + 1, request),
        _segment(False, "FA", server_isn + 1 + size, after),
        _segment(True, "FA", after, server_isn + 1 + size + 1),
    ]


def test_bytes_in_come_from_the_servers_fin_without_its_data() -> None:
    (flow,) = _flows(_download(1000, 5000, 20_000_000))
    assert flow.bytes_in == 20_000_000  # the FIN's own sequence number is not data
    assert flow.bytes_out == len(b"GET /big HTTP/1.1\r\nHost: pypi.org\r\n\r\n")


def test_an_ack_from_before_the_connection_is_ignored() -> None:
    packets = _download(1000, 5000, 300)
    packets.insert(3, _segment(True, "A", 1001, 0))  # ack 0: nonsense for this connection
    (flow,) = _flows(packets)
    assert flow.bytes_in == 300


def test_a_reused_port_pair_is_a_second_connection() -> None:
    flows = _flows(_download(1000, 5000, 100) + _download(900_000, 70_000, 200))
    assert sorted(f.bytes_in for f in flows) == [100, 200]


def test_a_retransmitted_syn_is_the_same_connection() -> None:
    packets = _download(1000, 5000, 100)
    packets.insert(1, _segment(True, "S", 1000))
    assert len(_flows(packets)) == 1
