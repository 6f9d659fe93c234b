"""Host patterns (exact names and `*.` wildcards) and address ranges, matched in O(labels)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalise_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


@dataclass(frozen=True)
class HostSet:
    """Exact names, `*.suffix` wildcards (names below the suffix) and, optionally, subtrees."""

    exact: frozenset[str]
    below: frozenset[str]

    @classmethod
    def build(cls, patterns: Iterable[str], subtree: bool = False) -> HostSet:
        exact, below = set(), set()
        for raw in patterns:
            pattern = normalise_host(raw)
            if pattern.startswith("*."):
                below.add(pattern[2:])
            else:
                exact.add(pattern)
                if subtree:
                    below.add(pattern)
        return cls(frozenset(exact), frozenset(below))

    def match(self, host: str) -> str | None:
        """The pattern that matches host, written as in the policy, or None."""
        if host in self.exact:
            return host
        parts = host.split(".")
        for index in range(1, len(parts)):
            suffix = ".".join(parts[index:])
            if suffix in self.below:
                return suffix if suffix in self.exact else f"*.{suffix}"
        return None

    def __bool__(self) -> bool:
        return bool(self.exact or self.below)


def parse_network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def in_networks(address: str, networks: Iterable[IPNetwork]) -> IPNetwork | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    for network in networks:
        if ip.version == network.version and ip in network:
            return network
    return None
