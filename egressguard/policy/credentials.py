"""Whether a credential file was read by the tool it belongs to (npm reading .npmrc, ssh
reading ~/.ssh, pip reading ~/.netrc) or by anything else, which is a `credential-read`."""

from __future__ import annotations

import os
import re
from pathlib import PurePath

from egressguard.flows.interface import ProcessInfo

# (credential path pattern, programs that own it), matched against the file's path relative to
# the home directory (or its name, for files in the working directory).
_OWNERS = (
    (
        re.compile(r"^\.npmrc$"),
        {"npm", "npm-cli.js", "npx", "yarn", "yarn.js", "pnpm", "pnpm.cjs", "corepack"},
    ),
    (
        re.compile(r"^\.netrc$"),
        {"pip", "pip3", "curl", "git", "git-remote-https", "wget", "uv", "poetry", "twine"},
    ),
    (re.compile(r"^\.ssh/"), {"ssh", "scp", "sftp", "git", "ssh-agent", "ssh-add"}),
    (re.compile(r"^\.git-credentials$"), {"git", "git-credential-store", "git-remote-https"}),
    (re.compile(r"^\.docker/"), {"docker", "docker-credential-desktop", "buildx", "podman"}),
    (re.compile(r"^\.pypirc$"), {"twine", "uv", "poetry", "flit"}),
    (re.compile(r"^\.aws/"), {"aws"}),
    (re.compile(r"^\.kube/"), {"kubectl", "helm", "kind", "k9s"}),
    (re.compile(r"^\.config/gcloud/"), {"gcloud"}),
    (re.compile(r"^\.config/gh/"), {"gh"}),
    (re.compile(r"^\.azure/"), {"az"}),
)


def program_names(process: ProcessInfo) -> set[str]:
    """The names a process answers to: its executable, argv[0], and the script or module it
    runs (`python -m pip`, `node .../npm-cli.js`)."""
    names = {os.path.basename(process.exe)}
    argv = list(process.cmdline)
    if argv:
        names.add(os.path.basename(argv[0]))
    for index, word in enumerate(argv[1:3], start=1):
        if word == "-m" and index + 1 < len(argv):
            names.add(argv[index + 1].split(".")[0])
        elif not word.startswith("-"):
            base = os.path.basename(word)
            names.add(base)
            if base in ("__main__.py", "__pip-runner__.py"):
                names.add(PurePath(word).parent.name if base == "__main__.py" else "pip")
    return names


def read_by_owner(path: str, home: str, process: ProcessInfo) -> bool:
    relative = (
        os.path.relpath(path, home) if path.startswith(home + os.sep) else (os.path.basename(path))
    )
    names = program_names(process)
    return any(pattern.match(relative) and names & owners for pattern, owners in _OWNERS)
