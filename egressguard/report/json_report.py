"""The JSON report of DESIGN.md (schema 1)."""

from __future__ import annotations

import json

from egressguard.report.interface import Report, Reporter


class JsonReporter(Reporter):
    def render(self, report: Report) -> str:
        document = {
            "schema": 1,
            "tool": {"name": "egressguard", "version": report.version},
            "mode": report.mode,
            "enforcement": report.enforcement,
            "command": list(report.command) if report.command is not None else None,
            "capture": report.capture,
            "policy": report.policy,
            "started_at": report.started_at,
            "duration_s": round(report.duration_s, 3),
            "exit_code": report.exit_code,
            "command_exit_code": report.command_exit_code,
            "aborted": report.aborted,
            "destinations": [d.as_json() for d in report.destinations],
            "findings": [f.as_json() for f in report.findings],
            "stats": {
                "packets": report.packets,
                "dropped": report.dropped,
                **dict(report.extra_stats),
            },
        }
        return json.dumps(document, indent=2, sort_keys=False) + "\n"
