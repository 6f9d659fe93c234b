"""SARIF 2.1.0 for code scanning: one rule per finding kind, one result per finding."""

from __future__ import annotations

import hashlib
import json

from egressguard.policy.interface import Finding
from egressguard.report.interface import Report, Reporter

INFO_URI = "https://github.com/egressguard/egressguard"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
_RULES = {
    "unlisted-host": "Connection to a host on no allowlist",
    "typosquat": "Destination imitates package-registry or CI infrastructure",
    "known-bad": "Destination used by a real supply-chain attack",
    "large-upload": "Upload above the destination's limit",
    "direct-ip": "Connection to an address no DNS answer named",
    "dns-exfil": "Data smuggled out in DNS query names",
    "dns-bypass": "DNS sent around the system resolver",
    "orphan-process": "Processes left running after the step ended",
    "unpinned-install": "Dependencies installed without hash verification",
    "metadata-access": "Cloud instance-metadata service contacted",
    "secret-in-cleartext": "A credential left the step unencrypted",
}


class SarifReporter(Reporter):
    """`location` is the file results point at (the policy, or the workflow that ran the step)."""

    def __init__(self, location: str = ".egressguard.yml") -> None:
        self.location = location

    def render(self, report: Report) -> str:
        kinds = sorted({f.kind for f in report.findings} | {"unlisted-host", "typosquat"})
        document = {
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "egressguard",
                            "version": report.version,
                            "informationUri": INFO_URI,
                            "rules": [self._rule(kind) for kind in kinds],
                        }
                    },
                    "invocations": [
                        {
                            "executionSuccessful": True,
                            "commandLine": " ".join(report.command) if report.command else "",
                            "exitCode": report.exit_code,
                        }
                    ],
                    "results": [self._result(f, kinds) for f in report.findings],
                }
            ],
        }
        return json.dumps(document, indent=2) + "\n"

    @staticmethod
    def _rule(kind: str) -> dict[str, object]:
        return {
            "id": kind,
            "name": "".join(part.capitalize() for part in kind.split("-")),
            "shortDescription": {"text": _RULES.get(kind, kind)},
            "helpUri": f"{INFO_URI}#what-it-finds",
        }

    def _result(self, finding: Finding, kinds: list[str]) -> dict[str, object]:
        identity = f"{finding.kind}:{finding.host or finding.ip}"
        return {
            "ruleId": finding.kind,
            "ruleIndex": kinds.index(finding.kind),
            "level": _LEVEL[finding.severity.value],
            "message": {"text": finding.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": self.location},
                        "region": {"startLine": 1},
                    }
                }
            ],
            "partialFingerprints": {
                "egressguardFinding/v1": hashlib.sha256(identity.encode()).hexdigest()[:32]
            },
            "properties": {
                "destination": finding.host or finding.ip,
                "port": finding.port,
                "severity": finding.severity.value,
            },
        }
