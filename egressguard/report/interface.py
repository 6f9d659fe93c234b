"""The Report value every reporter renders, and the reporter interface."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from egressguard.flows.interface import FlowSummary, ProcessInfo
from egressguard.policy.interface import Finding
from egressguard.policy.judge import verdict_rank


@dataclass(frozen=True)
class Destination:
    host: str | None
    ips: tuple[str, ...]
    port: int
    transport: str
    protocol: str
    verdict: str
    reason: str
    bytes_out: int
    bytes_in: int
    connections: int
    first_seen: float
    process: ProcessInfo | None
    blocked: bool = False  # the sandbox's gates refused it: no byte reached the destination

    def as_json(self) -> dict[str, Any]:
        process = self.process
        return {
            "host": self.host,
            "ips": list(self.ips),
            "port": self.port,
            "transport": self.transport,
            "protocol": self.protocol,
            "verdict": self.verdict,
            "reason": self.reason,
            "bytes_out": self.bytes_out,
            "bytes_in": self.bytes_in,
            "connections": self.connections,
            "first_seen": round(self.first_seen, 4),
            "blocked": self.blocked,
            "process": None
            if process is None
            else {"pid": process.pid, "exe": process.exe, "cmdline": list(process.cmdline)},
        }


@dataclass(frozen=True)
class Report:
    mode: str  # "block", "audit" or "analyze"
    command: tuple[str, ...] | None
    capture: str | None
    started_at: str
    duration_s: float
    exit_code: int
    command_exit_code: int | None
    aborted: bool
    destinations: tuple[Destination, ...]
    findings: tuple[Finding, ...]
    packets: int
    dropped: int
    policy: str
    version: str
    extra_stats: tuple[tuple[str, float], ...] = ()
    enforcement: str = "none"  # "gates": nothing refused left the sandbox; "kill"; "none"

    @property
    def violations(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity.is_violation)


class Reporter(abc.ABC):
    @abc.abstractmethod
    def render(self, report: Report) -> str: ...


def group_destinations(
    flows: list[FlowSummary], verdict_of: Any, origin: float, gated: bool = False
) -> tuple[Destination, ...]:
    """One row per (name or address, port, transport), busiest first."""
    rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    for flow in flows:
        name = flow.host or flow.key.server
        row = rows.setdefault(
            (name, flow.key.server_port, flow.key.transport),
            {
                "host": flow.host,
                "ips": set(),
                "protocol": flow.protocol,
                "verdicts": [],
                "out": 0,
                "in": 0,
                "n": 0,
                "first": flow.first_ts,
                "process": None,
            },
        )
        verdict, reason = verdict_of(flow.key)
        row["ips"].add(flow.key.server)
        row["verdicts"].append((verdict_rank(verdict), verdict, reason))
        row["out"] += flow.bytes_out
        row["in"] += flow.bytes_in
        row["n"] += 1
        row["first"] = min(row["first"], flow.first_ts)
        row["process"] = row["process"] or flow.process
    out = []
    for (_, port, transport), row in rows.items():
        _, verdict, reason = max(row["verdicts"])
        out.append(
            Destination(
                row["host"],
                tuple(sorted(row["ips"])),
                port,
                transport,
                row["protocol"],
                verdict,
                reason,
                row["out"],
                row["in"],
                row["n"],
                row["first"] - origin,
                row["process"],
                blocked=gated and verdict != "allowed",
            )
        )
    return tuple(sorted(out, key=lambda d: (d.first_seen, d.host or "", d.port)))
