"""The lookalike engine: does a host name imitate protected infrastructure, how, and how closely?

Scoring, not enumeration: the same brand on another suffix, a one- or two-edit typo (also with a
suffix change), brand plus a word, the brand inside a platform tenant's name, and a protected
name used as the prefix of a foreign domain. Names are compared as IDNA-decoded UTS #39 skeletons,
split with the Public Suffix List (private section included, so platform tenants count as their
own domains). Exact allowlists run before this engine: the same shapes describe legitimate hosts.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from egressguard.policy.psl import split

_VOWELS = set("aeiou")
_VISUAL_PAIRS = {
    frozenset(p) for p in ("l1", "li", "i1", "o0", "mn", "uv", "vy", "qg", "ce", "bd", "pq")
}
_CLOUD_REGION = re.compile(
    r"^(us|eu|ap|sa|ca|me|af|il|mx|cn)-(north|south|east|west|central|northeast|southeast|"
    r"northwest|southwest|gov-west|gov-east)-\d$"
)
_ASCII_SKELETON = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"))


@dataclass(frozen=True, slots=True)
class Lookalike:
    similar_to: str
    technique: str
    score: float
    detail: str


@functools.cache
def _confusables() -> dict[str, str]:
    table: dict[str, str] = json.loads(
        Path(__file__).with_name("confusables.json").read_text(encoding="utf-8")
    )
    return table


def decode_idna(host: str) -> str:
    """Unicode form of a host name; labels that are not valid punycode stay as they are."""
    if "xn--" not in host:
        return host
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError, ValueError):
                label = label[4:].encode("ascii").decode("punycode")
        labels.append(label)
    return ".".join(labels)


def skeleton(text: str) -> str:
    """A UTS #39-style skeleton restricted to what DNS names hold: lookalikes fold to ASCII."""
    table = _confusables()
    if not text.isascii():
        text = "".join(table.get(char, char) for char in text)
    for needle, replacement in _ASCII_SKELETON:
        text = text.replace(needle, replacement)
    return text


def typo_budget(length: int) -> int:
    """Edits a label of this length may differ by and still be called a typo of it."""
    if length < 4:
        return 0
    return 1 if length < 8 else 2


class LookalikeEngine:
    """Scores host names against the protected set; build once, call `match` per name."""

    def __init__(
        self, protected: Iterable[str], brands: Iterable[str], owned: Iterable[str]
    ) -> None:
        self._owned_raw: set[str] = {name.lower() for name in owned}
        self._owned: set[str] = {skeleton(name) for name in self._owned_raw}
        self._protected_names: set[str] = set()
        self._label_suffixes: dict[str, set[str]] = {}
        owners: dict[str, list[str]] = {}
        for name in protected:
            self._protect(name.lower().lstrip("*.").rstrip("."), owners)
        # Name the best-known owner of a label: the one most protected names live under.
        self._label_owner = {
            label: max(
                candidates, key=lambda r: (candidates.count(r), r.endswith((".com", ".org")))
            )
            for label, candidates in owners.items()
        }
        self._labels = sorted(self._label_owner)
        self._brands = sorted({b.lower() for b in brands}, key=len, reverse=True)
        self._brand_owner = {b: self._label_owner.get(b, b) for b in self._brands}
        alternatives = "|".join(map(re.escape, self._brands))
        self._brand_edges = re.compile(f"^({alternatives})|({alternatives})$")
        long_brands = [b for b in self._brands if len(b) >= 6]
        self._brand_inside = re.compile("|".join(map(re.escape, long_brands)))

    def _protect(self, name: str, owners: dict[str, list[str]]) -> None:
        self._protected_names.add(skeleton(name))
        for private in (False, True):
            parts = split(name, private)
            if parts is None:
                continue
            self._owned_raw.add(".".join(parts))
            label, suffix = skeleton(parts[0]), parts[1]
            registrable = f"{label}.{suffix}"
            self._owned.add(registrable)
            self._label_suffixes.setdefault(label, set()).add(suffix)
            owners.setdefault(label, []).append(registrable)

    def match(self, host: str) -> Lookalike | None:
        """How host imitates a protected name, or None when it does not (or is the owner's)."""
        ascii_host = host.lower().rstrip(".")
        skeleton_host = skeleton(decode_idna(ascii_host))
        homoglyph = skeleton_host != ascii_host
        icann = split(skeleton_host, private=False)
        if icann is None:
            return None
        tenant = split(skeleton_host, private=True)
        # The ICANN registrable domain first; under an owned platform (github.io, s3 buckets)
        # the tenant's own name is judged instead, as its own domain.
        for label, suffix in (icann, tenant) if tenant and tenant != icann else (icann,):
            registrable = f"{label}.{suffix}"
            if registrable in self._owned:
                raw = split(ascii_host, private=(label, suffix) != icann)
                if homoglyph and raw and ".".join(raw) not in self._owned_raw:
                    return Lookalike(
                        registrable, "homoglyph", 100.0, f"{host} reads as {registrable}"
                    )
                continue
            found = (
                self._prefix(skeleton_host, registrable)
                or self._subdomain_split(skeleton_host, suffix)
                or self._registrable(label, suffix, homoglyph)
            )
            if found:
                return found
        raw_icann = split(ascii_host, private=False)
        return self._shape(ascii_host, raw_icann) if raw_icann else None

    def _prefix(self, host: str, registrable: str) -> Lookalike | None:
        """A protected name as the prefix of a foreign domain: files.pythonhosted.org.evil.net."""
        subdomain = host[: -len(registrable)].rstrip(".")
        if not subdomain:
            return None
        labels = subdomain.replace("-", ".").split(".")
        for start in range(len(labels)):
            for end in range(start + 2, len(labels) + 1):
                candidate = ".".join(labels[start:end])
                if candidate in self._protected_names or candidate in self._owned:
                    technique = "infrastructure-prefix" if "-" not in subdomain else "dot-hyphen"
                    return Lookalike(
                        candidate, technique, 95.0, f"{candidate} placed in front of {registrable}"
                    )
        return None

    def _registrable(self, label: str, suffix: str, homoglyph: bool) -> Lookalike | None:
        if label in self._label_suffixes and len(label) >= 4:
            owner = self._label_owner[label]
            technique = "homoglyph" if homoglyph else "tld-swap"
            return Lookalike(owner, technique, 95.0, f"{label}.{suffix} reuses the name of {owner}")
        unhyphenated = label.replace("-", "")
        if unhyphenated != label and unhyphenated in self._label_suffixes:
            owner = self._label_owner[unhyphenated]
            return Lookalike(owner, "hyphenation", 90.0, f"{label} is {unhyphenated} with hyphens")
        return self._typo(label) or self._combo(label)

    def _typo(self, label: str) -> Lookalike | None:
        budget = typo_budget(len(label))
        if not budget:
            return None
        best = process.extractOne(label, self._labels, scorer=OSA.distance, score_cutoff=budget)
        if best is None:
            return None
        target, distance, _ = best
        if distance == 0 or distance > typo_budget(len(target)):
            return None
        score = fuzz.ratio(label, target)
        if score < 75:
            return None
        owner = self._label_owner[target]
        technique = classify_edit(label, target)
        return Lookalike(
            owner, technique, round(score, 1), f"{label} is {distance} edit(s) from {target}"
        )

    def _combo(self, label: str) -> Lookalike | None:
        for part in (label, label.replace("-", "")):
            edge = self._brand_edges.search(part)
            brand = (edge.group(1) or edge.group(2)) if edge else None
            if brand is None:
                inside = self._brand_inside.search(part)
                brand = inside.group(0) if inside else None
            if brand and brand != part:
                owner = self._brand_owner[brand]
                score = round(max(fuzz.partial_ratio(brand, part), 80.0), 1)
                return Lookalike(owner, "combosquat", score, f"{label} wraps the brand {brand!r}")
        return None

    def _shape(self, host: str, icann: tuple[str, str]) -> Lookalike | None:
        """A cloud region label on a foreign domain: appsync-api.eu-west-1.avsvmcloud.com."""
        registrable = f"{icann[0]}.{icann[1]}"
        if registrable in self._owned:
            return None
        for label in host[: -len(registrable)].split("."):
            if _CLOUD_REGION.match(label):
                return Lookalike(
                    "amazonaws.com",
                    "infrastructure-shape",
                    85.0,
                    f"cloud region name {label!r} under the unrelated domain {registrable}",
                )
        return None

    def _subdomain_split(self, host: str, suffix: str) -> Lookalike | None:
        """A protected label cut in two by a dot: p.ython.org, git.hub.com."""
        labels = host[: -len(suffix) - 1].split(".")
        for count in (2, 3):
            if len(labels) < count:
                break
            joined = "".join(labels[-count:])
            if joined in self._label_suffixes and len(joined) >= 4:
                owner = self._label_owner[joined]
                dotted = ".".join(labels[-count:])
                return Lookalike(owner, "subdomain", 90.0, f"{dotted} splits the name {joined}")
        return None


def classify_edit(candidate: str, target: str) -> str:
    """The dnstwist name for the single edit that turns target into candidate, else 'typo'."""
    if len(candidate) == len(target) + 1:
        for index in range(len(candidate)):
            if candidate[:index] + candidate[index + 1 :] == target:
                added = candidate[index]
                if added == "-":
                    return "hyphenation"
                if index == len(candidate) - 1:
                    return "addition"
                if (index and candidate[index - 1] == added) or candidate[
                    index + 1 : index + 2
                ] == added:
                    return "repetition"
                if added == "s":
                    return "plural"
                return "insertion"
    if len(candidate) == len(target) - 1:
        return "omission"
    if len(candidate) == len(target):
        diffs = [i for i, (a, b) in enumerate(zip(candidate, target, strict=True)) if a != b]
        if len(diffs) == 2 and diffs[1] == diffs[0] + 1:
            i = diffs[0]
            if candidate[i] == target[i + 1] and candidate[i + 1] == target[i]:
                return "transposition"
        if len(diffs) == 1:
            a, b = candidate[diffs[0]], target[diffs[0]]
            if a in _VOWELS and b in _VOWELS:
                return "vowel-swap"
            if frozenset((a, b)) in _VISUAL_PAIRS:
                return "homoglyph"
            if bin(ord(a) ^ ord(b)).count("1") == 1:
                return "bitsquatting"
            return "replacement"
    return "typo"
