"""The kernel-side filter of the live capture: a classic BPF program, assembled here.

libpcap (which scapy needs to compile filter strings) is not on a fresh machine, and the
program is short. It keeps what the judgement reads and leaves bulk downloads in the kernel:

    kept:     everything that is not TCP (DNS, QUIC, ICMP), TCP with SYN, FIN or RST (who
              connects where, and the sequence numbers that count bytes both ways), DNS over
              TCP, and TCP segments with data in the upload direction (TLS ClientHello, HTTP
              requests, uploads); loopback frames once (the receiving copy); VLAN-tagged and
              non-Ethernet frames whole, since their headers are not read here
    left out: TCP segments without flags of interest that carry data the other way (a
              download) or no data at all (bare ACKs), and non-IP frames (ARP)
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from enum import IntEnum

SO_ATTACH_FILTER = 26
_SKF_AD_OFF = -0x1000
_SKF_AD_PKTTYPE = 4
_SKF_AD_HATYPE = 28
_ARPHRD_ETHER = 1
_ARPHRD_LOOPBACK = 772
_KEEP = 0x40000  # snap length: the whole frame
_TCP_FIN_SYN_RST = 0x07


class PacketType(IntEnum):
    """How the kernel labels a frame on a packet socket (linux/if_packet.h)."""

    HOST = 0  # arrived, addressed to this host
    OUTGOING = 4  # sent by this host


# classic BPF opcodes (linux/filter.h)
_LD_W_ABS, _LD_H_ABS, _LD_B_ABS = 0x20, 0x28, 0x30
_LD_H_IND, _LD_B_IND = 0x48, 0x50
_LDX_B_MSH, _LDX_MEM, _LD_MEM, _ST = 0xB1, 0x61, 0x60, 0x02
_ALU_AND_K, _ALU_RSH_K, _ALU_SUB_X = 0x54, 0x74, 0x1C
_TAX = 0x07
_JEQ_K, _JGT_K, _JSET_K = 0x15, 0x25, 0x45
_RET_K = 0x06


@dataclass(frozen=True)
class _Insn:
    code: int
    k: int = 0
    true: str | None = None  # label to jump to when the test holds
    false: str | None = None  # ... when it does not (None: the next instruction)


def _ancillary(field: int) -> int:
    return (_SKF_AD_OFF + field) & 0xFFFFFFFF


def program(uploads: PacketType) -> list[tuple[int, int, int, int]]:
    """The filter, as (code, jt, jf, k) instructions; `uploads` is how the command's own
    outbound frames appear on the socket: OUTGOING in its namespace, HOST on the far side of
    the sandbox's veth."""
    code: list[_Insn | str] = [
        _Insn(_LD_W_ABS, _ancillary(_SKF_AD_HATYPE)),
        _Insn(_JEQ_K, _ARPHRD_LOOPBACK, "loopback"),
        _Insn(_JEQ_K, _ARPHRD_ETHER, None, "keep"),  # tun and other raw-IP links: whole
        _Insn(_LD_H_ABS, 12),  # EtherType
        _Insn(_JEQ_K, 0x0800, "ipv4"),
        _Insn(_JEQ_K, 0x86DD, "ipv6"),
        _Insn(_JEQ_K, 0x8100, "keep"),
        _Insn(_JEQ_K, 0x88A8, "keep", "drop"),
        "loopback",
        _Insn(_LD_W_ABS, _ancillary(_SKF_AD_PKTTYPE)),
        _Insn(_JEQ_K, PacketType.OUTGOING, "drop", "keep"),  # loopback shows each frame twice
        "ipv4",
        _Insn(_LD_B_ABS, 14 + 9),  # protocol
        _Insn(_JEQ_K, socket.IPPROTO_TCP, None, "keep"),
        _Insn(_LD_H_ABS, 14 + 6),  # fragment offset: a later fragment has no TCP header
        _Insn(_JSET_K, 0x1FFF, "keep"),
        _Insn(_LDX_B_MSH, 14),  # X = IPv4 header length
        _Insn(_LD_B_IND, 14 + 13),  # TCP flags
        _Insn(_JSET_K, _TCP_FIN_SYN_RST, "keep"),
        _Insn(_LD_H_IND, 14),  # source port
        _Insn(_JEQ_K, 53, "keep"),
        _Insn(_LD_H_IND, 14 + 2),  # destination port
        _Insn(_JEQ_K, 53, "keep"),
        _Insn(_LD_W_ABS, _ancillary(_SKF_AD_PKTTYPE)),
        _Insn(_JEQ_K, uploads, None, "drop"),
        _Insn(_LD_B_IND, 14 + 12),  # TCP data offset, in the high nibble
        _Insn(_ALU_AND_K, 0xF0),
        _Insn(_ALU_RSH_K, 2),
        _Insn(_ST, 0),  # M[0] = TCP header length
        _Insn(_LD_H_ABS, 14 + 2),  # IPv4 total length
        _Insn(_ALU_SUB_X),  # minus the IPv4 header
        _Insn(_LDX_MEM, 0),
        _Insn(_ALU_SUB_X),  # minus the TCP header: the payload
        _Insn(_JGT_K, 0, "keep", "drop"),
        "ipv6",
        _Insn(_LD_B_ABS, 14 + 6),  # next header (extension headers: kept whole)
        _Insn(_JEQ_K, socket.IPPROTO_TCP, None, "keep"),
        _Insn(_LD_B_ABS, 14 + 40 + 13),
        _Insn(_JSET_K, _TCP_FIN_SYN_RST, "keep"),
        _Insn(_LD_H_ABS, 14 + 40),
        _Insn(_JEQ_K, 53, "keep"),
        _Insn(_LD_H_ABS, 14 + 40 + 2),
        _Insn(_JEQ_K, 53, "keep"),
        _Insn(_LD_W_ABS, _ancillary(_SKF_AD_PKTTYPE)),
        _Insn(_JEQ_K, uploads, None, "drop"),
        _Insn(_LD_B_ABS, 14 + 40 + 12),
        _Insn(_ALU_AND_K, 0xF0),
        _Insn(_ALU_RSH_K, 2),
        _Insn(_TAX),  # X = TCP header length
        _Insn(_LD_H_ABS, 14 + 4),  # IPv6 payload length
        _Insn(_ALU_SUB_X),
        _Insn(_JGT_K, 0, "keep", "drop"),
        "keep",
        _Insn(_RET_K, _KEEP),
        "drop",
        _Insn(_RET_K, 0),
    ]
    return _assemble(code)


def _assemble(code: list[_Insn | str]) -> list[tuple[int, int, int, int]]:
    labels: dict[str, int] = {}
    insns: list[_Insn] = []
    for item in code:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)

    def offset(at: int, label: str | None) -> int:
        if label is None:
            return 0
        jump = labels[label] - at - 1
        if not 0 <= jump <= 255:
            raise ValueError(f"BPF jump to {label} out of range")
        return jump

    return [(i.code, offset(n, i.true), offset(n, i.false), i.k) for n, i in enumerate(insns)]


def attach(sock: socket.socket, uploads: PacketType) -> None:
    """Install the filter on a packet socket (SO_ATTACH_FILTER takes a struct sock_fprog)."""
    import ctypes

    insns = program(uploads)
    raw = b"".join(struct.pack("HBBI", *insn) for insn in insns)
    buffer = ctypes.create_string_buffer(raw)
    fprog = struct.pack("HL", len(insns), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
