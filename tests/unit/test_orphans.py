"""Process trees: children that setsid or double-fork are still found and killed."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from egressguard.enforce.process import ProcessTree, become_subreaper

ESCAPE = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(sys.argv[1], "w") as handle:
            handle.write(str(os.getpid()))
        time.sleep(30)
    os._exit(0)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not become_subreaper(), reason="needs PR_SET_CHILD_SUBREAPER")
def test_double_forked_setsid_child_is_found_and_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    tree = ProcessTree([sys.executable, "-c", ESCAPE, str(pidfile)], dict(os.environ))
    tree.start()
    assert tree.wait(timeout=20) == 0
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.01)
    escaped = int(pidfile.read_text())
    assert [p.pid for p in tree.orphans()] == [escaped]
    assert tree.kill() >= 1
    assert not _alive(escaped)
    assert tree.orphans() == []
