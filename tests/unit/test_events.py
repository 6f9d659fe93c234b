"""The event stream: one JSON line per new destination and per finding, as they happen."""

from __future__ import annotations

import json
from pathlib import Path

from egressguard.capture.memory import MemorySource
from egressguard.flows.table import FlowTable
from egressguard.pipeline import Monitor
from egressguard.policy.judge import Judge, ResolverSet
from egressguard.policy.loader import Policy
from egressguard.report.events import EventLog
from tests.unit.packets import client_hello, connection, dns_answer, dns_query


def test_events_name_each_destination_once_and_every_finding(
    policy: Policy, tmp_path: Path
) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    monitor = Monitor(Judge(policy, ResolverSet({"198.18.0.1"})), FlowTable(), events=log)
    packets = [dns_query("pypi.org"), dns_answer("pypi.org", "198.18.1.10")]
    for port in (50001, 50002):
        packets += connection("198.18.1.10", 443, client_hello("pypi.org"), sport=port)
    packets += connection("198.18.3.30", 8080, b"GET / HTTP/1.1\r\n\r\n")
    monitor.consume(MemorySource.from_scapy(packets))
    log.close()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [(e["event"], e.get("host"), e.get("kind")) for e in events] == [
        ("destination", "pypi.org", None),
        ("destination", None, None),
        ("finding", None, "direct-ip"),
    ]
    assert events[0]["verdict"] == "allowed" and events[1]["verdict"] == "direct-ip"
    assert events[1]["ip"] == "198.18.3.30" and events[2]["port"] == 8080
    assert all(e["tool"] == "egressguard" and e["ts"] > 0 for e in events)
