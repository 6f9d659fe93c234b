"""The block-mode sandbox: its firewall text, and nothing of it surviving a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from egressguard.enforce.firewall import Door, ruleset


def test_ruleset_redirects_tcp_and_drops_everything_else() -> None:
    text = ruleset(Door("egressguard_42", "egl42h", "198.19.0.1", 40000))
    assert 'iifname "egl42h" meta l4proto tcp redirect to :40000' in text
    assert 'iifname "egl42h" ip daddr 198.19.0.1 udp dport 53 accept' in text
    assert text.count('iifname "egl42h" counter drop') == 2  # input and forward
    assert "table inet egressguard_42" in text


def _wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or subprocess.run(["which", "nft"], capture_output=True).returncode:
        pytest.skip("needs root and nftables")
    name = f"egs{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


def test_sigkill_leaves_no_namespace_table_or_process(netns: str, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    duration = 40000 + os.getpid() % 10000  # a sleep no other process on the machine runs
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            netns,
            sys.executable,
            "-m",
            "egressguard",
            "run",
            "--quiet",
            "--",
            "sh",
            "-c",
            f"touch {marker}; exec sleep {duration}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sandbox = f"egl-{proc.pid}"
    try:
        assert _wait_for(marker.exists, 20), "the command never started in the sandbox"
        assert (
            sandbox
            in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

        def leftovers() -> list[str]:
            namespaces = subprocess.run(
                ["ip", "netns", "list"], capture_output=True, text=True
            ).stdout
            tables = subprocess.run(
                ["ip", "netns", "exec", netns, "nft", "list", "tables"],
                capture_output=True,
                text=True,
            ).stdout
            links = subprocess.run(
                ["ip", "-n", netns, "-o", "link"], capture_output=True, text=True
            ).stdout
            sleeping = subprocess.run(
                ["pgrep", "-af", f"^sleep {duration}$"], capture_output=True, text=True
            ).stdout
            found = [
                f"namespace {sandbox}" if sandbox in namespaces else "",
                f"table {tables.strip()}" if "egressguard_" in tables else "",
                f"link egl{proc.pid}h" if f"egl{proc.pid}h" in links else "",
                f"process {sleeping.strip()}" if sleeping else "",
                "/etc/netns folder" if Path(f"/etc/netns/{sandbox}").exists() else "",
            ]
            return [item for item in found if item]

        assert _wait_for(lambda: not leftovers(), 30), f"left behind: {leftovers()}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_a_policy_error_after_the_sandbox_started_leaves_nothing(
    netns: str, tmp_path: Path
) -> None:
    """The sandbox is built while the policy loads: a malformed policy must still end the
    run before the command, and take the half-used sandbox with it."""
    marker = tmp_path / "ran"
    policy = tmp_path / "bad.yml"
    policy.write_text("allow: [pypi.org\n")
    egressguard = [sys.executable, "-m", "egressguard", "run", "--policy", str(policy)]
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, *egressguard, "--", "touch", str(marker)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "bad.yml" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert not marker.exists(), "the command must not run"
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    tables = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "list", "tables"], capture_output=True, text=True
    ).stdout
    links = subprocess.run(["ip", "-n", netns, "-o", "link"], capture_output=True, text=True)
    assert "egl-" not in namespaces and "egressguard_" not in tables
    assert " egl" not in links.stdout, links.stdout


def test_discard_removes_a_sandbox_nobody_took(netns: str) -> None:
    """Checked from inside the process that built it: while that process lives its watchdog
    cannot act, so only `discard()` can have removed namespace, link and table."""
    code = (
        "import os, subprocess, sys\n"
        "from egressguard.enforce.sandbox import SandboxStart\n"
        "start = SandboxStart()\n"
        "start.discard()\n"
        "print(os.listdir('/run/netns'))\n"
        "print(subprocess.run(['nft', 'list', 'tables'], capture_output=True, text=True).stdout)\n"
        "print(subprocess.run(['ip', '-o', 'link'], capture_output=True, text=True).stdout)\n"
        "print('pid', os.getpid())\n"
    )
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    seen, pid = proc.stdout.rsplit("pid ", 1)
    pid = pid.strip()
    for left in (f"egl-{pid}", f"egressguard_{pid}", f"egl{pid}h"):
        assert left not in seen, f"{left} left behind"
