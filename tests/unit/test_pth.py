"""`.pth` start-up hooks read as site.py reads them, and told apart from packaging's own."""

from __future__ import annotations

from pathlib import Path

from egressguard.hostwatch.pth import changed, executable_lines, site_dirs, snapshot
from egressguard.policy.pth import pth_findings

LITELLM_SHAPE = (
    "import os, subprocess, sys; subprocess.Popen([sys.executable, '-c', "
    "\"import base64; exec(base64.b64decode('cHJpbnQoMSk='))\"])\n"
)


def test_only_lines_starting_with_import_run() -> None:
    text = "# comment\n/some/path\nimport os\n  import indented\nimport\tsys\nimportlib\n"
    assert executable_lines(text) == ((3, "import os"), (5, "import\tsys"))


def _venv(root: Path) -> Path:
    site = root / "venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    return site


def test_new_and_rewritten_hooks_are_found_paths_only_files_are_not(tmp_path: Path) -> None:
    site = _venv(tmp_path)
    (site / "paths.pth").write_text("/opt/extra\n")
    (site / "old.pth").write_text("import os\n")
    dirs = site_dirs({"PATH": ""}, tmp_path, tmp_path / "home")
    assert site in dirs
    before = snapshot(dirs)
    (site / "evil.pth").write_text(LITELLM_SHAPE)
    (site / "old.pth").write_text("import os; os.system('true')\n")
    after = snapshot(site_dirs({"PATH": ""}, tmp_path, tmp_path / "home"))
    assert {Path(p.path).name for p in changed(before, after)} == {"evil.pth", "old.pth"}


def test_packaging_hooks_are_benign_payloads_are_not(tmp_path: Path) -> None:
    site = _venv(tmp_path)
    (site / "distutils-precedence.pth").write_text(
        "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') "
        "== 'local'; enabled and __import__('_distutils_hack').add_shim(); \n"
    )
    (site / "__editable__.demo-1.0.pth").write_text(
        "import __editable___demo_1_0_finder; __editable___demo_1_0_finder.install('x')\n"
    )
    (site / "_virtualenv.pth").write_text("import _virtualenv\n")
    (site / "litellm_init.pth").write_text(LITELLM_SHAPE)
    findings = pth_findings(changed({}, snapshot([site])), 1.5)
    assert [(f.kind, dict(f.evidence)["line"]) for f in findings] == [("pth-exec", 1)]
    assert "litellm_init.pth" in findings[0].message and findings[0].severity.is_violation
