"""The process table as /proc shows it: descendants of a pid, and which process owns a socket."""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass

from egressguard.flows.interface import ProcessInfo

_PROC = "/proc"


@dataclass(frozen=True, slots=True)
class ProcEntry:
    pid: int
    ppid: int
    state: str


def process_table() -> dict[int, ProcEntry]:
    table: dict[int, ProcEntry] = {}
    for name in os.listdir(_PROC):
        if not name.isdigit():
            continue
        try:
            with open(f"{_PROC}/{name}/stat", "rb") as handle:
                stat = handle.read().decode("ascii", "replace")
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 2:
            table[int(name)] = ProcEntry(int(name), int(fields[1]), fields[0])
    return table


def descendants(
    root: int, table: dict[int, ProcEntry] | None = None, exclude: set[int] | None = None
) -> list[ProcEntry]:
    """Every process below root (not root itself, nor the subtrees of `exclude`), zombies too."""
    table = table if table is not None else process_table()
    children: dict[int, list[ProcEntry]] = {}
    for entry in table.values():
        children.setdefault(entry.ppid, []).append(entry)
    found: list[ProcEntry] = []
    queue = [root]
    while queue and len(found) < 100_000:
        for child in children.get(queue.pop(), []):
            if child.pid != root and not (exclude and child.pid in exclude):
                found.append(child)
                queue.append(child.pid)
    return found


def is_descendant(pid: int, root: int) -> bool:
    """Whether pid is below root in the process tree (walking parents, bounded)."""
    for _ in range(256):
        if pid == root:
            return True
        if pid <= 1:
            return False
        try:
            with open(f"{_PROC}/{pid}/stat", "rb") as handle:
                stat = handle.read().decode("ascii", "replace")
        except OSError:
            return False
        pid = int(stat[stat.rfind(")") + 2 :].split()[1])
    return False


def describe(pid: int) -> ProcessInfo:
    try:
        exe = os.readlink(f"{_PROC}/{pid}/exe")
    except OSError:
        exe = ""
    try:
        with open(f"{_PROC}/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
        cmdline = tuple(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)
    except OSError:
        cmdline = ()
    return ProcessInfo(pid, exe, cmdline)


class SocketOwners:
    """Finds the process in a tree that owns a local TCP/UDP port, reading /proc/net."""

    def __init__(self, root: int) -> None:
        self.root = root
        self._tree: list[int] = []
        self._tree_at = 0.0

    def __call__(self, transport: str, address: str, port: int) -> ProcessInfo | None:
        pids = self._pids()
        # /proc/PID/net shows PID's network namespace: the sandbox's, once the command runs.
        inode = _socket_inode(pids[-1] if len(pids) > 1 else self.root, transport, address, port)
        if inode is None:
            return None
        target = f"socket:[{inode}]"
        for pid in pids:
            try:
                fds = os.listdir(f"{_PROC}/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(f"{_PROC}/{pid}/fd/{fd}") == target:
                        return describe(pid)
                except OSError:
                    continue
        return None

    def _pids(self) -> list[int]:
        now = time.monotonic()
        if now - self._tree_at > 0.1:
            self._tree = [self.root, *(e.pid for e in descendants(self.root) if e.state != "Z")]
            self._tree_at = now
        return self._tree


def _socket_inode(pid: int, transport: str, address: str, port: int) -> int | None:
    six = ":" in address
    table = f"{_PROC}/{pid}/net/{transport}{'6' if six else ''}"
    wanted = _proc_net_address(address, six)
    try:
        with open(table, encoding="ascii") as handle:
            next(handle, None)
            for line in handle:
                fields = line.split()
                if len(fields) < 10:
                    continue
                local_address, local_port = fields[1].split(":")
                if int(local_port, 16) == port and local_address in (wanted, _ANY[six]):
                    return int(fields[9]) or None
    except OSError:
        return None
    return None


_ANY = {False: "00000000", True: "0" * 32}


def _proc_net_address(address: str, six: bool) -> str:
    """/proc/net prints addresses as 32-bit words in host byte order."""
    raw = socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, address)
    words = struct.unpack(f"={len(raw) // 4}I", raw)
    return "".join(f"{word:08X}" for word in words)
