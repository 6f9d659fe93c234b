"""The DNS gate: the sandbox's only resolver. Allowed names are forwarded to the system's
resolver and their addresses opened in the relay before the answer is returned; other names get
NXDOMAIN and never reach an upstream resolver, so lookalikes and DNS tunnels go nowhere.
AAAA questions get an empty answer: the sandbox has no IPv6 route, so clients use IPv4.
dnspython is imported by the first query (or the run's warm-up), not with this module.
"""

from __future__ import annotations

import os
import select
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from egressguard.decode.dns import load as load_dnspython

if TYPE_CHECKING:
    import dns.message

UPSTREAM_TIMEOUT_S = 4.0


@dataclass(frozen=True)
class GateDecision:
    forward: bool
    reason: str


# (query name, query type, client address) -> decision
Decide = Callable[[str, str, str], GateDecision]
# (query name, addresses of the answer) -> None; called before the client gets the answer
Opened = Callable[[str, list[str]], None]


class DnsGate:
    def __init__(self, bind: str, upstreams: list[str], decide: Decide, opened: Opened) -> None:
        self.bind = bind
        self.upstreams = [u for u in upstreams if u != bind] or ["127.0.0.53"]
        self._decide = decide
        self._opened = opened
        gate = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = gate.answer(data, self.client_address[0])
                if reply:
                    sock.sendto(reply, self.client_address)

        class Tcp(socketserver.StreamRequestHandler):
            timeout = 10

            def handle(self) -> None:
                for _ in range(100):  # pipelined queries on one connection, bounded
                    size = self.rfile.read(2)
                    if len(size) < 2:
                        return
                    reply = gate.answer(
                        self.rfile.read(int.from_bytes(size, "big")), self.client_address[0]
                    )
                    if reply:
                        self.wfile.write(len(reply).to_bytes(2, "big") + reply)

        self._udp = _ThreadingUDP((bind, 53), Udp)
        self._tcp = _ThreadingTCP((bind, 53), Tcp)
        self._wake_read, self._wake_write = os.pipe()  # close() wakes both loops at once
        self._threads = [
            threading.Thread(target=self._serve, args=(server,), daemon=True)
            for server in (self._udp, self._tcp)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def close(self) -> None:
        os.write(self._wake_write, b"x")
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=5)
        for server in (self._udp, self._tcp):
            server.server_close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _serve(self, server: socketserver.UDPServer | socketserver.TCPServer) -> None:
        """Requests until close(): sleeps in select, no polling interval to wait out."""
        while True:
            ready, _, _ = select.select([server.fileno(), self._wake_read], [], [])
            if self._wake_read in ready:
                return
            server.handle_request()

    def answer(self, wire: bytes, client: str) -> bytes | None:
        load_dnspython(query=True)  # on the first query: the command is running by then
        import dns.exception
        import dns.message
        import dns.rcode
        import dns.rdatatype

        try:
            query = dns.message.from_wire(wire)
        except (dns.exception.DNSException, ValueError):
            return None
        if not query.question:
            return None
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        qtype = dns.rdatatype.to_text(question.rdtype)
        decision = self._decide(name, qtype, client)
        response = dns.message.make_response(query)
        if not decision.forward:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        if question.rdtype == dns.rdatatype.AAAA:
            return response.to_wire()  # no IPv6 inside the sandbox
        upstream = self._ask_upstream(query)
        if upstream is None:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        addresses = [
            rdata.address
            for rrset in upstream.answer
            if rrset.rdtype == dns.rdatatype.A
            for rdata in rrset
        ]
        if addresses:
            self._opened(name, addresses)
        upstream.id = query.id
        return upstream.to_wire()

    def _ask_upstream(self, query: dns.message.Message) -> dns.message.Message | None:
        import dns.exception
        import dns.flags
        import dns.query

        for server in self.upstreams:
            try:
                reply = dns.query.udp(query, server, timeout=UPSTREAM_TIMEOUT_S)
                if reply.flags & dns.flags.TC:
                    reply = dns.query.tcp(query, server, timeout=UPSTREAM_TIMEOUT_S)
                return reply
            except (dns.exception.DNSException, OSError):
                continue
        return None


class _ThreadingUDP(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True
    timeout = 1.0  # handle_request() after select said ready: never blocks this long


class _ThreadingTCP(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    timeout = 1.0

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().server_bind()
