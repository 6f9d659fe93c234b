"""The Markdown summary for a CI job page ($GITHUB_STEP_SUMMARY): readable at a glance."""

from __future__ import annotations

from egressguard.report.console import human_bytes
from egressguard.report.interface import Report, Reporter

_ICON = {
    "allowed": "✅",
    "unlisted": "⛔",
    "typosquat": "🎭",
    "known-bad": "☠️",
    "direct-ip": "🔢",
    "dns-bypass": "🕳️",
}
_SEVERITY = {"critical": "🔴 critical", "high": "🟠 high", "medium": "🟡 medium", "low": "⚪ low"}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


class MarkdownReporter(Reporter):
    def render(self, report: Report) -> str:
        lines = [f"## egressguard: {self._headline(report)}", ""]
        command = " ".join(report.command) if report.command else report.capture or ""
        if len(command) > 200:
            command = command[:199] + "…"
        lines += [f"`{_cell(command)}`", ""]
        if report.findings:
            lines += ["| Severity | Finding | Destination | What happened |", "|---|---|---|---|"]
            for f in report.findings:
                where = f.host or (f"{f.ip}:{f.port}" if f.ip else "")
                lines.append(
                    f"| {_SEVERITY.get(f.severity.value, f.severity.value)} | "
                    f"`{f.kind}` | {_cell(where)} | {_cell(f.message)} |"
                )
            lines.append("")
        if report.destinations:
            lines += [
                "| | Destination | Verdict | Protocol | Sent | Received | Connections |",
                "|---|---|---|---|---:|---:|---:|",
            ]
            for d in report.destinations:
                name = f"{d.host or d.ips[0]}:{d.port}"
                verdict = d.verdict + (" (blocked)" if d.blocked else "")
                lines.append(
                    f"| {_ICON.get(d.verdict, '❔')} | {_cell(name)} | {verdict} | "
                    f"{d.protocol} | {human_bytes(d.bytes_out)} | "
                    f"{human_bytes(d.bytes_in)} | {d.connections} |"
                )
            lines.append("")
        else:
            lines += ["No network destinations.", ""]
        lines += [
            "<details><summary>Run details</summary>",
            "",
            f"- mode: {report.mode}, enforcement: {report.enforcement}",
            f"- exit status: {report.exit_code} (command: {report.command_exit_code})",
            f"- packets seen: {report.packets}, dropped by the kernel: {report.dropped}",
            f"- duration: {report.duration_s:.2f} s, policy: {_cell(report.policy)}",
            f"- egressguard {report.version}",
            "",
            "</details>",
            "",
        ]
        return "\n".join(lines)

    @staticmethod
    def _headline(report: Report) -> str:
        violations = len(report.violations)
        if report.aborted:
            return f"❌ step stopped after {violations} violation(s)"
        if violations and report.mode in ("block", "analyze"):
            return f"❌ {violations} violation(s)"
        if violations:
            return f"⚠️ {violations} violation(s) (audit mode: not blocked)"
        advisories = len(report.findings)
        return "✅ clean" + (f", {advisories} advisory note(s)" if advisories else "")
