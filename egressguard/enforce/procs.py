"""The process table as /proc shows it: descendants of a pid, and which process owns a socket."""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass

from egressguard.flows.interface import FlowKey, ProcessInfo

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
    """Finds the process in a tree that owns the client side of a connection.

    The socket's inode comes from an exact sock_diag lookup by its four addresses and ports
    (one netlink round trip per network namespace the tree spans: the sandbox's, and the one
    egressguard started in), or, for UDP and where netlink is refused, from /proc/PID/net;
    then the tree's open files name its owner.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self._tree: list[int] = []
        self._spaces: list[tuple[int, int]] = []  # (namespace inode, a pid in it), newest first
        self._tree_at = 0.0
        self._last: int | None = None  # the process that owned the last connection found
        self._diag = SockDiag()

    def __call__(self, key: FlowKey) -> ProcessInfo | None:
        inode = self._inode(key)
        if inode is None and self._refresh():  # a namespace not seen before, perhaps
            inode = self._inode(key)
        if inode is None:
            return None
        target = f"socket:[{inode}]"
        # Most connections come from the process that made the last one (pip, npm): ask it
        # first, and read the tree only when it does not hold the socket.
        if self._last is not None and _holds(self._last, target):
            return describe(self._last)
        self._refresh()
        for pid in reversed(self._tree):  # the newest processes first; egressguard itself last
            if pid != self._last and _holds(pid, target):
                self._last = pid
                return describe(pid)
        return None

    def _inode(self, key: FlowKey) -> int | None:
        for namespace, pid in self._spaces:
            if key.transport == "tcp" and self._diag.answers(pid, namespace):
                inode = self._diag.inode(pid, key, namespace)  # None: closed, or not here
            else:
                inode = _socket_inode(pid, key.transport, key.client, key.client_port)
            if inode is not None:
                return inode
        return None

    def close(self) -> None:
        self._diag.close()

    def _refresh(self) -> bool:
        """The tree and its namespaces, re-read at most every 0.1 s (True when re-read)."""
        now = time.monotonic()
        if now - self._tree_at <= 0.1:
            return False
        self._tree = [self.root, *(e.pid for e in descendants(self.root) if e.state != "Z")]
        spaces: dict[int, int] = {}
        for pid in reversed(self._tree):  # the command's processes are the newest
            with contextlib.suppress(OSError):
                spaces.setdefault(os.stat(f"{_PROC}/{pid}/ns/net").st_ino, pid)
        self._spaces = list(spaces.items())
        self._tree_at = now
        return True


def _holds(pid: int, target: str) -> bool:
    """Whether pid has `target` (socket:[INODE]) among its open files."""
    try:
        fds = os.listdir(f"{_PROC}/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"{_PROC}/{pid}/fd/{fd}") == target:
                return True
    return False


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_CLONE_NEWNET = 0x40000000
_NO_COOKIE = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_INODE_AT = _HEADER.size + 4 + 48 + 16  # inet_diag_msg: 4 bytes, sockid, 4 counters, inode


class SockDiag:
    """Exact TCP socket lookups through NETLINK_SOCK_DIAG, one netlink socket per network
    namespace. /proc/net/tcp lists every socket of the namespace and costs milliseconds per
    read once thousands of connections have passed; this is one hash lookup in the kernel."""

    def __init__(self) -> None:
        self._sockets: dict[int, socket.socket | None] = {}  # namespace inode -> socket
        self._sequence = 0

    def inode(self, pid: int, key: FlowKey, namespace: int | None = None) -> int | None:
        """The inode of the client socket of `key` in pid's namespace (None: no such socket, or
        only its TIME_WAIT remains; `answers()` says whether the question could be asked).
        `namespace`: the namespace's inode, when the caller knows it already."""
        sock = self._socket_for(pid, namespace)
        if sock is None:
            return None
        six = ":" in key.client
        family = socket.AF_INET6 if six else socket.AF_INET
        try:
            local = socket.inet_pton(family, key.client).ljust(16, b"\0")
            remote = socket.inet_pton(family, key.server).ljust(16, b"\0")
        except OSError:
            return None
        self._sequence += 1
        request = struct.pack("=BBBxI", family, socket.IPPROTO_TCP, 0, _NO_COOKIE)
        request += struct.pack("!HH", key.client_port, key.server_port) + local + remote
        request += struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
        header = _HEADER.pack(
            _HEADER.size + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, self._sequence, 0
        )
        try:
            sock.send(header + request)
            reply = sock.recv(65536)
        except OSError:
            return None
        if len(reply) < _INODE_AT + 4 or _HEADER.unpack_from(reply)[1] == _NLMSG_ERROR:
            return None
        inode: int = struct.unpack_from("=I", reply, _INODE_AT)[0]
        return inode or None  # a TIME_WAIT socket has no inode

    def answers(self, pid: int, namespace: int | None = None) -> bool:
        """Whether sock_diag can be asked in pid's namespace (root, or our own namespace)."""
        return self._socket_for(pid, namespace) is not None

    def _socket_for(self, pid: int, namespace: int | None) -> socket.socket | None:
        if namespace is None:
            try:
                namespace = os.stat(f"{_PROC}/{pid}/ns/net").st_ino
            except OSError:
                return None
        if namespace not in self._sockets:
            self._sockets[namespace] = _netlink_in(f"{_PROC}/{pid}/ns/net")
        return self._sockets[namespace]

    def close(self) -> None:
        for sock in self._sockets.values():
            if sock is not None:
                sock.close()
        self._sockets.clear()


def _netlink_in(namespace: str) -> socket.socket | None:
    """A sock_diag socket in another network namespace: made by a short-lived thread that
    enters the namespace (setns changes only the calling thread); the socket stays there."""
    if os.stat(namespace).st_ino == os.stat(f"{_PROC}/self/ns/net").st_ino:
        return _netlink()
    made: list[socket.socket] = []

    def inside() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        with contextlib.suppress(OSError), open(namespace, "rb") as handle:
            if libc.setns(handle.fileno(), _CLONE_NEWNET) == 0:
                sock = _netlink()
                if sock is not None:
                    made.append(sock)

    thread = threading.Thread(target=inside, daemon=True)
    thread.start()
    thread.join(timeout=5)
    return made[0] if made else None


def _netlink() -> socket.socket | None:
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
    except OSError:
        return None
    sock.settimeout(1.0)
    return sock


def _socket_inode(pid: int, transport: str, address: str, port: int) -> int | None:
    """The inode of the socket bound to address:port, from /proc/PID/net/{tcp,udp}[6].

    The table lists every socket of the namespace, TIME_WAIT ones included: thousands after
    many short connections. So it is read in one call and searched as text (C speed), and only
    the matching lines are split: a lookup stays about a millisecond at 10,000 entries.
    """
    six = ":" in address
    table = f"{_PROC}/{pid}/net/{transport}{'6' if six else ''}"
    try:
        with open(table, encoding="ascii") as handle:
            text = handle.read()
    except OSError:
        return None
    for local in (_proc_net_address(address, six), _ANY[six]):
        needle = f" {local}:{port:04X} "
        at = text.find(needle)
        while at >= 0:
            end = text.find("\n", at)
            fields = text[at : end if end >= 0 else len(text)].split()
            local_column = text[at - 1] == ":"  # after "sl:", not the remote address
            if local_column and len(fields) >= 9 and int(fields[8]):  # TIME_WAIT: inode 0
                return int(fields[8])
            at = text.find(needle, at + 1)
    return None


_ANY = {False: "00000000", True: "0" * 32}


def _proc_net_address(address: str, six: bool) -> str:
    """/proc/net prints addresses as 32-bit words in host byte order."""
    raw = socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, address)
    words = struct.unpack(f"={len(raw) // 4}I", raw)
    return "".join(f"{word:08X}" for word in words)
