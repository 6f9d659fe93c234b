"""`--write-policy`: the smallest policy that would have allowed a run's benign traffic.

Bundled ecosystems are chosen greedily to cover the hosts the run reached; what none covers is
listed under `allow`, as a wildcard where several names differ only in their first label (CDN
hosts that rotate). Nothing a finding flagged is ever allowed: lookalikes, known-bad hosts,
hosts that took too large an upload, zones that carried DNS data, bare addresses.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from egressguard.policy.loader import bundled_rules
from egressguard.policy.patterns import HostSet
from egressguard.policy.psl import split
from egressguard.report.interface import Report, Reporter

_BENIGN_KINDS = {"unlisted-host", "unpinned-install", "orphan-process"}


class PolicyWriter(Reporter):
    def render(self, report: Report) -> str:
        flagged: dict[str, set[str]] = defaultdict(set)
        for f in report.findings:
            if f.host and f.kind not in _BENIGN_KINDS:
                flagged[f.host].add(f.kind)
        reached = sorted(
            {
                d.host
                for d in report.destinations
                if d.host and d.verdict in ("allowed", "unlisted") and not _under(d.host, flagged)
            }
        )
        ecosystems = bundled_rules()["allowlist"]["ecosystems"]
        chosen, uncovered = _cover(reached, {n: HostSet.build(h) for n, h in ecosystems.items()})
        command = " ".join(report.command or ())
        lines = [
            f"# Written by egressguard {report.version} on "
            f"{dt.date.today().isoformat()} from an {report.mode} run of:",
            f"#   {command[:200]}",
            "# The smallest policy that allows what that run reached. Review it before you",
            "# commit it: everything listed here will be allowed in block mode.",
            "version: 1",
            f"ecosystems: [{', '.join(chosen)}]",
        ]
        allow = _wildcards(uncovered)
        lines += ["allow:", *(f'  - "{p}"' for p in allow)] if allow else ["allow: []"]
        if flagged:
            lines.append("# Seen but never allowed (flagged by the run):")
            lines += [
                f"#   {host}: {', '.join(sorted(kinds))}" for host, kinds in sorted(flagged.items())
            ]
        return "\n".join(lines) + "\n"


def _under(host: str, flagged: dict[str, set[str]]) -> bool:
    return any(host == name or host.endswith("." + name) for name in flagged)


def _cover(hosts: list[str], ecosystems: dict[str, HostSet]) -> tuple[list[str], list[str]]:
    """Greedy set cover: the fewest bundled ecosystems that allow the most reached hosts."""
    left = set(hosts)
    chosen: list[str] = []
    while left:
        best, covered = max(
            (
                (name, {h for h in left if patterns.match(h)})
                for name, patterns in ecosystems.items()
            ),
            key=lambda item: (len(item[1]), -len(item[0])),
        )
        if not covered:
            break
        chosen.append(best)
        left -= covered
    return sorted(chosen), sorted(left)


def _wildcards(hosts: list[str]) -> list[str]:
    by_parent: dict[str, list[str]] = defaultdict(list)
    for host in hosts:
        parent = host.split(".", 1)[1] if "." in host else host
        by_parent[parent].append(host)
    out = []
    for parent, names in sorted(by_parent.items()):
        if len(names) >= 2 and split(parent, private=True) is not None:
            out.append(f"*.{parent}")
        else:
            out.extend(names)
    return sorted(out)
