"""The judge: flow events in, findings out, the same for live runs and recorded captures."""

from __future__ import annotations

import ipaddress
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

from egressguard.flows.interface import (
    DnsQuery,
    DnsResponse,
    FlowEvent,
    FlowIdentified,
    FlowKey,
    FlowOpened,
    FlowUpload,
)
from egressguard.policy.hosts import HostPolicy
from egressguard.policy.interface import Finding, HostVerdict, Severity, Verdict
from egressguard.policy.loader import Policy
from egressguard.policy.patterns import HostSet, in_networks
from egressguard.policy.psl import split

DOT_PORT = 853
_HEXISH = re.compile(r"^[0-9a-f]+$")
_BASE32ISH = re.compile(r"^[a-z2-7]+$")
_SEVERITY = {
    "known-bad": Severity.CRITICAL,
    "typosquat": Severity.HIGH,
    "unlisted-host": Severity.HIGH,
    "large-upload": Severity.HIGH,
    "direct-ip": Severity.HIGH,
    "dns-exfil": Severity.HIGH,
    "dns-bypass": Severity.HIGH,
    "orphan-process": Severity.HIGH,
    "metadata-access": Severity.HIGH,
    "credential-read": Severity.HIGH,
    "secret-in-cleartext": Severity.CRITICAL,
    "capture-incomplete": Severity.HIGH,  # what was not seen cannot be vouched for
}
_HOST_FINDING = {
    HostVerdict.KNOWN_BAD: "known-bad",
    HostVerdict.TYPOSQUAT: "typosquat",
    HostVerdict.UNLISTED: "unlisted-host",
}


@dataclass
class _FlowState:
    host: str | None
    verdict: str
    reason: str


@dataclass
class ResolverSet:
    """The resolvers the system uses; with none given, the first one queried is taken as it."""

    addresses: set[str] = field(default_factory=set)
    search_domains: tuple[str, ...] = ()

    def is_system(self, address: str) -> bool:
        if not self.addresses:
            self.addresses.add(address)
        return address in self.addresses or _is_loopback(address)


class Judge:
    """Turns flow events into findings, once per (kind, destination), and remembers verdicts."""

    def __init__(self, policy: Policy, resolvers: ResolverSet, origin: float | None = None) -> None:
        self.policy = policy
        self.hosts = HostPolicy.from_policy(policy)
        self.resolvers = resolvers
        self.origin = origin
        self._reported: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._flows: dict[FlowKey, _FlowState] = {}
        self._host_bytes: Counter[str] = Counter()
        self._zone_names: dict[str, set[str]] = {}
        self._doh = HostSet.build(policy.doh_hosts)
        self._public_resolvers = set(policy.public_resolvers)
        self._bad_addresses = dict(policy.known_bad_addresses)
        self._metadata_addresses = set(policy.metadata_addresses)
        self._metadata_names = set(policy.metadata_names)
        self._secret_patterns = [
            (name, re.compile(pattern.encode())) for name, pattern in policy.secret_patterns
        ]
        # DNS names arrive lower-cased (the protocol ignores case), so match them that way too.
        self._secret_patterns_nocase = [
            (name, re.compile(pattern.encode(), re.IGNORECASE))
            for name, pattern in policy.secret_patterns
        ]
        self._host_limits = [(HostSet.build([p]), size) for p, size in policy.limits.hosts]

    # -- entry points ------------------------------------------------------------------------

    def add_secret_patterns(self, patterns: list[tuple[str, str]]) -> None:
        """More credential shapes to look for (the canaries of this run)."""
        for name, pattern in patterns:
            self._secret_patterns.append((name, re.compile(pattern.encode())))
            self._secret_patterns_nocase.append((name, re.compile(pattern.encode(), re.IGNORECASE)))

    def handle(self, event: FlowEvent) -> list[Finding]:
        if self.origin is None:
            self.origin = event.ts
        if isinstance(event, DnsQuery):
            return self._query(event)
        if isinstance(event, DnsResponse):
            return self._response(event)
        if isinstance(event, FlowOpened):
            return self._opened(event)
        if isinstance(event, FlowIdentified):
            return self._identified(event)
        return self._upload(event)

    def flow_verdict(self, key: FlowKey) -> tuple[str, str]:
        state = self._flows.get(key)
        return (state.verdict, state.reason) if state else ("allowed", "DNS traffic")

    def finding(
        self,
        kind: str,
        ts: float,
        message: str,
        host: str | None = None,
        key: FlowKey | None = None,
        dedupe: str | None = None,
        **evidence: object,
    ) -> list[Finding]:
        """A finding, unless one of this kind was already raised for the same destination."""
        ident = (kind, dedupe or host or (key.server if key else ""))
        with self._lock:  # the DNS gate and the relay raise findings from their own threads
            if ident in self._reported:
                return []
            self._reported.add(ident)
        return [
            Finding(
                kind,
                _SEVERITY.get(kind, Severity.MEDIUM),
                host,
                key.server if key else None,
                key.server_port if key else None,
                message,
                tuple(sorted(evidence.items())),
                ts - (self.origin or ts),
            )
        ]

    # -- DNS ---------------------------------------------------------------------------------

    def _query(self, event: DnsQuery) -> list[Finding]:
        findings = self._secrets(
            event.qname.encode(), event.qname, event.ts, None, self._secret_patterns_nocase
        )
        if event.qname in self._metadata_names:
            findings += self.finding(
                "metadata-access",
                event.ts,
                f"DNS query for the cloud metadata service {event.qname}",
                host=event.qname,
                dedupe="metadata",
            )
        if not self.resolvers.is_system(event.resolver):
            findings += self.finding(
                "dns-bypass",
                event.ts,
                f"DNS query for {event.qname} sent to {event.resolver}, not the system resolver",
                host=event.qname,
                dedupe=event.resolver,
                resolver=event.resolver,
                system_resolvers=sorted(self.resolvers.addresses),
            )
        name = self._without_search_domain(event.qname)
        verdict = self.hosts.judge(name)
        if verdict.verdict in (HostVerdict.KNOWN_BAD, HostVerdict.TYPOSQUAT):
            findings += self.host_finding(verdict, event.ts, None, via="dns-query")
        elif verdict.verdict != HostVerdict.ALLOWED:
            findings += self._exfil(name, event)
        return findings

    def _response(self, event: DnsResponse) -> list[Finding]:
        findings: list[Finding] = []
        for answer in event.answers:
            why = self._bad_addresses.get(answer.value)
            if why:
                findings += self.finding(
                    "known-bad",
                    event.ts,
                    f"{event.qname} resolves to known-bad address {answer.value} ({why})",
                    host=event.qname,
                    address=answer.value,
                )
        return findings

    def _exfil(self, name: str, event: DnsQuery) -> list[Finding]:
        parts = split(name, private=True)
        if parts is None:
            return []
        zone = ".".join(parts)
        subdomain = name[: -len(zone)].rstrip(".")
        if not subdomain:
            return []
        limits = self.policy.limits
        reason = _suspicious_labels(subdomain, limits.dns_label)
        names = self._zone_names.setdefault(zone, set())
        if len(names) <= limits.dns_names_per_zone:
            names.add(subdomain)
        if reason is None and len(names) > limits.dns_names_per_zone:
            reason = f"more than {limits.dns_names_per_zone} distinct names queried under {zone}"
        if reason is None:
            return []
        return self.finding(
            "dns-exfil",
            event.ts,
            f"DNS queries under {zone} carry data: {reason}",
            host=zone,
            dedupe=zone,
            example=name,
            qtype=event.qtype,
        )

    def _without_search_domain(self, name: str) -> str:
        """pypi.org.corp.example, a resolver's search-list expansion, is judged as pypi.org."""
        for domain in self.resolvers.search_domains:
            if name.endswith("." + domain):
                rest = name[: -len(domain) - 1]
                if "." in rest:
                    return rest
        return name

    # -- connections -------------------------------------------------------------------------

    def _opened(self, event: FlowOpened) -> list[Finding]:
        key = event.key
        if key.server_port == 53:
            self._flows[key] = _FlowState(event.host, "allowed", "DNS to the system resolver")
            return []
        findings: list[Finding] = self._metadata(key.server, event.ts, key)
        why_bad = self._bad_addresses.get(key.server)
        if why_bad:
            self._flows[key] = _FlowState(event.host, "known-bad", why_bad)
            return self.finding(
                "known-bad",
                event.ts,
                f"connection to known-bad address {key.server} ({why_bad})",
                host=event.host,
                key=key,
                dedupe=key.server,
            )
        if key.server_port == DOT_PORT:
            findings += self.finding(
                "dns-bypass",
                event.ts,
                f"DNS over TLS to {key.server}:853 bypasses the resolver",
                host=event.host,
                key=key,
                dedupe=key.server,
            )
        network = in_networks(key.server, self.policy.allow_networks)
        if network is not None:
            self._flows[key] = _FlowState(event.host, "allowed", f"address in allowed {network}")
            return findings
        if event.host is None:
            return findings + self._direct_ip(event)
        verdict = self.hosts.judge(event.host)
        self._flows[key] = _FlowState(event.host, verdict.verdict.value, verdict.reason)
        return findings + self.host_finding(verdict, event.ts, key, via="dns")

    def _metadata(self, address: str, ts: float, key: FlowKey) -> list[Finding]:
        if address not in self._metadata_addresses:
            return []
        return self.finding(
            "metadata-access",
            ts,
            f"connection to the cloud metadata service at {address}:{key.server_port}",
            key=key,
            dedupe="metadata",
        )

    def _secrets(
        self,
        data: bytes,
        host: str,
        ts: float,
        key: FlowKey | None,
        patterns: list[tuple[str, re.Pattern[bytes]]] | None = None,
    ) -> list[Finding]:
        """Credential shapes in cleartext leaving the step (never the secret itself)."""
        findings: list[Finding] = []
        for name, pattern in patterns or self._secret_patterns:
            if pattern.search(data):
                findings += self.finding(
                    "secret-in-cleartext",
                    ts,
                    f"a {name} left the step in cleartext, to {host}",
                    host=host,
                    key=key,
                    dedupe=f"{name}@{host}",
                    pattern=name,
                )
        return findings

    def _direct_ip(self, event: FlowOpened) -> list[Finding]:
        key = event.key
        if key.server in self._public_resolvers:
            self._flows[key] = _FlowState(None, "dns-bypass", "public resolver (DNS over HTTPS?)")
            return self.finding(
                "dns-bypass",
                event.ts,
                f"connection to public resolver {key.server}:{key.server_port} (DNS over HTTPS?)",
                key=key,
                dedupe=key.server,
            )
        self._flows[key] = _FlowState(None, "direct-ip", "no DNS answer named this address")
        return self.finding(
            "direct-ip",
            event.ts,
            f"connection to {key.server}:{key.server_port}, an address no DNS answer named",
            key=key,
            dedupe=key.server,
            transport=key.transport,
        )

    def _identified(self, event: FlowIdentified) -> list[Finding]:
        state = self._flows.get(event.key)
        if state is None or event.host is None or event.named_by not in ("sni", "http"):
            return []
        if _is_address(event.host):
            return []  # Host: 198.51.100.7 names nothing DNS did not
        if self._doh.match(event.host):
            state.verdict = "dns-bypass"
            return self.finding(
                "dns-bypass",
                event.ts,
                f"DNS over HTTPS to {event.host} bypasses the resolver",
                host=event.host,
                key=event.key,
            )
        if state.host == event.host:
            return []
        verdict = self.hosts.judge(event.host)
        if state.verdict == "direct-ip" and verdict.verdict == HostVerdict.ALLOWED:
            return []  # the address was unnamed, but the name it claims is allowed
        if verdict_rank(verdict.verdict.value) >= verdict_rank(state.verdict):
            state.host, state.verdict, state.reason = (
                event.host,
                verdict.verdict.value,
                verdict.reason,
            )
        return self.host_finding(verdict, event.ts, event.key, via=event.named_by)

    def _upload(self, event: FlowUpload) -> list[Finding]:
        state = self._flows.get(event.key)
        host = (state.host if state else None) or event.key.server
        found = (
            self._secrets(event.cleartext, host, event.ts, event.key) if (event.cleartext) else []
        )
        return found + self._volume(event, state, host)

    def _volume(self, event: FlowUpload, state: _FlowState | None, host: str) -> list[Finding]:
        self._host_bytes[host] += event.delta
        total = self._host_bytes[host]
        allowed = state is not None and state.verdict == "allowed"
        limit = self.limit_for(host, allowed)
        if total <= limit:
            return []
        return self.finding(
            "large-upload",
            event.ts,
            f"{total} bytes sent to {host}, above its upload limit of {limit} bytes",
            host=host if state and state.host else None,
            key=event.key,
            dedupe=host,
            bytes_out=total,
            limit=limit,
            connection_bytes=event.bytes_out,
        )

    def limit_for(self, host: str, allowed: bool) -> int:
        """The bytes host may receive over the run: its own limit, else the default."""
        for patterns, size in self._host_limits:
            if patterns.match(host):
                return size
        limits = self.policy.limits
        return limits.upload_allowed if allowed else limits.upload_unlisted

    def host_finding(
        self, verdict: Verdict, ts: float, key: FlowKey | None, via: str
    ) -> list[Finding]:
        """The finding a host's verdict calls for (none for allowed hosts)."""
        kind = _HOST_FINDING.get(verdict.verdict)
        if kind is None:
            return []
        message = f"{verdict.host}: {verdict.reason}"
        if verdict.similar_to is None:
            return self.finding(kind, ts, message, host=verdict.host, key=key, seen_in=via)
        return self.finding(
            kind,
            ts,
            message,
            host=verdict.host,
            key=key,
            seen_in=via,
            similar_to=verdict.similar_to,
            technique=verdict.technique,
            score=verdict.score,
        )


_RANKS = {"allowed": 0, "unlisted": 1, "direct-ip": 1, "typosquat": 2, "dns-bypass": 2}


def verdict_rank(verdict: str) -> int:
    """How bad a destination verdict is: allowed < unlisted/direct-ip < lookalike < known-bad."""
    return _RANKS.get(verdict, 3)


def _suspicious_labels(subdomain: str, max_label: int) -> str | None:
    if len(subdomain) > 120:
        return f"{len(subdomain)} characters of subdomain"
    for label in subdomain.split("."):
        if len(label) > max_label:
            return f"a {len(label)}-character label"
        if len(label) >= 16 and _HEXISH.match(label):
            return f"a {len(label)}-character hex label"
        if (
            len(label) >= 24
            and _entropy(label) > 3.8
            and (_BASE32ISH.match(label) or any(c.isdigit() for c in label))
        ):
            return f"a high-entropy {len(label)}-character label"
    return None


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
