"""Package-manager index discovery, and the policy an audit run writes."""

from __future__ import annotations

from pathlib import Path

import yaml

from egressguard.policy.discovery import package_manager_hosts
from egressguard.policy.interface import Finding, Severity
from egressguard.report.interface import Destination
from egressguard.report.policy_writer import PolicyWriter
from tests.unit.test_reporters import REPORT


def test_indexes_from_every_place_tools_read_them(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".config" / "pip").mkdir(parents=True)
    work.mkdir()
    (home / ".config" / "pip" / "pip.conf").write_text(
        "[global]\nindex-url = https://pip-mirror.corp.example/simple\n"
        "extra-index-url =\n    https://extra.corp.example/simple\n"
    )
    (work / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "corp"\nurl = "https://uv-index.corp.example/simple"\n'
        '[[tool.poetry.source]]\nname = "p"\nurl = "https://poetry.corp.example/simple"\n'
    )
    (work / ".npmrc").write_text(
        "registry=https://npm.corp.example/\n@scope:registry=https://scoped.corp.example/\n"
    )
    env = {"PIP_FIND_LINKS": "https://links.corp.example/wheels/"}
    argv = ["sh", "-c", "pip install --index-url https://cli.corp.example/simple x && npm ci"]
    found = dict(package_manager_hosts(argv, env, work, home))
    assert set(found) == {
        "pip-mirror.corp.example",
        "extra.corp.example",
        "uv-index.corp.example",
        "poetry.corp.example",
        "npm.corp.example",
        "scoped.corp.example",
        "links.corp.example",
        "cli.corp.example",
    }
    assert found["cli.corp.example"] == "the command line"
    assert found["links.corp.example"] == "$PIP_FIND_LINKS"


def test_pip_config_file_variable_replaces_the_default_files(tmp_path: Path) -> None:
    (tmp_path / ".pip").mkdir()
    (tmp_path / ".pip" / "pip.conf").write_text("[global]\nindex-url = https://a.example/s\n")
    env = {"PIP_CONFIG_FILE": "/dev/null"}
    assert package_manager_hosts(["pip", "install", "x"], env, tmp_path, tmp_path) == []


def _destination(host: str, verdict: str) -> Destination:
    return Destination(host, ("198.18.1.1",), 443, "tcp", "tls", verdict, "", 1, 1, 1, 0.0, None)


def test_written_policy_is_minimal_wildcards_rotating_hosts_and_skips_flagged() -> None:
    from dataclasses import replace

    report = replace(
        REPORT,
        destinations=(
            _destination("pypi.org", "allowed"),
            _destination("files.pythonhosted.org", "allowed"),
            _destination("a1.cdn.corp.example", "unlisted"),
            _destination("b7.cdn.corp.example", "unlisted"),
            _destination("mirror.corp.example", "unlisted"),
            _destination("exfil.corp-upload.example", "unlisted"),
            _destination("files.pythonhosted-cdn.org", "typosquat"),
        ),
        findings=(
            *REPORT.findings,
            Finding("large-upload", Severity.HIGH, "exfil.corp-upload.example", None, None, "big"),
        ),
    )
    text = PolicyWriter().render(report)
    policy = yaml.safe_load(text)
    assert policy["version"] == 1
    assert policy["ecosystems"] == ["pypi"]
    assert policy["allow"] == ["*.cdn.corp.example", "mirror.corp.example"]
    assert "exfil.corp-upload.example: large-upload" in text
    assert "files.pythonhosted-cdn.org: typosquat" in text
