"""Which executable .pth lines are the packaging tools' own, and which are a `pth-exec`."""

from __future__ import annotations

import re
from pathlib import PurePath

from egressguard.hostwatch.pth import PthFile
from egressguard.policy.interface import Finding, Severity

# Lines setuptools, virtualenv and editable installs write themselves.
_BENIGN = (
    re.compile(r"^import os; var = 'SETUPTOOLS_USE_DISTUTILS'; "),  # distutils-precedence.pth
    re.compile(r"^import _virtualenv$"),  # virtualenv's _virtualenv.pth
    re.compile(r"^import (__editable___[\w.]+_finder); \1\.install\("),  # editable installs
    re.compile(r"^import sys, types, os;has_mfs = "),  # setuptools' -nspkg.pth namespaces
    re.compile(r"^import _distutils_hack"),
)


def pth_findings(files: list[PthFile], ts: float) -> list[Finding]:
    findings = []
    for pth in files:
        suspicious = [
            (n, line)
            for n, line in pth.executable
            if not any(pattern.match(line) for pattern in _BENIGN)
        ]
        if not suspicious:
            continue
        number, line = suspicious[0]
        shown = line if len(line) <= 160 else line[:157] + "..."
        findings.append(
            Finding(
                "pth-exec",
                Severity.HIGH,
                None,
                None,
                None,
                f"{PurePath(pth.path).name} runs code at every Python start "
                f"(line {number}): {shown}",
                (
                    ("path", pth.path),
                    ("line", number),
                    ("sha256", pth.digest),
                    ("executable_lines", len(suspicious)),
                ),
                ts,
            )
        )
    return findings
