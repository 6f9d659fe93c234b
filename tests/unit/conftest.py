"""Helpers that run scapy-built packets through the real pipeline via the memory source."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from egressguard.capture.memory import MemorySource
from egressguard.flows.table import FlowTable
from egressguard.pipeline import Monitor
from egressguard.policy.judge import Judge, ResolverSet
from egressguard.policy.loader import Policy, load_policy


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


def judge(
    packets: Iterable[Any],
    policy: Policy,
    resolvers: Iterable[str] = ("198.18.0.1",),
    search: tuple[str, ...] = (),
) -> Monitor:
    monitor = Monitor(Judge(policy, ResolverSet(set(resolvers), search)), FlowTable())
    monitor.consume(MemorySource.from_scapy(packets))
    return monitor


def kinds(monitor: Monitor) -> list[tuple[str, str | None]]:
    return [(f.kind, f.host or f.ip) for f in monitor.findings]
