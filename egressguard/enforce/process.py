"""Runs the wrapped command as a process tree egressguard can always find and kill.

egressguard makes itself a child subreaper, so descendants that call setsid or double-fork to
escape are re-parented to it and stay in its tree. Started through sudo, the command runs as the
invoking user (only egressguard keeps root).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

from egressguard.enforce.procs import ProcEntry, descendants, describe, process_table
from egressguard.errors import CommandError
from egressguard.exitcodes import ExitStatus
from egressguard.flows.interface import ProcessInfo

_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class RunAs:
    uid: int
    gid: int
    groups: tuple[int, ...]
    env: dict[str, str]


def invoking_user(env: dict[str, str]) -> RunAs | None:
    """The user behind `sudo`, with the environment pip or npm would have had without sudo."""
    if os.geteuid() != 0 or "SUDO_UID" not in env:
        return None
    try:
        uid, gid = int(env["SUDO_UID"]), int(env["SUDO_GID"])
        user = pwd.getpwuid(uid)
    except (KeyError, ValueError):
        return None
    if uid == 0:
        return None
    child_env = {k: v for k, v in env.items() if not k.startswith("SUDO_")}
    child_env.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)
    groups = tuple(os.getgrouplist(user.pw_name, gid))
    return RunAs(uid, gid, groups, child_env)


def become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def resolve_command(argv: list[str], env: dict[str, str]) -> str:
    """The executable argv[0] names, or CommandError with the status a shell would give."""
    if not argv:
        raise CommandError(
            "no command given",
            "put the command after --: egressguard run -- pip install ...",
            ExitStatus.USAGE,
        )
    name = argv[0]
    if "/" in name:
        path: str | None = name
        if not os.path.exists(name):
            path = None
    else:
        path = shutil.which(name, path=env.get("PATH", os.defpath))
    if path is None:
        raise CommandError(
            f"command not found: {name}", "check its spelling and PATH", ExitStatus.NOT_FOUND
        )
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise CommandError(
            f"command is not executable: {name}",
            "check its permissions",
            ExitStatus.NOT_EXECUTABLE,
        )
    return path


class ProcessTree:
    """The wrapped command and everything it starts."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        run_as: RunAs | None = None,
        launcher: list[str] | None = None,
    ) -> None:
        """`launcher` runs the command elsewhere (inside the sandbox, as run_as); without one,
        Popen itself switches to run_as."""
        self.argv = argv
        self.env = run_as.env if run_as else env
        self.executable = resolve_command(argv, self.env)
        self.run_as = run_as
        self.launcher = launcher
        self.subreaper = become_subreaper()
        self._proc: subprocess.Popen[bytes] | None = None
        self._foreign: set[int] = set()

    def start(self) -> None:
        # Children we already had (a test harness's servers, say) are not the command's.
        self._foreign = {e.pid for e in descendants(os.getpid()) if e.ppid == os.getpid()}
        run_as = None if self.launcher else self.run_as
        try:
            self._proc = subprocess.Popen(
                [*(self.launcher or []), self.executable, *self.argv[1:]],
                env=self.env,
                user=run_as.uid if run_as else None,
                group=run_as.gid if run_as else None,
                extra_groups=list(run_as.groups) if run_as else None,
            )
        except PermissionError as e:
            raise CommandError(
                f"cannot execute {self.argv[0]}: {e.strerror}",
                "check its permissions",
                ExitStatus.NOT_EXECUTABLE,
            ) from e
        except OSError as e:
            raise CommandError(
                f"cannot execute {self.argv[0]}: {e.strerror}",
                "check the command",
                ExitStatus.NOT_EXECUTABLE,
            ) from e

    def wait(self, timeout: float | None = None) -> int | None:
        assert self._proc is not None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def living(self) -> list[ProcEntry]:
        """Descendants still running (zombies re-parented to us are reaped on the way)."""
        root = os.getpid()
        table = process_table()
        alive = []
        main = self._proc.pid if self._proc else -1
        for entry in descendants(root, table, exclude=self._foreign):
            if entry.state == "Z":
                if entry.ppid == root and entry.pid != main:
                    _reap(entry.pid)
                continue
            alive.append(entry)
        return alive

    def orphans(self) -> list[ProcessInfo]:
        """Processes left running after the command itself exited."""
        return [describe(entry.pid) for entry in self.living()]

    def signal_all(self, signum: int = signal.SIGKILL) -> int:
        """Send signum to every living process of the tree once; returns how many got it."""
        sent = 0
        for entry in self.living():
            try:
                os.kill(entry.pid, signum)
                sent += 1
            except ProcessLookupError:
                continue
        return sent

    def kill(self, deadline_s: float = 3.0) -> int:
        """SIGKILL the whole tree until nothing is left (bounded in rounds and time)."""
        killed = 0
        end = time.monotonic() + deadline_s
        for _ in range(400):
            sent = self.signal_all()
            if not sent or time.monotonic() > end:
                break
            killed = max(killed, sent)
            time.sleep(0.005)
        return killed


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
