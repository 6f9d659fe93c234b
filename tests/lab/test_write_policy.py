"""--write-policy: an audit run's policy lets the same benign job pass in block mode, and still
blocks the attack the audit run saw."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from tests.lab.conftest import benign_requirements, guarded
from tests.lab.netlab import LOOKALIKE_IP, Lab

FETCH = (
    '{python} -c "import urllib.request; '
    "urllib.request.urlopen('https://mirror.corp-pkgs.test/simple/').read()\""
)


def test_written_policy_passes_the_benign_job_and_blocks_the_attack(
    lab: Lab, tmp_path: Path
) -> None:
    policy = tmp_path / "egressguard.yml"
    audit_dir = tmp_path / "audit"
    audit_dir.mkdir()
    attack = " ".join(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            "{python}",
            "install",
            "--index-url",
            "https://pypi.org/simple",
            "egl-lookalike-post",
        ]
    )
    audit = guarded(
        lab,
        audit_dir,
        benign_requirements(audit_dir),
        "--mode",
        "audit",
        "--write-policy",
        str(policy),
        then=f"{FETCH} && {attack}",
    )
    assert audit.returncode == 0 and "typosquat" in audit.kinds()
    written = yaml.safe_load(policy.read_text())
    assert written["ecosystems"] == ["pypi"]
    assert written["allow"] == ["mirror.corp-pkgs.test"]
    assert "files.pythonhosted-cdn.org" not in policy.read_text().split("# Seen but")[0]

    benign_dir = tmp_path / "benign"
    benign_dir.mkdir()
    benign = guarded(
        lab, benign_dir, benign_requirements(benign_dir), "--policy", str(policy), then=FETCH
    )
    assert benign.returncode == 0, benign.stderr
    assert benign.report["findings"] == []

    attack_dir = tmp_path / "attack"
    attack_dir.mkdir()
    lab.reset_logs()
    attack = guarded(lab, attack_dir, ["egl-lookalike-post"], "--policy", str(policy))
    assert attack.returncode == 3 and "typosquat" in attack.kinds()
    assert lab.uploads(server=LOOKALIKE_IP) == 0


def test_the_tools_own_index_configuration_is_allowed(lab: Lab, tmp_path: Path) -> None:
    """pip told to use the company mirror needs no policy entry for it."""
    outcome = guarded(
        lab,
        tmp_path,
        [
            *benign_requirements(tmp_path),
            "--extra-index-url",
            "https://mirror.corp-pkgs.test/simple",
        ],
    )
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.report["findings"] == []
    assert "mirror.corp-pkgs.test" in {d["host"] for d in outcome.report["destinations"]}
