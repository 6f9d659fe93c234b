"""DNS messages over UDP and TCP, parsed with dnspython into our own frozen values.

dnspython is imported on the first message, not with this module: a run that sees no DNS (or
sees it only after the command has started) does not pay for it at start-up.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from egressguard.decode.interface import DnsAnswer, DnsMessage

if TYPE_CHECKING:
    import dns.name

_KEPT_TYPES = {1: "A", 28: "AAAA", 5: "CNAME"}  # dns.rdatatype A, AAAA, CNAME
_IMPORTING = threading.Lock()
_LOADED: set[bool] = set()  # which of load(False) / load(True) has completed


def load(query: bool = False) -> None:
    """Import dnspython (and its query module), one thread at a time: the warm-up thread, the
    capture thread and the DNS gate may all ask at once, and threads importing parts of a
    package with import cycles can otherwise meet each other's half-built modules. Once done,
    a call is one set lookup: every DNS packet makes it."""
    if query in _LOADED:
        return
    with _IMPORTING:
        import dns.exception
        import dns.flags
        import dns.message
        import dns.name
        import dns.rcode
        import dns.rdatatype

        if query:
            import dns.query  # noqa: F401
        _LOADED.add(query)


def parse_dns(payload: bytes) -> DnsMessage | None:
    """One DNS message from a UDP payload, or None when the bytes are not DNS."""
    if len(payload) < 12:
        return None
    load()
    import dns.exception
    import dns.flags
    import dns.message
    import dns.rdatatype

    try:
        message = dns.message.from_wire(payload, ignore_trailing=True, one_rr_per_rrset=True)
    except (dns.exception.DNSException, ValueError, IndexError, UnicodeError):
        return None
    if not message.question:
        return None
    question = message.question[0]
    answers = tuple(
        DnsAnswer(_name(rrset.name), _KEPT_TYPES[rrset.rdtype], _value(rdata))
        for rrset in message.answer
        if rrset.rdtype in _KEPT_TYPES
        for rdata in rrset
    )
    return DnsMessage(
        id=message.id,
        is_response=bool(message.flags & dns.flags.QR),
        qname=_name(question.name),
        qtype=dns.rdatatype.to_text(question.rdtype),
        rcode=int(message.rcode()),
        answers=answers,
    )


def parse_dns_tcp(stream: bytes) -> list[DnsMessage]:
    """Every complete length-prefixed DNS message at the start of a TCP payload (pipelining too)."""
    messages: list[DnsMessage] = []
    offset = 0
    while offset + 2 <= len(stream) and len(messages) < 64:
        size = int.from_bytes(stream[offset : offset + 2], "big")
        chunk = stream[offset + 2 : offset + 2 + size]
        if size == 0 or len(chunk) < size:
            break
        message = parse_dns(chunk)
        if message is None:
            break
        messages.append(message)
        offset += 2 + size
    return messages


def _name(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def _value(rdata: object) -> str:
    target = getattr(rdata, "target", None)
    if target is not None:
        return _name(target)
    return str(getattr(rdata, "address", rdata))
