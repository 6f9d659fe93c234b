"""The CLI in-process: exit statuses of DESIGN.md, one-line errors, never a traceback."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.utils import wrpcap

from egressguard.cli import main
from tests.unit.packets import client_hello, connection, dns_answer, dns_query


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_check_flags_lookalikes_and_passes_the_real_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run_cli(capsys, "check", "pypi.org", "files.pythonhosted.org")
    assert status == 0 and "allowed" in out
    status, out, _ = run_cli(capsys, "check", "--json", "files.pythonhosted-cdn.org", "pypi.org")
    assert status == 1
    verdicts = json.loads(out)
    assert [v["verdict"] for v in verdicts] == ["typosquat", "allowed"]
    assert set(verdicts[0]) == {"host", "verdict", "similar_to", "technique", "score", "reason"}
    assert verdicts[0]["similar_to"] == "pythonhosted.org"


def test_check_rejects_what_is_not_a_host(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "check", "https://pypi.org/simple")
    assert status == 2 and err.count("\n") == 1 and "not a host name" in err


def test_analyze_exit_statuses_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = [
        dns_query("pypi.org"),
        dns_answer("pypi.org", "198.18.1.10"),
        *connection("198.18.1.10", 443, client_hello("pypi.org")),
    ]
    wrpcap(str(tmp_path / "clean.pcap"), clean)
    status, _, err = run_cli(capsys, "analyze", str(tmp_path / "clean.pcap"))
    assert status == 0 and "clean" in err

    wrpcap(str(tmp_path / "bad.pcap"), [*clean, dns_query("models.litellm.cloud")])
    report = tmp_path / "report.json"
    status, _, err = run_cli(capsys, "analyze", "--report", str(report), str(tmp_path / "bad.pcap"))
    assert status == 1
    document = json.loads(report.read_text())
    assert document["mode"] == "analyze" and document["schema"] == 1
    assert document["findings"][0]["kind"] == "known-bad"
    assert document["destinations"][0]["host"] == "pypi.org"
    assert document["stats"]["packets"] == len(clean) + 1


@pytest.mark.parametrize(
    ("argv", "status", "words"),
    [
        (["analyze", "/nonexistent.pcap"], 2, "cannot read capture"),
        (["run", "--bogus", "--", "true"], 2, "unrecognized arguments"),
        (["run"], 2, "no command given"),
        (["run", "--mode", "loud", "--", "true"], 2, "invalid choice"),
        (["check", "--policy", "/nonexistent.yml", "pypi.org"], 2, "policy file not found"),
        ([], 2, "required"),
    ],
)
def test_usage_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], status: int, words: str
) -> None:
    got, _, err = run_cli(capsys, *argv)
    assert got == status
    assert err.startswith("egressguard: ") and err.count("\n") == 1 and words in err


def test_corrupt_capture_is_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrpcap(str(tmp_path / "a.pcap"), [dns_query("pypi.org")] * 3)
    data = (tmp_path / "a.pcap").read_bytes()
    (tmp_path / "cut.pcap").write_bytes(data[:-7])
    status, _, err = run_cli(capsys, "analyze", str(tmp_path / "cut.pcap"))
    assert status == 2 and "truncated or corrupt after packet 2" in err
    assert "Traceback" not in err


def test_malformed_policy_in_the_working_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".egressguard.yml").write_text("allow:\n  - [nested]\n")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        status, _, err = run_cli(capsys, "check", "pypi.org")
    finally:
        os.chdir(cwd)
    assert status == 2 and ".egressguard.yml:2:" in err


@pytest.fixture
def netns() -> Iterator[list[str]]:
    """An empty network namespace of the test's own: egressguard captures there, not on the host."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    name = f"egu{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        yield ["ip", "netns", "exec", name]
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("block", "block mode needs root to build its network sandbox"),
        ("audit", "no permission to capture packets"),
    ],
)
def test_without_privileges_the_command_never_runs(
    tmp_path: Path, netns: list[str], mode: str, words: str
) -> None:
    marker = tmp_path / "ran"
    tmp_path.chmod(0o777)
    unprivileged = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    egressguard = [sys.executable, "-m", "egressguard", "run", "--mode", mode]
    proc = subprocess.run(
        [*netns, *unprivileged, *egressguard, "--", "touch", str(marker)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert words in proc.stderr and proc.stderr.count("\n") == 1
    assert not marker.exists(), "the command must not run unwatched"


@pytest.mark.parametrize(
    ("command", "status"),
    [
        (["sh", "-c", "exit 7"], 7),
        (["sh", "-c", "kill -9 $$"], 137),
        (["/nonexistent/tool"], 127),
        (["{plain}"], 126),
    ],
)
def test_run_exit_statuses(
    command: list[str], status: int, netns: list[str], tmp_path: Path
) -> None:
    plain = tmp_path / "not-executable"
    plain.write_text("data\n")
    plain.chmod(0o644)
    argv = [part.format(plain=plain) for part in command]
    proc = subprocess.run(
        [*netns, sys.executable, "-m", "egressguard", "run", "--quiet", "--", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == status, proc.stderr
