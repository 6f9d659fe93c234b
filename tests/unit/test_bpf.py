"""The capture filter's program, run instruction by instruction over scapy-built frames.

The lab tests attach it to a real socket (IPv4 only); this runs every branch, IPv6 included,
through a small classic-BPF interpreter written from linux/filter.h, independent of the
assembler in capture/bpf.py."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether

from egressguard.capture.bpf import PacketType, program

HOST, OUTGOING = 0, 4
ETHER, LOOPBACK, NONE = 1, 772, 0xFFFE
_AD = 0xFFFFF000


def run(insns: list[tuple[int, int, int, int]], frame: bytes, pkttype: int, hatype: int) -> int:
    """What the kernel would return for this frame: 0 drops it, more keeps that many bytes."""
    a = x = 0
    memory = [0] * 16
    pc = 0

    def load(offset: int, size: int) -> int:
        if offset >= _AD:
            return {_AD + 4: pkttype, _AD + 28: hatype}[offset]
        if offset + size > len(frame):
            raise IndexError  # the kernel returns 0 (drop) on an out-of-bounds load
        return int.from_bytes(frame[offset : offset + size], "big")

    for _ in range(len(insns) + 1):  # classic BPF only jumps forward
        code, jt, jf, k = insns[pc]
        pc += 1
        cls, size = code & 0x07, {0x00: 4, 0x08: 2, 0x10: 1}.get(code & 0x18, 4)
        try:
            if code in (0x20, 0x28, 0x30):
                a = load(k, size)
            elif code in (0x40, 0x48, 0x50):
                a = load(x + k, size)
            elif code == 0xB1:
                x = (load(k, 1) & 0x0F) * 4
            elif code == 0x60:
                a = memory[k]
            elif code == 0x61:
                x = memory[k]
            elif code == 0x02:
                memory[k] = a
            elif code == 0x07:
                x = a
            elif code == 0x54:
                a &= k
            elif code == 0x74:
                a >>= k
            elif code == 0x1C:
                a = (a - x) & 0xFFFFFFFF
            elif cls == 0x05:  # jumps
                test = {0x15: a == k, 0x25: a > k, 0x45: bool(a & k)}[code]
                pc += jt if test else jf
            elif code == 0x06:
                return k
            else:
                raise AssertionError(f"opcode {code:#x} not known to this interpreter")
        except IndexError:
            return 0
    raise AssertionError("ran off the end of the program")


def kept(frame: Any, pkttype: int, uploads: PacketType, hatype: int = ETHER) -> bool:
    return run(program(uploads), bytes(frame), pkttype, hatype) > 0


E = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
V4 = E / IP(src="198.18.0.2", dst="198.18.1.10")
V6 = E / IPv6(src="2001:db8::2", dst="2001:db8::10")


@pytest.mark.parametrize("base", [V4, V6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize(
    ("segment", "sent_up", "expected"),
    [
        (TCP(sport=40000, dport=443, flags="S"), True, True),
        (TCP(sport=443, dport=40000, flags="SA"), False, True),
        (TCP(sport=443, dport=40000, flags="FA"), False, True),
        (TCP(sport=443, dport=40000, flags="R"), False, True),
        (TCP(sport=40000, dport=443, flags="PA") / (b"u" * 1200), True, True),
        (TCP(sport=443, dport=40000, flags="A") / (b"d" * 1400), False, False),
        (TCP(sport=40000, dport=443, flags="A"), True, False),
        (TCP(sport=53, dport=40000, flags="PA") / (b"\x00\x1c" + b"d" * 28), False, True),
        (UDP(sport=443, dport=40000) / (b"q" * 1200), False, True),
        (UDP(sport=40000, dport=53) / DNS(qd=DNSQR(qname="pypi.org")), True, True),
    ],
    ids=[
        "syn",
        "syn-ack",
        "fin",
        "rst",
        "upload",
        "download-data",
        "bare-ack",
        "dns-over-tcp-answer",
        "udp-in",
        "dns-query",
    ],
)
def test_what_reaches_python(base: Any, segment: Any, sent_up: bool, expected: bool) -> None:
    """The same frame judged in both places egressguard captures: the command's own namespace
    (its uploads are OUTGOING) and the far side of the sandbox's veth (they arrive: HOST)."""
    frame = base / segment
    for uploads, up, down in (
        (PacketType.OUTGOING, OUTGOING, HOST),
        (PacketType.HOST, HOST, OUTGOING),
    ):
        assert kept(frame, up if sent_up else down, uploads) is expected, uploads


def test_the_download_direction_flips_with_the_capture_point() -> None:
    upload = V4 / TCP(sport=40000, dport=443, flags="PA") / (b"u" * 100)
    assert kept(upload, OUTGOING, PacketType.OUTGOING)
    assert not kept(upload, OUTGOING, PacketType.HOST)  # on the veth, OUTGOING is a download


def test_loopback_keeps_one_copy_and_other_links_everything() -> None:
    frame = V4 / TCP(sport=443, dport=40000, flags="A") / (b"d" * 100)
    assert not kept(frame, OUTGOING, PacketType.OUTGOING, LOOPBACK)
    assert kept(frame, HOST, PacketType.OUTGOING, LOOPBACK)
    raw = IP(src="198.18.0.2", dst="198.18.1.10") / TCP(flags="A") / (b"d" * 100)
    assert kept(raw, HOST, PacketType.OUTGOING, NONE)  # tun: no Ethernet header to read


def test_vlan_fragments_and_arp() -> None:
    tagged = E / Dot1Q(vlan=5) / IP() / TCP(flags="A") / (b"d" * 100)
    assert kept(tagged, HOST, PacketType.OUTGOING)
    later_fragment = E / IP(frag=185, proto=6) / (b"d" * 100)
    assert kept(later_fragment, HOST, PacketType.OUTGOING)
    assert not kept(E / ARP(), HOST, PacketType.OUTGOING)


def test_ipv4_options_move_the_tcp_header() -> None:
    """The header length is read from the packet (ldxb 4*([14]&0xf)), not assumed to be 20."""
    options = E / IP(options=b"\x01" * 8) / TCP(sport=443, dport=40000, flags="A")
    assert not kept(options / (b"d" * 100), HOST, PacketType.OUTGOING)
    assert kept(options / (b"u" * 100), OUTGOING, PacketType.OUTGOING)
    syn = E / IP(options=b"\x01" * 8) / TCP(flags="S")
    assert kept(syn, HOST, PacketType.OUTGOING)


def test_the_program_is_what_the_kernel_takes() -> None:
    """Every jump lands inside the program and it ends in returns (the kernel's checker
    refuses anything else; the lab tests attach it for real)."""
    for uploads in PacketType:
        insns = program(uploads)
        assert len(insns) < 4096
        for n, (code, jt, jf, _) in enumerate(insns):
            if code & 0x07 == 0x05:
                assert n + 1 + max(jt, jf) < len(insns)
        assert [code for code, *_ in insns[-2:]] == [0x06, 0x06]
        assert struct.calcsize("HBBI") == 8
