"""`egressguard scan`: was this machine affected? Looks, without running anything, for .pth
payloads in every interpreter it can find, persistence newer than the shell's own rc files,
files real payloads left behind, and known-bad hosts in shell history."""

from __future__ import annotations

import os
from pathlib import Path

from egressguard.hostwatch import persistence, pth
from egressguard.policy.interface import Finding, Severity
from egressguard.policy.loader import Policy, bundled_rules
from egressguard.policy.patterns import HostSet
from egressguard.policy.pth import pth_findings

_HISTORIES = (".bash_history", ".zsh_history", ".local/share/fish/fish_history")


def homes() -> list[Path]:
    found = [Path("/root"), *sorted(p for p in Path("/home").glob("*") if p.is_dir())]
    return [h for h in found if h.is_dir()]


def scan(policy: Policy, roots: list[Path], env: dict[str, str], cwd: Path) -> list[Finding]:
    findings: list[Finding] = []
    for home in roots:
        files = pth.snapshot(pth.site_dirs(env, cwd, home))
        findings += pth_findings(pth.changed({}, files), 0.0)
        findings += _recent_persistence(home)
        findings += _incident_files(home)
        findings += _history(home, policy)
    return _unique(findings)


def _recent_persistence(home: Path) -> list[Finding]:
    rc = [home / name for name in (".bashrc", ".profile", ".zshrc")] + [Path("/etc/bash.bashrc")]
    times = [p.stat().st_mtime_ns for p in rc if p.exists()]
    if not times:
        return []
    newest_rc = max(times)
    units = [
        home / ".config/systemd/user",
        home / ".config/autostart",
        Path("/etc/systemd/system"),
        Path("/etc/cron.d"),
    ]
    recent = [
        path
        for path, (mtime, _) in persistence.snapshot(units).items()
        if mtime > newest_rc and not os.path.islink(path)  # enabled distro units are links
    ]
    return [
        Finding(
            "persistence",
            Severity.MEDIUM,
            None,
            None,
            None,
            f"{path} is newer than the shell's rc files: check who installed it",
            (("path", path),),
        )
        for path in sorted(recent)[:50]
    ]


def _incident_files(home: Path) -> list[Finding]:
    out = []
    for entry in bundled_rules()["tripwires"]["incident_files"]:
        path = Path(entry["path"].replace("~", str(home), 1))
        if path.exists():
            out.append(
                Finding(
                    "known-bad",
                    Severity.CRITICAL,
                    None,
                    None,
                    None,
                    f"{path} exists: {entry['why']}",
                    (("path", str(path)),),
                )
            )
    return out


def _history(home: Path, policy: Policy) -> list[Finding]:
    bad = HostSet.build((host for host, _ in policy.known_bad), subtree=True)
    out = []
    for name in _HISTORIES:
        path = home / name
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[-2_000_000:]
        except OSError:
            continue
        for word in set(text.replace("/", " ").replace("'", " ").replace('"', " ").split()):
            host = word.strip(".,;:()[]{}<>").lower()
            if "." in host and bad.match(host):
                out.append(
                    Finding(
                        "known-bad",
                        Severity.HIGH,
                        host,
                        None,
                        None,
                        f"{path} mentions the known-bad host {host}",
                        (("path", str(path)),),
                    )
                )
    return out


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    out = []
    for finding in findings:
        key = (finding.kind, finding.message)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out
