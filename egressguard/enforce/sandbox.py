"""The sandbox block mode runs the command in: its own network namespace behind a veth.

    command (netns egl-PID) --veth--> host namespace: DNS gate on the gateway address,
                                      TCP relay (every TCP connection is redirected to it),
                                      nftables: nothing else is forwarded or delivered

Nothing leaves the sandbox that egressguard did not send on itself. A watchdog process removes
namespace and table if egressguard is killed; stale tables of dead runs are removed at start.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from egressguard.enforce import firewall
from egressguard.enforce.watchdog import CLEAN
from egressguard.errors import EnforcementError

NETNS_PREFIX = "egl-"
_POOL = ipaddress.ip_network("198.19.0.0/16")  # RFC 2544 benchmarking space: not a real network
_NETNS_ETC = Path("/etc/netns")


def _ip(*args: str, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=30)


def _batch(commands: list[str], netns: str | None = None) -> subprocess.CompletedProcess[str]:
    """Several ip commands in one process (`ip -batch`): a sandbox starts in a few forks."""
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return subprocess.run(
        [*prefix, "-batch", "-"],
        input="\n".join(commands) + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )


def _must(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if proc.returncode != 0:
        raise EnforcementError(
            f"cannot {what}: {proc.stderr.strip()[:200]}",
            "block mode needs root and network namespaces; or use --mode audit",
        )


@dataclass
class Sandbox:
    """A network namespace for one run, with its veth, addresses, resolver file and firewall."""

    netns: str
    host_if: str
    inner_if: str
    gateway: str
    address: str
    table: str
    relay_port: int = 0
    _watchdog: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def create(cls, etc_hosts: str) -> Sandbox:
        """The namespace and its link; `seal()` adds the firewall once the relay listens."""
        _preflight()
        remove_stale()
        pid = os.getpid()
        gateway, address = _free_link()
        box = cls(
            netns=f"{NETNS_PREFIX}{pid}",
            host_if=f"egl{pid}h",
            inner_if=f"egl{pid}c",
            gateway=gateway,
            address=address,
            table=f"{firewall.TABLE_PREFIX}{pid}",
        )
        try:
            box._start_watchdog()
            box._build(etc_hosts)
        except OSError as e:
            box.close()
            raise EnforcementError(
                f"cannot build the network sandbox: {e.strerror or e}",
                "block mode needs root with write access to /etc/netns and /run/netns; "
                "or use --mode audit",
            ) from e
        except BaseException:
            box.close()
            raise
        return box

    def _build(self, etc_hosts: str) -> None:
        etc = _NETNS_ETC / self.netns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {self.gateway}\noptions edns0\n")
        (etc / "hosts").write_text(etc_hosts)
        _must(
            _batch(
                [
                    f"netns add {self.netns}",
                    f"link add {self.host_if} type veth"
                    f" peer name {self.inner_if} netns {self.netns}",
                    f"addr add {self.gateway}/30 dev {self.host_if}",
                    f"link set {self.host_if} up",
                ]
            ),
            "create the sandbox's network namespace and veth pair",
        )
        _must(
            _batch(
                [
                    "link set lo up",
                    f"addr add {self.address}/30 dev {self.inner_if}",
                    f"link set {self.inner_if} up",
                    f"route add default via {self.gateway}",
                ],
                netns=self.netns,
            ),
            "configure the sandbox's network",
        )

    def seal(self, relay_port: int) -> None:
        """Install the firewall: from now on only the gate and the relay are reachable."""
        self.relay_port = relay_port
        door = firewall.Door(self.table, self.host_if, self.gateway, relay_port)
        firewall.apply(firewall.ruleset(door))

    def _start_watchdog(self) -> None:
        self._watchdog = subprocess.Popen(
            [sys.executable, "-m", "egressguard.enforce.watchdog", self.netns, self.table],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def launcher(self, uid: int | None = None, gid: int | None = None) -> list[str]:
        """The argv prefix that runs a command inside the sandbox (as uid:gid when given)."""
        prefix = ["ip", "netns", "exec", self.netns]
        if uid is not None and gid is not None:
            setpriv = shutil.which("setpriv") or "setpriv"
            prefix += [setpriv, f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--"]
        return prefix

    def close(self) -> None:
        teardown(self.netns, self.table)
        if self._watchdog is not None:
            assert self._watchdog.stdin is not None
            with contextlib.suppress(OSError):  # a watchdog that died early: nothing to tell
                self._watchdog.stdin.write(CLEAN)  # nothing left for it to remove: it exits
            with contextlib.suppress(OSError):
                self._watchdog.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=5)
            self._watchdog = None


class SandboxStart:
    """Builds the sandbox in a thread, so its `ip` processes run while the caller imports and
    loads policy; `take()` hands it over (or raises what went wrong), and `discard()` removes
    it if nobody took it (a policy error after the start, for instance)."""

    def __init__(self) -> None:
        self._box: Sandbox | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._thread = threading.Thread(target=self._build, daemon=True)
        self._thread.start()

    def _build(self) -> None:
        try:
            self._box = Sandbox.create(host_file_text())
        except BaseException as e:  # handed to the thread that takes the sandbox
            self._error = e

    def take(self) -> Sandbox:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._box is not None
        self._taken = True
        return self._box

    def discard(self) -> None:
        self._thread.join()
        if self._box is not None and not self._taken:
            self._box.close()


def host_file_text() -> str:
    """The /etc/hosts the sandbox gets: the machine's own."""
    try:
        return Path("/etc/hosts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "127.0.0.1 localhost\n"


def teardown(netns: str, table: str) -> None:
    """Kill what runs in the namespace, remove it, its /etc/netns folder and the table."""
    pids = _ip("netns", "pids", netns).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            continue
    _ip("netns", "del", netns)
    shutil.rmtree(_NETNS_ETC / netns, ignore_errors=True)
    firewall.delete_table(table)


def remove_stale() -> None:
    """Namespaces and tables left by egressguard runs that died without cleaning up."""
    alive = {int(p) for p in os.listdir("/proc") if p.isdigit()}
    for table in firewall.stale_tables(alive):
        firewall.delete_table(table)
    try:
        names = os.listdir("/run/netns")  # where `ip netns add` puts them
    except OSError:
        names = []
    for name in names:
        owner = name.removeprefix(NETNS_PREFIX)
        if name.startswith(NETNS_PREFIX) and owner.isdigit() and int(owner) not in alive:
            teardown(name, f"{firewall.TABLE_PREFIX}{owner}")


def _preflight() -> None:
    if os.geteuid() != 0:
        raise EnforcementError(
            "block mode needs root to build its network sandbox",
            "run it with sudo (the command itself still runs as you), or use --mode audit",
        )
    if shutil.which("ip") is None:
        raise EnforcementError(
            "block mode needs iproute2 (the `ip` command) for its network namespace",
            "install the iproute2 package, or use --mode audit",
        )
    firewall.require_nft()


def _free_link() -> tuple[str, str]:
    """(gateway, sandbox address): a /30 in 198.19.0.0/16 no address here already uses."""
    used = {
        ipaddress.ip_interface(word).ip
        for word in _ip("-4", "-o", "addr").stdout.split()
        if "/" in word and word[0].isdigit()
    }
    base = int(_POOL.network_address)
    for offset in range(_POOL.num_addresses // 4):
        network = base + 4 * ((os.getpid() + offset) % (_POOL.num_addresses // 4))
        gateway, address = ipaddress.ip_address(network + 1), ipaddress.ip_address(network + 2)
        if gateway not in used and address not in used:
            return str(gateway), str(address)
    raise EnforcementError("no free /30 in 198.19.0.0/16 for the sandbox", "remove stale links")
