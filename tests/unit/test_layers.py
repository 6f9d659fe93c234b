"""The package's layers import only from left to right: capture -> decode -> flows -> policy ->
enforce / report. scapy stays out of the product's import graph: it is for tests only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "egressguard"
ORDER = ["hostwatch", "capture", "decode", "flows", "policy", "enforce", "report"]
# enforce and report sit side by side at the right end: neither may import the other.
ALLOWED = {layer: set(ORDER[: ORDER.index(layer) + 1]) for layer in ORDER}
ALLOWED["report"] = ALLOWED["policy"] | {"report"}
SHARED = {"errors", "exitcodes", "__init__"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("layer", ORDER)
def test_layers_import_only_from_their_left(layer: str) -> None:
    wrong = []
    for path in (PACKAGE / layer).rglob("*.py"):
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] != "egressguard" or len(parts) < 2:
                continue
            if parts[1] not in ALLOWED[layer] and parts[1] not in SHARED:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert wrong == []


def test_scapy_is_not_imported_by_the_product() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(m.split(".")[0] == "scapy" for m in _imports(path))
    ]
    assert offenders == ["capture/memory.py"], "only the test-facing memory source builds packets"
