"""The lab's upstream resolver: answers from a JSON zone map over UDP and TCP, logs every query.

Run inside the lab's "internet" namespace: python dns_server.py ADDRESS ZONES.json LOG.jsonl
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

ADDRESS, ZONES, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
with open(ZONES, encoding="utf-8") as handle:
    RECORDS: dict[str, str] = json.load(handle)
LOCK = threading.Lock()


def answer(wire: bytes, transport: str) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
    except Exception:
        return None
    response = dns.message.make_response(query)
    question = query.question[0]
    name = question.name.to_text(omit_final_dot=True).lower()
    with LOCK, open(LOG, "a", encoding="utf-8") as log:
        log.write(
            json.dumps(
                {
                    "name": name,
                    "type": dns.rdatatype.to_text(question.rdtype),
                    "transport": transport,
                }
            )
            + "\n"
        )
    address = RECORDS.get(name)
    if address is None and "*." + name.split(".", 1)[-1] in RECORDS:
        address = RECORDS["*." + name.split(".", 1)[-1]]
    if address is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
    elif question.rdtype == dns.rdatatype.A:
        response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", address))
    return response.to_wire()


class Udp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = answer(data, "udp")
        if reply:
            sock.sendto(reply, self.client_address)


class Tcp(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for _ in range(100):
            size = self.rfile.read(2)
            if len(size) < 2:
                return
            reply = answer(self.rfile.read(int.from_bytes(size, "big")), "tcp")
            if reply:
                self.wfile.write(len(reply).to_bytes(2, "big") + reply)


class ThreadingUDP(socketserver.ThreadingUDPServer):
    allow_reuse_address = True


class ThreadingTCP(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    udp = ThreadingUDP((ADDRESS, 53), Udp)
    tcp = ThreadingTCP((ADDRESS, 53), Tcp)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    udp.serve_forever()
    socket.close(0)
