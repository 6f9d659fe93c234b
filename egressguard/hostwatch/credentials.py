"""Who opens credential files during the run, through fanotify (the kernel names the process).

Watched: the directories of cloud, cluster, SSH and container credentials under the user's
home, and the home and working directory themselves for dotfiles (.npmrc, .pypirc,
.git-credentials, .netrc, shell history, .env files). fanotify needs CAP_SYS_ADMIN; without it
the watch is simply off and says so.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import threading
from collections.abc import Callable
from pathlib import Path

_FAN_CLASS_NOTIF = 0x0
_FAN_CLOEXEC = 0x1
_FAN_NONBLOCK = 0x2
_FAN_MARK_ADD = 0x1
_FAN_OPEN = 0x20
_FAN_EVENT_ON_CHILD = 0x08000000
_AT_FDCWD = -100
_METADATA = struct.Struct("=IBBHQii")  # event_len, vers, reserved, metadata_len, mask, fd, pid

CREDENTIAL_DIRS = (
    ".aws",
    ".ssh",
    ".kube",
    ".azure",
    ".docker",
    ".config/gcloud",
    ".gnupg",
    ".config/gh",
)
DOTFILES = (
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".netrc",
    ".bash_history",
    ".zsh_history",
    ".psql_history",
    ".mysql_history",
    ".vault-token",
    ".env",
)
_PUBLIC = ("known_hosts", ".pub", "config.d")  # readable by design: not secrets


def is_credential(path: str, home: Path, cwd: Path) -> bool:
    p = Path(path)
    if any(p.name.endswith(suffix) or p.name == suffix for suffix in _PUBLIC):
        return False
    if p.parent in (home, cwd):
        return p.name in DOTFILES or p.name.startswith(".env")
    return any(p.is_relative_to(home / d) for d in CREDENTIAL_DIRS)


class CredentialWatch:
    """Calls `on_open(path, pid)` for every open of a credential file, from its own thread."""

    def __init__(self, home: Path, cwd: Path, on_open: Callable[[str, int], None]) -> None:
        self.home, self.cwd, self._on_open = home, cwd, on_open
        self.error: str | None = None
        self._fd = -1
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._read, daemon=True)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            self._fd = libc.fanotify_init(
                _FAN_CLASS_NOTIF | _FAN_CLOEXEC | _FAN_NONBLOCK, os.O_RDONLY | os.O_LARGEFILE
            )
            if self._fd < 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            marked = 0
            for directory in {home, cwd, *(home / d for d in CREDENTIAL_DIRS)}:
                if directory.is_dir():
                    result = libc.fanotify_mark(
                        self._fd,
                        _FAN_MARK_ADD,
                        _FAN_OPEN | _FAN_EVENT_ON_CHILD,
                        _AT_FDCWD,
                        str(directory).encode(),
                    )
                    marked += result == 0
            if not marked:
                raise OSError("nothing to watch")
        except (OSError, AttributeError) as e:
            self.error = f"credential-read watch is off ({e})"
            self._close_fd()

    def start(self) -> None:
        if self._fd >= 0:
            self._thread.start()

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._close_fd()
        for fd in (self._stop_r, self._stop_w):
            os.close(fd)

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self._fd, self._stop_r], [], [])
            if self._stop_r in ready:
                self._drain()
                return
            self._drain()

    def _drain(self) -> None:
        try:
            data = os.read(self._fd, 64 * 1024)
        except BlockingIOError:
            return
        offset = 0
        while offset + _METADATA.size <= len(data):
            length, _, _, _, _mask, fd, pid = _METADATA.unpack_from(data, offset)
            if fd >= 0:
                try:
                    path = os.readlink(f"/proc/self/fd/{fd}")
                finally:
                    os.close(fd)
                if is_credential(path, self.home, self.cwd):
                    self._on_open(path, pid)
            offset += max(length, _METADATA.size)
