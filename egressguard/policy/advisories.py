"""Advisories about the command itself: installs that skip hash verification.

The attacks egressguard exists for were stopped cold by lockfiles with hashes, so an install
without them gets a low-severity `unpinned-install` finding. It never fails the job.
"""

from __future__ import annotations

import os
import shlex

from egressguard.policy.interface import Finding, Severity

_SHELLS = {"sh", "bash", "dash", "zsh"}
_SEPARATORS = {"&&", "||", ";", "|", "&"}


def unpinned_installs(argv: list[str]) -> list[Finding]:
    """One advisory per install step of argv (or of its `sh -c` script) that skips hashes."""
    findings = []
    for command in _commands(argv):
        advice = _advice(command)
        if advice:
            findings.append(
                Finding(
                    "unpinned-install",
                    Severity.LOW,
                    None,
                    None,
                    None,
                    f"`{' '.join(command)[:120]}` {advice}",
                    (("command", command),),
                )
            )
    return findings


def _commands(argv: list[str]) -> list[list[str]]:
    if len(argv) >= 3 and os.path.basename(argv[0]) in _SHELLS and argv[1] == "-c":
        try:
            words = shlex.split(argv[2])
        except ValueError:
            return []
    else:
        words = list(argv)
    commands: list[list[str]] = [[]]
    for word in words:
        if word in _SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    return [c for c in commands if c]


def _advice(command: list[str]) -> str | None:
    tool = os.path.basename(command[0])
    args = command[1:]
    if tool.startswith("python") and args[:2] == ["-m", "pip"]:
        tool, args = "pip", args[2:]
    if tool in ("pip", "pip3") or (tool == "uv" and args[:1] == ["pip"]):
        args = args[1:] if tool == "uv" else args
        if "install" in args and "--require-hashes" not in args and not _hash_pinned(args):
            return (
                "installs without --require-hashes: pin every dependency with its hash "
                "(pip-compile --generate-hashes, uv pip compile --generate-hashes)"
            )
    if tool == "uv" and args[:1] == ["sync"] and not {"--frozen", "--locked"} & set(args):
        return "syncs without --frozen or --locked: the lockfile's hashes may be re-resolved"
    if tool == "npm" and args[:1] in (["install"], ["i"], ["add"]):
        return "uses npm install: `npm ci` installs exactly the lockfile, with its integrity hashes"
    if (
        tool in ("yarn", "pnpm")
        and args[:1] in ([], ["install"])
        and not {"--frozen-lockfile", "--immutable"} & set(args)
    ):
        return "installs without --frozen-lockfile: the lockfile may be rewritten"
    if (
        tool == "cargo"
        and args[:1] in (["build"], ["install"], ["fetch"])
        and not {"--locked", "--frozen"} & set(args)
    ):
        return "runs without --locked: Cargo.lock may be updated"
    return None


def _hash_pinned(args: list[str]) -> bool:
    """pip turns on hash checking by itself when a requirements file carries --hash."""
    for index, arg in enumerate(args):
        path = (
            args[index + 1]
            if arg in ("-r", "--requirement") and index + 1 < len(args)
            else (arg.split("=", 1)[1] if arg.startswith("--requirement=") else None)
        )
        if path:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    if "--hash=" in handle.read(1_000_000):
                        return True
            except OSError:
                continue
    return False
