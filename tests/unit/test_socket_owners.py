"""Which process owns a connection: real sockets, a real child process, no fakes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from egressguard.enforce.procs import SockDiag, SocketOwners, _socket_inode
from egressguard.flows.interface import FlowKey


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server
    server.close()


def _key(client: socket.socket) -> FlowKey:
    local, remote = client.getsockname(), client.getpeername()
    return FlowKey("tcp", local[0], local[1], remote[0], remote[1])


def test_sock_diag_finds_the_exact_socket(listener: socket.socket) -> None:
    with socket.create_connection(listener.getsockname()) as client:
        key = _key(client)
        diag = SockDiag()
        try:
            assert diag.inode(os.getpid(), key) == os.fstat(client.fileno()).st_ino
            # One port off is another connection, which does not exist.
            other = FlowKey("tcp", key.client, key.client_port ^ 1, key.server, key.server_port)
            assert diag.inode(os.getpid(), other) is None
        finally:
            diag.close()


def test_proc_net_fallback_agrees(listener: socket.socket) -> None:
    with socket.create_connection(listener.getsockname()) as client:
        key = _key(client)
        found = _socket_inode(os.getpid(), "tcp", key.client, key.client_port)
        assert found == os.fstat(client.fileno()).st_ino


def test_owner_is_the_child_that_connected(listener: socket.socket) -> None:
    host, port = listener.getsockname()
    code = (
        "import socket, sys; s = socket.create_connection((sys.argv[1], int(sys.argv[2]))); "
        "print(s.getsockname()[1], flush=True); sys.stdin.read()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, host, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        client_port = int(child.stdout.readline())
        owners = SocketOwners(os.getpid())
        key = FlowKey("tcp", host, client_port, host, port)
        owner = None
        deadline = time.monotonic() + 5  # the tree is re-read every 0.1 s
        while owner is None and time.monotonic() < deadline:
            owner = owners(key)
            time.sleep(0.05)
        owners.close()
        assert owner is not None and owner.pid == child.pid
        assert "create_connection" in " ".join(owner.cmdline)
    finally:
        child.kill()
        child.wait(timeout=10)
        assert child.stdin is not None and child.stdout is not None
        child.stdin.close()
        child.stdout.close()
