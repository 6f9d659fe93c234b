"""The nftables table that makes the sandbox's host-side veth a one-way door.

Everything the command sends over TCP is redirected to egressguard's relay, which connects out
only to addresses an allowed DNS answer (or an allowed CIDR) named, and stops at the upload limit.
DNS may go only to egressguard's gate; nothing else from the sandbox is forwarded or delivered.
The table is named after egressguard's pid so a crashed run's table can be found and removed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from egressguard.errors import EnforcementError

TABLE_PREFIX = "egressguard_"
_TABLE_NAME = re.compile(rf"^table (inet|ip|ip6) ({TABLE_PREFIX}(\d+))\b", re.MULTILINE)


@dataclass(frozen=True)
class Door:
    """Where the sandbox meets the host: its veth, the gateway address, the relay's port."""

    table: str
    interface: str
    gateway: str
    relay_port: int


def ruleset(door: Door) -> str:
    """The nft script for one sandbox (a pure function, so tests can read it)."""
    iface, gateway, port = door.interface, door.gateway, door.relay_port
    return f"""\
table inet {door.table} {{
    chain prerouting {{
        type nat hook prerouting priority dstnat - 10; policy accept;
        iifname "{iface}" ip daddr {gateway} tcp dport 53 return
        iifname "{iface}" meta l4proto tcp redirect to :{port}
    }}
    chain input {{
        type filter hook input priority filter - 10; policy accept;
        iifname "{iface}" ip daddr {gateway} udp dport 53 accept
        iifname "{iface}" ip daddr {gateway} tcp dport {{ 53, {port} }} accept
        iifname "{iface}" ct state established,related accept
        iifname "{iface}" counter drop
    }}
    chain forward {{
        type filter hook forward priority filter - 10; policy accept;
        iifname "{iface}" counter drop
        oifname "{iface}" counter drop
    }}
}}
"""


def require_nft() -> str:
    path = shutil.which("nft")
    if path is None:
        raise EnforcementError(
            "block mode needs nftables (the `nft` command) to gate egress, and it is missing",
            "install the nftables package, or use --mode audit (report only)",
        )
    return path


def apply(script: str) -> None:
    proc = subprocess.run(
        [require_nft(), "-f", "-"], input=script, capture_output=True, text=True, timeout=30
    )
    if proc.returncode != 0:
        raise EnforcementError(
            f"nftables refused egressguard's rules: {proc.stderr.strip()[:200]}",
            "egressguard needs root and a kernel with nf_tables; or use --mode audit",
        )


def delete_table(table: str) -> None:
    nft = shutil.which("nft")
    if nft is not None:
        subprocess.run([nft, "delete", "table", "inet", table], capture_output=True, timeout=30)


def stale_tables(alive: set[int]) -> list[str]:
    """egressguard tables whose owning process is gone (a run killed with SIGKILL)."""
    nft = shutil.which("nft")
    if nft is None:
        return []
    proc = subprocess.run([nft, "list", "tables"], capture_output=True, text=True, timeout=30)
    return [m.group(2) for m in _TABLE_NAME.finditer(proc.stdout) if int(m.group(3)) not in alive]
