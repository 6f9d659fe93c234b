"""Registrable-domain splits with the Public Suffix List, offline and fast to load.

The list itself comes from the `publicsuffixlist` package, which ships a dated snapshot and is
updated with it; no fetch happens at run time. Loading it through that package IDNA-encodes
every rule (a tenth of a second on every start), so this module reads the file once, encodes
only the non-ASCII rules, and answers lookups from two sets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from publicsuffixlist import PSLFILE


@dataclass(frozen=True)
class SuffixList:
    rules: frozenset[str]
    wildcards: frozenset[str]  # "*.ck" is stored as "ck"
    exceptions: frozenset[str]  # "!www.ck" is stored as "www.ck"

    def suffix_length(self, labels: list[str]) -> int:
        """How many trailing labels form the public suffix (an unknown TLD counts as one)."""
        for start in range(len(labels)):
            candidate = ".".join(labels[start:])
            if candidate in self.exceptions:
                return len(labels) - start - 1
            if candidate in self.rules:
                return len(labels) - start
            parent = ".".join(labels[start + 1 :])
            if parent and parent in self.wildcards:
                return len(labels) - start
        return 1

    def registrable(self, host: str) -> tuple[str, str] | None:
        """(label, public suffix) of host's registrable domain, or None for a bare suffix."""
        labels = host.split(".")
        size = self.suffix_length(labels)
        if size >= len(labels):
            return None
        return labels[-size - 1], ".".join(labels[-size:])


def _punycode(rule: str) -> str:
    return ".".join(
        label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
        for label in rule.split(".")
    )


@functools.cache
def _rules() -> tuple[tuple[str, bool], ...]:
    """Every rule of the list with whether it is in the ICANN section, IDN rules twice."""
    out: list[tuple[str, bool]] = []
    in_icann = False
    for raw in Path(PSLFILE).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("//"):
            if line == "// ===BEGIN ICANN DOMAINS===":
                in_icann = True
            elif line == "// ===END ICANN DOMAINS===":
                in_icann = False
            continue
        if line:
            rule = line.split(" ")[0].lower()
            out.append((rule, in_icann))
            if not rule.isascii():
                out.append((_punycode(rule), in_icann))
    return tuple(out)


@functools.cache
def suffix_list(private: bool) -> SuffixList:
    """The ICANN section only, or ICANN plus private (platform tenants count as domains)."""
    rules: set[str] = set()
    wildcards: set[str] = set()
    exceptions: set[str] = set()
    for form, icann in _rules():
        if not (icann or private):
            continue
        if form.startswith("!"):
            exceptions.add(form[1:])
        elif form.startswith("*."):
            wildcards.add(form[2:])
        else:
            rules.add(form)
    return SuffixList(frozenset(rules), frozenset(wildcards), frozenset(exceptions))


def split(host: str, private: bool) -> tuple[str, str] | None:
    """(label, suffix) of the registrable domain of host, or None for a bare public suffix."""
    return suffix_list(private).registrable(host)
