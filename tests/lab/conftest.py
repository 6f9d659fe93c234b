"""Fixtures that build the namespaced lab once per session and check it is clean after each test."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.lab.netlab import Lab, sh
from tests.lab.packages import build_world

REPO = Path(__file__).resolve().parents[2]
BENIGN = [
    line.split("==")[0]
    for line in (Path(__file__).with_name("wheels.txt")).read_text().splitlines()
    if line and not line.startswith(("#", "setuptools"))
]


def benign_requirements(folder: Path) -> list[str]:
    """`-r FILE` arguments for the dozen benign wheels, pinned with their hashes as they
    should be: `pip install --require-hashes` then raises no finding at all."""
    lines = [
        line
        for line in Path(__file__).with_name("wheels.txt").read_text().splitlines()
        if line and not line.startswith(("#", "setuptools"))
    ]
    requirements = folder / "requirements.txt"
    requirements.write_text("\n".join(lines) + "\n")
    return ["--require-hashes", "-r", str(requirements)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/lab" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab_assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        reason = "the lab needs root and iproute2 (network namespaces)"
        if os.environ.get("EGRESSGUARD_REQUIRE_LAB"):
            pytest.fail(reason)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("lab")
    ca, cert, key, www = build_world(root, REPO / ".cache" / "lab-wheels")
    return {"root": root, "ca": ca, "cert": cert, "key": key, "www": www}


@pytest.fixture(scope="session")
def session_lab(lab_assets: dict[str, Path]) -> Iterator[Lab]:
    lab = Lab(
        lab_assets["root"],
        lab_assets["ca"],
        lab_assets["cert"],
        lab_assets["key"],
        lab_assets["www"],
    ).start()
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def lab(session_lab: Lab) -> Iterator[Lab]:
    session_lab.reset_logs()
    yield session_lab
    leftovers = sh("ip", "netns", "pids", session_lab.runner, check=False).stdout.split()
    for pid in leftovers:
        subprocess.run(["kill", "-9", pid], check=False)
    assert not leftovers, f"processes left running in the runner namespace: {leftovers}"


@dataclass
class Outcome:
    returncode: int
    stderr: str
    report: dict[str, Any]
    venv: Path

    def kinds(self) -> set[str]:
        return {f["kind"] for f in self.report["findings"]}

    def violations(self) -> set[str]:
        return {f["kind"] for f in self.report["findings"] if f["severity"] in ("high", "critical")}

    def finding(self, kind: str) -> dict[str, Any]:
        return next(f for f in self.report["findings"] if f["kind"] == kind)

    def destination(self, host: str) -> dict[str, Any]:
        return next(d for d in self.report["destinations"] if d["host"] == host)

    def destination_blocked(self, host: str) -> bool:
        rows = [d for d in self.report["destinations"] if d["host"] == host]
        return all(d["blocked"] for d in rows)


def lab_env(lab: Lab) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(lab.workdir),
        "PIP_CONFIG_FILE": "/dev/null",  # this machine's pip configuration must not leak in
        "PIP_CERT": str(lab.ca_cert),
        "SSL_CERT_FILE": str(lab.ca_cert),
        "PIP_NO_INPUT": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_CACHE_DIR": "1",
    }


def pip_command(venv: Path, packages: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(venv / "bin" / "python"),
        "install",
        "--index-url",
        "https://pypi.org/simple",
        *packages,
    ]


def make_venv(folder: Path) -> Path:
    venv = folder / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    return venv


def guarded(
    lab: Lab,
    tmp_path: Path,
    packages: list[str],
    *flags: str,
    then: str = "",
    timeout: float = 180,
    env: dict[str, str] | None = None,
) -> Outcome:
    """`egressguard run FLAGS -- pip install PACKAGES [&& THEN]` inside the lab's runner."""
    venv = make_venv(tmp_path)
    command = pip_command(venv, packages)
    if then:
        command = [
            "sh",
            "-c",
            f"{shlex.join(command)} && {then.format(python=venv / 'bin/python')}",
        ]
    report = tmp_path / "report.json"
    proc = lab.run(
        [
            sys.executable,
            "-m",
            "egressguard",
            "run",
            "--report",
            str(report),
            *flags,
            "--",
            *command,
        ],
        env=lab_env(lab) | (env or {}),
        cwd=tmp_path,
        timeout=timeout,
    )
    assert report.exists(), f"no report; stderr: {proc.stderr[-2000:]}"
    return Outcome(proc.returncode, proc.stderr, json.loads(report.read_text()), venv)
