"""The project practises what it preaches: its workflow and its action pass zizmor's pedantic
audit offline, every action is pinned to a commit SHA, and permissions start empty."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
FILES = [REPO / "action" / "action.yml", *sorted((REPO / ".github" / "workflows").glob("*.yml"))]


def test_zizmor_pedantic_reports_nothing() -> None:
    zizmor = Path(sys.executable).with_name("zizmor")
    proc = subprocess.run(
        [str(zizmor), "--offline", "--persona=pedantic", "--no-progress", *map(str, FILES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_every_action_is_pinned_to_a_sha_with_its_version() -> None:
    for path in FILES:
        for line in path.read_text().splitlines():
            if "uses:" in line and not line.strip().startswith("#"):
                assert re.search(r"uses: [\w./-]+@[0-9a-f]{40} # v\d", line), f"{path}: {line}"


def test_workflows_start_with_no_permissions() -> None:
    for path in REPO.glob(".github/workflows/*.yml"):
        assert yaml.safe_load(path.read_text())["permissions"] == {}, path


def test_action_inputs_reach_scripts_only_through_env() -> None:
    action = yaml.safe_load((REPO / "action" / "action.yml").read_text())
    for step in action["runs"]["steps"]:
        assert "${{" not in step["run"], f"step {step['name']!r} interpolates into shell"
