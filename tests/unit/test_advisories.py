"""Installs without hash verification get a low advisory that never fails the job."""

from __future__ import annotations

from pathlib import Path

import pytest

from egressguard.policy.advisories import unpinned_installs


@pytest.mark.parametrize(
    ("argv", "flagged"),
    [
        (["pip", "install", "requests"], True),
        (["pip", "install", "--require-hashes", "-r", "req.txt"], False),
        (["python3", "-m", "pip", "install", "."], True),
        (["uv", "pip", "install", "requests"], True),
        (["uv", "sync"], True),
        (["uv", "sync", "--frozen"], False),
        (["uv", "sync", "--locked"], False),
        (["npm", "install"], True),
        (["npm", "ci"], False),
        (["yarn", "install", "--immutable"], False),
        (["cargo", "build"], True),
        (["cargo", "build", "--locked"], False),
        (["sh", "-c", "npm ci && pip install flask"], True),
        (["bash", "-c", "uv sync --frozen && npm ci"], False),
        (["make", "deps"], False),
    ],
)
def test_unpinned_installs(argv: list[str], flagged: bool) -> None:
    findings = unpinned_installs(argv)
    assert bool(findings) == flagged
    for finding in findings:
        assert finding.kind == "unpinned-install" and not finding.severity.is_violation


def test_requirements_file_with_hashes_counts_as_pinned(tmp_path: Path) -> None:
    pinned = tmp_path / "requirements.txt"
    pinned.write_text("six==1.17.0 --hash=sha256:" + "0" * 64 + "\n")
    assert unpinned_installs(["pip", "install", "-r", str(pinned)]) == []
    loose = tmp_path / "loose.txt"
    loose.write_text("six==1.17.0\n")
    assert len(unpinned_installs(["pip", "install", "-r", str(loose)])) == 1
