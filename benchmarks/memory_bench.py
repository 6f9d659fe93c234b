"""Peak memory and speed of the judging pipeline over many connections.

Run from the repository: uv run --frozen --no-editable python -m benchmarks.memory_bench
Options: --connections N (default 10000), --segments N (data segments per connection, 4).

Writes a capture with N TLS connections to allowlisted and unlisted names (DNS answer,
handshake, ClientHello, data segments each way), runs `egressguard analyze` on it in a child
process and prints the child's peak resident memory and packets per second.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter

from tests.unit.packets import client_hello

ETHER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def write_capture(path: Path, connections: int, segments: int) -> int:
    names = ["files.pythonhosted.org", "pypi.org", "registry.npmjs.org", "example-cdn.net"]
    written = 0
    with PcapWriter(str(path), linktype=1, sync=False) as pcap:
        for n, name in enumerate(names):
            server = f"198.18.{10 + n}.1"
            pcap.write(
                ETHER
                / IP(src="198.18.0.2", dst="198.18.0.1")
                / UDP(sport=40000 + n, dport=53)
                / DNS(id=n, qd=DNSQR(qname=name))
            )
            pcap.write(
                ETHER
                / IP(src="198.18.0.1", dst="198.18.0.2")
                / UDP(sport=53, dport=40000 + n)
                / DNS(id=n, qr=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata=server))
            )
        templates = []
        for n, name in enumerate(names):
            server, hello = f"198.18.{10 + n}.1", client_hello(name)
            out = ETHER / IP(src="198.18.0.2", dst=server) / TCP(sport=1, dport=443, flags="PA")
            back = ETHER / IP(src=server, dst="198.18.0.2") / TCP(sport=443, dport=1, flags="PA")
            templates.append((server, hello, out, back))
        for index in range(connections):
            server, hello, out, back = templates[index % len(templates)]
            port = 1024 + index % 60000
            syn = (
                ETHER
                / IP(src="198.18.0.2", dst=server)
                / TCP(sport=port, dport=443, flags="S", seq=1000)
            )
            packets = [syn, out.copy(), *(back.copy() for _ in range(segments))]
            packets[1][TCP].sport, packets[1][TCP].seq = port, 1001
            packets[1] = packets[1] / hello
            for k, packet in enumerate(packets[2:], start=2):
                packet[TCP].dport = port
                packets[k] = packet / (b"x" * 1400)
            for packet in packets:
                pcap.write(packet)
                written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "many.pcap"
        packets = write_capture(capture, args.connections, args.segments)
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "egressguard",
                "analyze",
                "--quiet",
                "--report",
                str(Path(tmp) / "r.json"),
                str(capture),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        elapsed = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"{args.connections} connections, {packets} packets: analyze exit {proc.returncode}, "
        f"{elapsed:.2f} s ({packets / elapsed:,.0f} packets/s, start-up included), "
        f"peak resident memory {peak_mib:.1f} MiB"
    )


if __name__ == "__main__":
    main()
