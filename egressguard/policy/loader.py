"""Builds a Policy from the bundled rules in `rules/` and a repository's `.egressguard.yml`.

Every complaint about a policy file names the file and line, and says what would be accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from egressguard.errors import PolicyError
from egressguard.policy.patterns import IPNetwork, parse_network

POLICY_FILENAMES = (".egressguard.yml", ".egressguard.yaml")
KiB = 1024
MiB = 1024 * KiB
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1000, "kib": KiB, "mb": 10**6, "mib": MiB, "gb": 10**9, "gib": 1024 * MiB}


@dataclass(frozen=True)
class Limits:
    upload_allowed: int = 5 * MiB  # bytes one allowlisted host may receive over the run
    upload_unlisted: int = 64 * KiB  # bytes any other host may receive
    hosts: tuple[tuple[str, int], ...] = ()  # per-host upload limits
    dns_label: int = 40  # a query label longer than this under an unlisted zone is suspect
    dns_names_per_zone: int = 30  # distinct names under one unlisted zone
    processes: int = 512  # processes alive at once in the command's tree
    process_rate: int = 500  # processes started within one second (a parallel build: fewer)


@dataclass(frozen=True)
class Policy:
    allow: tuple[str, ...]
    allow_networks: tuple[IPNetwork, ...]
    deny: tuple[str, ...]
    known_bad: tuple[tuple[str, str], ...]  # (host pattern, why)
    known_bad_addresses: tuple[tuple[str, str], ...]
    protected: tuple[str, ...]
    brands: tuple[str, ...]
    lure_words: tuple[str, ...]
    abused_tlds: tuple[str, ...]
    owned: tuple[str, ...]
    legitimate: tuple[str, ...]
    doh_hosts: tuple[str, ...]
    public_resolvers: tuple[str, ...]
    metadata_addresses: tuple[str, ...]
    metadata_names: tuple[str, ...]
    secret_patterns: tuple[tuple[str, str], ...]  # (name, regular expression)
    resolvers: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    source: str = "bundled rules"
    configured: tuple[tuple[str, str], ...] = ()  # (host, where): indexes the tools are set to


# libyaml's safe loader when PyYAML was built with it: the bundled rules load several times faster.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TOP_KEYS = {"version", "ecosystems", "allow", "deny", "protect", "known_bad", "limits", "dns"}
_LIMIT_KEYS = {"upload", "upload_unlisted", "hosts"}
_DNS_KEYS = {"resolvers", "max_label", "max_names_per_zone"}


def bundled_rules() -> dict[str, Any]:
    """The YAML rule sets shipped inside the package (or beside it in a source checkout)."""
    loaded: dict[str, Any] = {}
    for name in ("allowlist", "known-bad", "protected", "legitimate", "dns", "tripwires"):
        text = _rules_file(name).read_text(encoding="utf-8")
        loaded[name] = yaml.load(text, Loader=_FAST_LOADER)
    return loaded


def _rules_file(name: str) -> Path:
    packaged = resources.files("egressguard").joinpath("rules", f"{name}.yaml")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "rules" / f"{name}.yaml"


def find_policy_file(directory: Path) -> Path | None:
    for name in POLICY_FILENAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def load_policy(
    path: Path | None = None,
    extra_allow: tuple[str, ...] = (),
    resolvers: tuple[str, ...] = (),
    configured: tuple[tuple[str, str], ...] = (),
) -> Policy:
    """Bundled rules, extended or narrowed by the policy file at `path` and `--allow` patterns."""
    rules = bundled_rules()
    ecosystems: dict[str, list[str]] = rules["allowlist"]["ecosystems"]
    user = _read_user_policy(path, set(ecosystems)) if path else _UserPolicy()
    chosen = user.ecosystems if user.ecosystems is not None else list(ecosystems)
    allow = [host for name in chosen for host in ecosystems[name]]
    networks: list[IPNetwork] = list(user.allow_networks)
    for pattern in extra_allow:
        network = parse_network(pattern) if _looks_like_network(pattern) else None
        if network is not None:
            networks.append(network)
        else:
            allow.append(_check_host_pattern(pattern, "--allow"))
    protected = sorted({*rules["protected"]["domains"], *user.protect})
    return Policy(
        allow=tuple(dict.fromkeys([*allow, *user.allow])),
        allow_networks=tuple(networks),
        deny=tuple(user.deny),
        known_bad=tuple(
            [(e["host"], e["why"]) for e in rules["known-bad"]["hosts"]]
            + [(host, f"listed as known-bad in {path}") for host in user.known_bad]
        ),
        known_bad_addresses=tuple(
            (e["address"], e["why"]) for e in rules["known-bad"]["addresses"]
        ),
        protected=tuple(protected),
        brands=tuple(rules["protected"]["brands"]),
        lure_words=tuple(rules["protected"]["lure_words"]),
        abused_tlds=tuple(rules["protected"]["abused_tlds"]),
        owned=tuple(rules["protected"]["owned"]),
        legitimate=tuple(rules["legitimate"]["legitimate"]),
        doh_hosts=tuple(rules["dns"]["doh_hosts"]),
        public_resolvers=tuple(rules["dns"]["public_resolvers"]),
        metadata_addresses=tuple(rules["tripwires"]["metadata_endpoints"]["addresses"]),
        metadata_names=tuple(rules["tripwires"]["metadata_endpoints"]["names"]),
        secret_patterns=tuple(rules["tripwires"]["secret_patterns"].items()),
        resolvers=tuple(resolvers) or tuple(user.resolvers),
        limits=user.limits,
        source=str(path) if path else "bundled rules",
        configured=configured,
    )


@dataclass
class _UserPolicy:
    ecosystems: list[str] | None = None
    allow: list[str] = field(default_factory=list)
    allow_networks: list[IPNetwork] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    protect: list[str] = field(default_factory=list)
    known_bad: list[str] = field(default_factory=list)
    resolvers: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)


class _Reader:
    """Walks a composed YAML node tree so every error can name its line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: yaml.Node, what: str) -> PolicyError:
        line = node.start_mark.line + 1
        return PolicyError(
            f"{self.path}:{line}: {what}",
            "see 'Policy file' in the README for the format",
        )

    def mapping(self, node: yaml.Node, keys: set[str], where: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where} must be a mapping of keys to values")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in keys:
                known = ", ".join(sorted(keys))
                raise self.fail(key_node, f"unknown key {key!r} in {where} (known: {known})")
            out[key] = value_node
        return out

    def strings(self, node: yaml.Node, where: str) -> list[tuple[str, yaml.Node]]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{where} must be a list")
        out: list[tuple[str, yaml.Node]] = []
        for item in node.value:
            if not isinstance(item, yaml.ScalarNode) or not str(item.value).strip():
                raise self.fail(item, f"each entry of {where} must be a non-empty string")
            out.append((str(item.value).strip(), item))
        return out

    def size(self, node: yaml.Node, where: str) -> int:
        match = _SIZE.match(str(node.value)) if isinstance(node, yaml.ScalarNode) else None
        if not match:
            raise self.fail(node, f"{where} must be a size such as 65536, 64KiB or 5MiB")
        unit = (match.group(2) or "B").lower()
        return int(float(match.group(1)) * _UNITS[unit])

    def count(self, node: yaml.Node, where: str) -> int:
        text = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
        if not text.isdigit() or int(text) == 0:
            raise self.fail(node, f"{where} must be a positive whole number")
        return int(text)


def _read_user_policy(path: Path, ecosystem_names: set[str]) -> _UserPolicy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"cannot read policy {path}: {e.strerror}", "check the path") from e
    except UnicodeDecodeError as e:
        raise PolicyError(f"policy {path} is not UTF-8 text", "save it as UTF-8") from e
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise PolicyError(f"{path}{line}: {problem}", "fix the YAML syntax") from e
    user = _UserPolicy()
    if root is None:
        return user
    reader = _Reader(path)
    top = reader.mapping(root, _TOP_KEYS, "the policy")
    if "version" in top and str(top["version"].value) != "1":
        raise reader.fail(top["version"], "only policy version 1 is understood")
    if "ecosystems" in top:
        user.ecosystems = []
        for name, node in reader.strings(top["ecosystems"], "ecosystems"):
            if name not in ecosystem_names:
                known = ", ".join(sorted(ecosystem_names))
                raise reader.fail(node, f"unknown ecosystem {name!r} (known: {known})")
            user.ecosystems.append(name)
    for pattern, node in reader.strings(top["allow"], "allow") if "allow" in top else []:
        network = parse_network(pattern) if _looks_like_network(pattern) else None
        if network is not None:
            user.allow_networks.append(network)
        else:
            user.allow.append(_host_or_fail(reader, node, pattern))
    for key, target in (
        ("deny", user.deny),
        ("protect", user.protect),
        ("known_bad", user.known_bad),
    ):
        if key in top:
            target.extend(_host_or_fail(reader, n, p) for p, n in reader.strings(top[key], key))
    if "limits" in top:
        user.limits = _limits(reader, reader.mapping(top["limits"], _LIMIT_KEYS, "limits"))
    if "dns" in top:
        dns = reader.mapping(top["dns"], _DNS_KEYS, "dns")
        user.limits = _dns_limits(reader, dns, user.limits)
        for address, node in (
            reader.strings(dns["resolvers"], "dns.resolvers") if ("resolvers" in dns) else []
        ):
            if parse_network(address) is None:
                raise reader.fail(node, f"{address!r} is not an IP address")
            user.resolvers.append(address)
    return user


def _limits(reader: _Reader, nodes: dict[str, yaml.Node]) -> Limits:
    limits = Limits()
    hosts: list[tuple[str, int]] = []
    if "hosts" in nodes:
        per_host = nodes["hosts"]
        if not isinstance(per_host, yaml.MappingNode):
            raise reader.fail(per_host, "limits.hosts must map host patterns to sizes")
        for key_node, value_node in per_host.value:
            host = _host_or_fail(reader, key_node, str(key_node.value))
            hosts.append((host, reader.size(value_node, f"limits.hosts[{host}]")))
    return Limits(
        upload_allowed=reader.size(nodes["upload"], "limits.upload")
        if "upload" in nodes
        else limits.upload_allowed,
        upload_unlisted=reader.size(nodes["upload_unlisted"], "limits.upload_unlisted")
        if "upload_unlisted" in nodes
        else limits.upload_unlisted,
        hosts=tuple(hosts),
    )


def _dns_limits(reader: _Reader, nodes: dict[str, yaml.Node], limits: Limits) -> Limits:
    label = reader.count(nodes["max_label"], "dns.max_label") if "max_label" in nodes else None
    zone = (
        reader.count(nodes["max_names_per_zone"], "dns.max_names_per_zone")
        if "max_names_per_zone" in nodes
        else None
    )
    return Limits(
        limits.upload_allowed,
        limits.upload_unlisted,
        limits.hosts,
        label or limits.dns_label,
        zone or limits.dns_names_per_zone,
    )


_HOST_PATTERN = re.compile(r"^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9-]{1,63}\.?$")


def _looks_like_network(text: str) -> bool:
    return bool(re.match(r"^[0-9a-fA-F:.]+(/\d+)?$", text)) and any(c.isdigit() for c in text)


def _check_host_pattern(pattern: str, where: str) -> str:
    lowered = pattern.strip().lower()
    if not _HOST_PATTERN.match(lowered):
        raise PolicyError(
            f"{where}: {pattern!r} is not a host name, '*.' wildcard or CIDR range",
            "write e.g. pypi.example.com, '*.example.com' or 203.0.113.0/24",
        )
    return lowered.rstrip(".")


def _host_or_fail(reader: _Reader, node: yaml.Node, pattern: str) -> str:
    try:
        return _check_host_pattern(pattern, "entry")
    except PolicyError as e:
        raise reader.fail(node, f"{pattern!r} is not a host name, '*.' wildcard or CIDR") from e
