"""Decoders read bytes straight off the network: exact on real packets, never crash on any bytes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import Dot1Q, Ether

from egressguard.capture.interface import Frame, LinkType
from egressguard.decode.dns import parse_dns, parse_dns_tcp
from egressguard.decode.http import parse_http_request
from egressguard.decode.ip import decode_frame
from egressguard.decode.quic import parse_quic_initial
from egressguard.decode.tls import parse_client_hello
from tests.unit.packets import client_hello, dns_answer, dns_query, tcp


def frame(packet: object, linktype: int = LinkType.ETHERNET) -> Frame:
    return Frame(1.0, bytes(packet), linktype)  # type: ignore[call-overload]


def test_ipv4_tcp_header_fields() -> None:
    packet = decode_frame(frame(tcp("198.18.0.2", "198.18.1.10", 50000, 443, "PA", 77, b"abc")))
    assert packet is not None
    assert (packet.src, packet.dst, packet.sport, packet.dport) == (
        "198.18.0.2",
        "198.18.1.10",
        50000,
        443,
    )
    assert (packet.transport, packet.payload, packet.payload_len, packet.tcp_seq) == (
        "tcp",
        b"abc",
        3,
        77,
    )


def test_ipv6_with_extension_header_and_vlan_tag() -> None:
    raw = (
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / Dot1Q(vlan=5)
        / IPv6(src="fd00::1", dst="fd00::2")
        / IPv6ExtHdrHopByHop()
        / (UDP(sport=1234, dport=53) / b"hello")
    )
    packet = decode_frame(frame(raw))
    assert packet is not None
    assert (packet.version, packet.src, packet.dst, packet.dport, packet.payload) == (
        6,
        "fd00::1",
        "fd00::2",
        53,
        b"hello",
    )


def test_raw_ip_linktype_and_non_ip_frames() -> None:
    packet = decode_frame(frame(IP(src="1.2.3.4", dst="5.6.7.8") / UDP(), LinkType.RAW))
    assert packet is not None and packet.src == "1.2.3.4"
    assert decode_frame(Frame(1.0, b"\xff" * 14 + b"\x08\x06" + b"\x00" * 28)) is None  # ARP


def test_dns_query_and_answer() -> None:
    query = parse_dns(bytes(dns_query("Files.PythonHosted.org")[UDP].payload))
    assert query is not None and not query.is_response
    assert (query.qname, query.qtype) == ("files.pythonhosted.org", "A")
    answer = parse_dns(bytes(dns_answer("pypi.org", "198.18.1.10")[UDP].payload))
    assert answer is not None and answer.is_response
    assert [(a.rtype, a.value) for a in answer.answers] == [("A", "198.18.1.10")]


def test_dns_over_tcp_pipelined_messages() -> None:
    one = bytes(dns_query("a.example.com")[UDP].payload)
    two = bytes(dns_query("b.example.com")[UDP].payload)
    stream = len(one).to_bytes(2, "big") + one + len(two).to_bytes(2, "big") + two
    assert [m.qname for m in parse_dns_tcp(stream)] == ["a.example.com", "b.example.com"]


def test_tls_client_hello_sni() -> None:
    hello = parse_client_hello(client_hello("files.pythonhosted.org"))
    assert hello is not None and hello.sni == "files.pythonhosted.org"
    assert hello.alpn == ("h2", "http/1.1")
    no_sni = parse_client_hello(client_hello(None))
    assert no_sni is not None and no_sni.sni is None
    assert parse_client_hello(b"GET / HTTP/1.1\r\n") is None


def test_http_request_host() -> None:
    request = parse_http_request(b"POST /x HTTP/1.1\r\nHost: Evil.Example:8080\r\n\r\nbody")
    assert request is not None
    assert (request.method, request.target, request.host) == ("POST", "/x", "evil.example")
    assert parse_http_request(b"\x16\x03\x01junk") is None


def test_quic_initial_recognised() -> None:
    initial = bytes([0xC3]) + (1).to_bytes(4, "big") + b"\x08" + b"\x00" * 40
    assert parse_quic_initial(initial) is not None
    assert parse_quic_initial(bytes([0x43]) + b"\x00" * 40) is None  # short header


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(list(LinkType)))
def test_frame_decoder_never_raises(data: bytes, linktype: LinkType) -> None:
    decode_frame(Frame(0.0, data, linktype))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_application_decoders_never_raise(data: bytes) -> None:
    parse_dns(data)
    parse_dns_tcp(data)
    parse_client_hello(data)
    parse_http_request(data)
    parse_quic_initial(data)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[a-z0-9]{1,20}(\.[a-z0-9-]{1,20}){0,3}\.[a-z]{2,6}", fullmatch=True))
def test_sni_round_trips(name: str) -> None:
    hello = parse_client_hello(client_hello(name))
    assert hello is not None and hello.sni == name


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.integers(0, 100))
def test_truncated_client_hello_never_raises(suffix: bytes, cut: int) -> None:
    data = client_hello("pypi.org") + suffix
    parse_client_hello(data[: len(data) - cut])
