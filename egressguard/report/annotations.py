"""GitHub Actions workflow commands: one ::error / ::warning / ::notice line per finding."""

from __future__ import annotations

from egressguard.report.interface import Report, Reporter

_COMMAND = {"critical": "error", "high": "error", "medium": "warning", "low": "notice"}


def _escape(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


class AnnotationReporter(Reporter):
    def render(self, report: Report) -> str:
        lines = []
        for f in report.findings:
            title = _escape(f"egressguard {f.kind}", property_value=True)
            lines.append(f"::{_COMMAND[f.severity.value]} title={title}::{_escape(f.message)}")
        return "".join(line + "\n" for line in lines)
