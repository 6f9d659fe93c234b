"""The human summary printed to stderr at the end of a run or an analysis."""

from __future__ import annotations

from egressguard.report.interface import Report, Reporter

_MARK = {
    "allowed": "ok",
    "unlisted": "UNLISTED",
    "typosquat": "LOOKALIKE",
    "known-bad": "KNOWN-BAD",
    "direct-ip": "DIRECT-IP",
    "dns-bypass": "DNS-BYPASS",
}


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


class ConsoleReporter(Reporter):
    def render(self, report: Report) -> str:
        how = f" ({report.enforcement})" if report.mode == "block" else ""
        lines = [f"egressguard {report.mode}{how}: {self._outcome(report)}"]
        if report.destinations:
            lines.append("destinations:")
            width = max(len(self._name(d.host, d.ips, d.port)) for d in report.destinations)
            for d in report.destinations:
                name = self._name(d.host, d.ips, d.port)
                lines.append(
                    f"  {name:<{width}}  {_MARK.get(d.verdict, d.verdict):<10} "
                    f"{d.protocol:<5} out {human_bytes(d.bytes_out):>10}  "
                    f"in {human_bytes(d.bytes_in):>10}  x{d.connections}"
                    + ("  blocked" if d.blocked else "")
                )
        else:
            lines.append("destinations: none")
        if report.findings:
            lines.append("findings:")
            for f in report.findings:
                lines.append(f"  [{f.severity.value}] {f.kind}: {f.message}")
        lines.append(f"packets: {report.packets} seen, {report.dropped} dropped by the kernel")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _name(host: str | None, ips: tuple[str, ...], port: int) -> str:
        return f"{host or ips[0]}:{port}"

    @staticmethod
    def _outcome(report: Report) -> str:
        violations = len(report.violations)
        if report.mode == "analyze":
            return f"{violations} violation(s) in {report.capture}" if violations else "clean"
        if report.aborted:
            return f"command aborted after {violations} violation(s); exit {report.exit_code}"
        if violations and report.mode == "block":
            return f"{violations} violation(s); exit {report.exit_code}"
        if violations:
            return f"{violations} violation(s) reported (audit); exit {report.exit_code}"
        return f"clean; exit {report.exit_code}"
