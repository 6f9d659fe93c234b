"""Places a payload writes to come back later: systemd units and timers, crontabs, shell rc
files, authorized_keys, sudoers.d, autostart entries. Snapshot before, compare after."""

from __future__ import annotations

import os
from pathlib import Path

# Package-managed trees (/lib/systemd, /usr/lib/systemd) are left out: apt installs of services
# write there, and so do the enable-links into them, which are skipped for that reason.
_PACKAGED = ("/lib/systemd/", "/usr/lib/systemd/")
_SYSTEM = (
    "/etc/systemd/system",
    "/etc/systemd/user",
    "/etc/cron.d",
    "/etc/cron.daily",
    "/etc/cron.hourly",
    "/var/spool/cron/crontabs",
    "/etc/sudoers.d",
    "/etc/xdg/autostart",
    "/etc/profile.d",
)
_SYSTEM_FILES = (
    "/etc/crontab",
    "/etc/sudoers",
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/environment",
    "/etc/ld.so.preload",
)
_HOME_DIRS = (
    ".config/systemd/user",
    ".config/autostart",
    ".config/sysmon",
    ".local/share/pgmon",
    ".config/fish/conf.d",
)
_HOME_FILES = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".ssh/authorized_keys",
    ".ssh/rc",
    ".config/fish/config.fish",
)
_MAX_FILES = 5000

Snapshot = dict[str, tuple[int, int]]  # path -> (mtime_ns, size)


def watched_paths(home: Path) -> list[Path]:
    return [
        *map(Path, _SYSTEM),
        *map(Path, _SYSTEM_FILES),
        *(home / d for d in _HOME_DIRS),
        *(home / f for f in _HOME_FILES),
    ]


def snapshot(paths: list[Path]) -> Snapshot:
    seen: Snapshot = {}
    for path in paths:
        if path.is_dir():
            for root, _dirs, files in os.walk(path):
                for name in files:
                    _stat(Path(root) / name, seen)
                if len(seen) > _MAX_FILES:
                    break
        else:
            _stat(path, seen)
    return seen


def changes(before: Snapshot, after: Snapshot) -> list[tuple[str, str]]:
    """(path, "created" | "modified") for what the run touched."""
    out = []
    for path, state in sorted(after.items()):
        if path not in before:
            out.append((path, "created"))
        elif before[path] != state:
            out.append((path, "modified"))
    return out


def _stat(path: Path, seen: Snapshot) -> None:
    try:
        if path.is_symlink() and os.path.realpath(path).startswith(_PACKAGED):
            return  # a package's unit enabled by its install, not a payload's
        info = path.stat()
    except OSError:
        return
    seen[str(path)] = (info.st_mtime_ns, info.st_size)
