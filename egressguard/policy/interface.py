"""Verdicts on hosts, findings on traffic, and the one-method rule interface."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def is_violation(self) -> bool:
        return self in (Severity.HIGH, Severity.CRITICAL)


class HostVerdict(StrEnum):
    ALLOWED = "allowed"
    UNLISTED = "unlisted"
    TYPOSQUAT = "typosquat"
    KNOWN_BAD = "known-bad"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What policy says of one host name, and why, in words a user reads in the report."""

    host: str
    verdict: HostVerdict
    reason: str
    similar_to: str | None = None
    technique: str | None = None
    score: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "verdict": self.verdict.value,
            "similar_to": self.similar_to,
            "technique": self.technique,
            "score": self.score,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    severity: Severity
    host: str | None
    ip: str | None
    port: int | None
    message: str
    evidence: tuple[tuple[str, Any], ...] = ()
    time: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity.value,
            "host": self.host,
            "ip": self.ip,
            "port": self.port,
            "message": self.message,
            "evidence": dict(self.evidence),
            "time": round(self.time, 4),
        }


class HostRule(abc.ABC):
    """One composable piece of host policy: a verdict, or None to let the next rule decide."""

    @abc.abstractmethod
    def evaluate(self, host: str) -> Verdict | None: ...
