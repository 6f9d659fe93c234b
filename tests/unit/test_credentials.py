"""Credential files read by their own tools are fine; read by anything else they are findings."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from egressguard.flows.interface import ProcessInfo
from egressguard.hostwatch.credentials import CredentialWatch, is_credential
from egressguard.policy.credentials import read_by_owner

HOME = "/home/u"


@pytest.mark.parametrize(
    ("path", "exe", "cmdline", "owner"),
    [
        (
            ".npmrc",
            "/usr/bin/node",
            ["node", "/usr/lib/node_modules/npm/bin/npm-cli.js", "ci"],
            True,
        ),
        (".npmrc", "/usr/bin/node", ["node", "index.js"], False),  # a postinstall script
        (".netrc", "/usr/bin/python3.12", ["python", "-m", "pip", "install", "x"], True),
        (".netrc", "/usr/bin/python3.12", ["/v/bin/python", "/v/pip/__pip-runner__.py"], True),
        (
            ".netrc",
            "/usr/bin/python3.12",
            ["python", "/v/pip/_vendor/pyproject_hooks/_in_process/_in_process.py"],
            False,
        ),
        (".ssh/id_ed25519", "/usr/bin/ssh", ["ssh", "git@example"], True),
        (".ssh/id_ed25519", "/usr/bin/python3", ["python3", "setup.py", "egg_info"], False),
        (".aws/credentials", "/usr/bin/python3", ["python3", "-c", "steal()"], False),
    ],
)
def test_owner_reads(path: str, exe: str, cmdline: list[str], owner: bool) -> None:
    process = ProcessInfo(1234, exe, tuple(cmdline))
    assert read_by_owner(f"{HOME}/{path}", HOME, process) is owner


def test_which_files_are_credentials(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "work"
    assert is_credential(str(home / ".aws" / "credentials"), home, cwd)
    assert is_credential(str(cwd / ".env.production"), home, cwd)
    assert not is_credential(str(home / ".ssh" / "known_hosts"), home, cwd)
    assert not is_credential(str(home / ".ssh" / "id_ed25519.pub"), home, cwd)
    assert not is_credential(str(home / "notes.txt"), home, cwd)


def test_fanotify_names_the_process_that_opened_the_file(tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    secret = tmp_path / ".aws" / "credentials"
    secret.write_text("[default]\n")
    seen: list[tuple[str, int]] = []
    watch = CredentialWatch(tmp_path, tmp_path, lambda path, pid: seen.append((path, pid)))
    if watch.error:
        pytest.skip(watch.error)
    watch.start()
    try:
        reader = subprocess.run(["cat", str(secret)], capture_output=True, check=True)
        assert reader.returncode == 0
        for _ in range(100):
            if seen:
                break
            time.sleep(0.02)
    finally:
        watch.stop()
    assert [path for path, _ in seen] == [str(secret)]
    assert seen[0][1] > 1
