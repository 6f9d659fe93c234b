"""Host policy as a chain of small rules: known-bad, denied, allowed, legit, lookalike, unlisted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from egressguard.policy.interface import HostRule, HostVerdict, Verdict
from egressguard.policy.loader import Policy
from egressguard.policy.patterns import HostSet, normalise_host

if TYPE_CHECKING:
    from egressguard.policy.lookalike import LookalikeEngine


class KnownBadRule(HostRule):
    def __init__(self, entries: tuple[tuple[str, str], ...]) -> None:
        self._why = {normalise_host(host).removeprefix("*."): why for host, why in entries}
        self._hosts = HostSet.build((host for host, _ in entries), subtree=True)

    def evaluate(self, host: str) -> Verdict | None:
        pattern = self._hosts.match(host)
        if pattern is None:
            return None
        why = self._why.get(pattern.removeprefix("*."), "listed as known-bad")
        return Verdict(host, HostVerdict.KNOWN_BAD, f"known-bad host ({pattern}): {why}")


class DenyRule(HostRule):
    def __init__(self, patterns: tuple[str, ...], source: str) -> None:
        self._hosts = HostSet.build(patterns, subtree=False)
        self._source = source

    def evaluate(self, host: str) -> Verdict | None:
        pattern = self._hosts.match(host)
        if pattern is None:
            return None
        return Verdict(host, HostVerdict.UNLISTED, f"denied by {pattern} in {self._source}")


class AllowRule(HostRule):
    def __init__(self, patterns: tuple[str, ...], source: str) -> None:
        self._hosts = HostSet.build(patterns)
        self._source = source

    def evaluate(self, host: str) -> Verdict | None:
        pattern = self._hosts.match(host)
        if pattern is None:
            return None
        return Verdict(host, HostVerdict.ALLOWED, f"allowed by {pattern} ({self._source})")


class ConfiguredIndexRule(HostRule):
    """Package indexes the command's own tools are configured to use (pip.conf, .npmrc, ...)."""

    def __init__(self, configured: tuple[tuple[str, str], ...]) -> None:
        self._where = dict(configured)

    def evaluate(self, host: str) -> Verdict | None:
        where = self._where.get(host)
        if where is None:
            return None
        return Verdict(host, HostVerdict.ALLOWED, f"a package index configured in {where}")


class LegitimateRule(HostRule):
    """Reviewed legitimate neighbours of protected names: never lookalikes, still not allowed."""

    def __init__(self, hosts: tuple[str, ...]) -> None:
        self._hosts = HostSet.build(hosts)

    def evaluate(self, host: str) -> Verdict | None:
        if self._hosts.match(host) is None:
            return None
        return Verdict(
            host,
            HostVerdict.UNLISTED,
            "a known legitimate host, not on the allowlist: add it to `allow` if the step needs it",
        )


class LookalikeRule(HostRule):
    """Scores names with the lookalike engine, built once: by `prepare()` in the background, or
    by the first name that needs it.

    Building it (Public Suffix List, protected names) takes a large part of a cold start, and
    most runs judge only allowlisted names, so `run` prepares it only once the command is
    running; the first name that needs it waits for it.
    """

    def __init__(self, build: Callable[[], LookalikeEngine]) -> None:
        self._engine: LookalikeEngine | None = None
        self._error: BaseException | None = None
        self._builder = threading.Thread(target=self._build, args=(build,), daemon=True)
        self._started = threading.Lock()

    def prepare(self) -> None:
        """Start building in the background (once)."""
        with self._started:
            if self._builder.ident is None:  # not started yet
                self._builder.start()

    def _build(self, build: Callable[[], LookalikeEngine]) -> None:
        try:
            self._engine = build()
        except BaseException as e:  # handed to the thread that needs the engine
            self._error = e

    def evaluate(self, host: str) -> Verdict | None:
        if self._engine is None:
            self.prepare()
            self._builder.join()
            if self._error is not None:
                raise self._error
            assert self._engine is not None
        found = self._engine.match(host)
        if found is None:
            return None
        return Verdict(
            host,
            HostVerdict.TYPOSQUAT,
            f"imitates {found.similar_to} ({found.technique}: {found.detail})",
            similar_to=found.similar_to,
            technique=found.technique,
            score=found.score,
        )


class UnlistedRule(HostRule):
    def evaluate(self, host: str) -> Verdict | None:
        return Verdict(host, HostVerdict.UNLISTED, "not on the allowlist")


class HostPolicy:
    """Runs the rule chain once per name; the verdict is cached, so the live path pays once."""

    def __init__(self, rules: list[HostRule]) -> None:
        self._rules = rules
        self._cache: dict[str, Verdict] = {}
        self._lookalikes = next((r for r in rules if isinstance(r, LookalikeRule)), None)

    def _with_resemblance(self, verdict: Verdict) -> Verdict:
        """A known-bad host that also imitates infrastructure says which, as `check` shows."""
        seen = self._lookalikes.evaluate(verdict.host) if self._lookalikes else None
        if seen is None:
            return verdict
        return replace(
            verdict, similar_to=seen.similar_to, technique=seen.technique, score=seen.score
        )

    @classmethod
    def from_policy(cls, policy: Policy) -> HostPolicy:
        return cls(
            [
                KnownBadRule(policy.known_bad),
                DenyRule(policy.deny, policy.source),
                AllowRule(policy.allow, policy.source),
                ConfiguredIndexRule(policy.configured),
                LegitimateRule(policy.legitimate),
                LookalikeRule(lambda: _build_engine(policy)),
                UnlistedRule(),
            ]
        )

    def prepare(self) -> None:
        """Build the lookalike engine in the background, before a name needs it."""
        if self._lookalikes is not None:
            self._lookalikes.prepare()

    def judge(self, host: str) -> Verdict:
        name = normalise_host(host)
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        for rule in self._rules:
            verdict = rule.evaluate(name)
            if verdict is not None:
                break
        else:  # pragma: no cover - UnlistedRule always answers
            raise AssertionError("host rule chain ended without a verdict")
        if verdict.verdict == HostVerdict.KNOWN_BAD:
            verdict = self._with_resemblance(verdict)
        if len(self._cache) > 200_000:
            self._cache.clear()
        self._cache[name] = verdict
        return verdict


def _build_engine(policy: Policy) -> LookalikeEngine:
    """The engine and rapidfuzz are imported here: only a run that needs them pays."""
    from egressguard.policy.lookalike import LookalikeEngine

    return LookalikeEngine.from_policy(policy)
