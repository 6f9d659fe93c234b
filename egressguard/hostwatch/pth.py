"""`.pth` files: the start-up hook litellm 1.82.8's payload used. site.py executes every line of
a .pth file in a site directory that starts with `import` (then a space or tab), at every
interpreter start. We read them as site.py does, never by starting the interpreter they serve.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

_SITE_GLOBS = (
    "/usr/lib/python3*/site-packages",
    "/usr/lib/python3/dist-packages",
    "/usr/local/lib/python3*/site-packages",
    "/usr/local/lib/python3*/dist-packages",
    "/opt/*/lib/python3*/site-packages",
)
_RELATIVE_GLOBS = (
    "lib/python3*/site-packages",
    "*/lib/python3*/site-packages",
    "*/*/lib/python3*/site-packages",
)
_MAX_DIRS = 500
_MAX_PTH_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class PthFile:
    path: str
    digest: str
    executable: tuple[tuple[int, str], ...]  # (line number, line) that site.py would exec


def executable_lines(text: str) -> tuple[tuple[int, str], ...]:
    """The lines site.addpackage() passes to exec(): starting with 'import ' or 'import\\t'."""
    return tuple(
        (number, line.rstrip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.startswith(("import ", "import\t"))
    )


def site_dirs(env: dict[str, str], cwd: Path, home: Path) -> list[Path]:
    """Site directories of the interpreters a step can reach, found on disk (bounded)."""
    patterns = list(_SITE_GLOBS)
    # Interpreter prefixes: the user's, pyenv's, the active environments', and every PATH
    # entry's parent (a venv on PATH); virtualenvs a little deeper under the working directory.
    prefixes = [home / ".local", *(home / ".pyenv" / "versions").glob("*")]
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        if env.get(variable):
            prefixes.append(Path(env[variable]))
    prefixes += [Path(entry).parent for entry in env.get("PATH", "").split(os.pathsep) if entry]
    patterns += [str(prefix / _RELATIVE_GLOBS[0]) for prefix in dict.fromkeys(prefixes)]
    patterns += [str(cwd / relative) for relative in _RELATIVE_GLOBS]
    found: dict[str, Path] = {}
    for pattern in patterns:
        for match in glob.glob(pattern):
            if len(found) >= _MAX_DIRS:
                break
            found.setdefault(os.path.realpath(match), Path(match))
    return sorted(found.values())


def snapshot(dirs: list[Path]) -> dict[str, PthFile]:
    files: dict[str, PthFile] = {}
    for directory in dirs:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if name.endswith(".pth"):
                pth = _read(directory / name)
                if pth is not None:
                    files[pth.path] = pth
    return files


def changed(before: dict[str, PthFile], after: dict[str, PthFile]) -> list[PthFile]:
    """New or rewritten .pth files that carry executable lines."""
    return [
        pth
        for path, pth in sorted(after.items())
        if pth.executable and (path not in before or before[path].digest != pth.digest)
    ]


def _read(path: Path) -> PthFile | None:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_PTH_BYTES)
    except OSError:
        return None
    text = data.decode("utf-8", errors="replace")
    return PthFile(os.path.realpath(path), hashlib.sha256(data).hexdigest(), executable_lines(text))
