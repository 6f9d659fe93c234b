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
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from egressguard.policy.loader import Policy
from egressguard.policy.psl import split, suffix_list

_VOWELS = set("aeiou")
_VISUAL_PAIRS = {
    frozenset(p) for p in ("l1", "li", "i1", "o0", "mn", "uv", "vy", "qg", "ce", "bd", "pq")
}
_CLOUD_REGION = re.compile(
    r"^(us|eu|ap|sa|ca|me|af|il|mx|cn)-(north|south|east|west|central|northeast|southeast|"
    r"northwest|southwest|gov-west|gov-east)-\d$"
)
_ASCII_SKELETON = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("0", "o"), ("1", "l"))


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


@functools.cache
def _top_level_domains() -> frozenset[str]:
    return frozenset(rule for rule in suffix_list(private=False).rules if "." not in rule)


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


def fold(text: str) -> str:
    """Non-ASCII lookalikes and accented letters folded to the ASCII letters they imitate."""
    if text.isascii():
        return text
    table = _confusables()
    text = "".join(table.get(char, char) for char in text)
    if not text.isascii():  # accented letters: drop the marks (ä -> a)
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
        text = "".join(table.get(char, char) for char in text)
    return text


def skeleton(text: str) -> str:
    """A UTS #39-style skeleton for DNS names: fold(), then ASCII lookalikes (rn -> m, 0 -> o)."""
    text = fold(text)
    for needle, replacement in _ASCII_SKELETON:
        text = text.replace(needle, replacement)
    return text


def typo_budget(length: int) -> int:
    """Edits a protected label of this length may differ by and still be called a typo of it."""
    if length < 4:
        return 1  # only with the protected name's own suffix, see _typo
    return 1 if length < 8 else 2


@dataclass
class _Names:
    """Protected names in one normal form (folded, or folded and ASCII-skeletonised)."""

    owned: set[str]
    full: set[str]
    label_suffixes: dict[str, set[str]]
    label_owner: dict[str, str]
    labels: list[str]
    # (token, suffix) -> the hyphenated protected label it is part of: ("rust", "org") -> rust-lang
    tokens: dict[tuple[str, str], str]
    weight: dict[str, int]  # how many protected names carry a label: breaks typo ties


class LookalikeEngine:
    """Scores host names against the protected set; build once, call `match` per name."""

    def __init__(
        self,
        protected: Iterable[str],
        brands: Iterable[str],
        owned: Iterable[str],
        infrastructure: Iterable[str] = (),
        lure_words: Iterable[str] = (),
        abused_tlds: Iterable[str] = (),
    ) -> None:
        """`protected` names are guarded down to a platform tenant's own name
        (aquasecurity.github.io guards "aquasecurity"); `infrastructure` (allowlisted hosts)
        only by their registrable domain, since tenant names there are words like raw or gist.
        """
        protected, infrastructure = list(protected), list(infrastructure)
        self._owned_raw: set[str] = {name.lower() for name in owned}
        for name in (*protected, *infrastructure):
            for private in (False, True):
                parts = split(name.lower().lstrip("*.").rstrip("."), private)
                if parts:
                    self._owned_raw.add(".".join(parts))
        self._folded = self._index(fold, protected, infrastructure)
        self._skeletal = self._index(skeleton, protected, infrastructure)
        self._brands = sorted({b.lower() for b in brands}, key=len, reverse=True)
        alternatives = "|".join(map(re.escape, self._brands))
        self._brand_edges = re.compile(f"^({alternatives})|({alternatives})$")
        long_brands = [b for b in self._brands if len(b) >= 6]
        self._brand_inside = re.compile("|".join(map(re.escape, long_brands)))
        self._lure_words = sorted({w.lower() for w in lure_words}, key=len, reverse=True)
        self._lure_set = frozenset(self._lure_words)
        self._abused_tlds = frozenset(t.lower() for t in abused_tlds)
        self._tlds = _top_level_domains()

    @classmethod
    def from_policy(cls, policy: Policy) -> LookalikeEngine:
        return cls(
            protected=policy.protected,
            brands=policy.brands,
            owned=policy.owned,
            infrastructure=policy.allow,
            lure_words=policy.lure_words,
            abused_tlds=policy.abused_tlds,
        )

    def _index(
        self, normal: Callable[[str], str], protected: list[str], infrastructure: list[str]
    ) -> _Names:
        names = _Names({normal(n) for n in self._owned_raw}, set(), {}, {}, [], {}, {})
        owners: dict[str, list[str]] = {}
        for group, tenants in ((protected, True), (infrastructure, False)):
            for raw in group:
                name = raw.lower().lstrip("*.").rstrip(".")
                names.full.add(normal(name))
                icann = split(name, private=False)
                for private in (False, True):
                    parts = split(name, private)
                    if parts is None or (private and parts != icann and not tenants):
                        continue
                    label = normal(parts[0])
                    names.label_suffixes.setdefault(label, set()).add(parts[1])
                    owners.setdefault(label, []).append(".".join(parts))
        # Name the best-known owner of a label: the one most protected names live under.
        for label, candidates in owners.items():
            names.weight[label] = len(candidates)
            names.label_owner[label] = max(
                candidates, key=lambda r: (candidates.count(r), r.endswith((".com", ".org")))
            )
        names.labels = sorted(names.label_owner)
        for label, suffixes in names.label_suffixes.items():
            for token in label.split("-") if "-" in label else ():
                for suffix in suffixes:
                    names.tokens.setdefault((token, suffix), label)
        return names

    def owns(self, host: str) -> bool:
        """Whether host's registrable domain belongs to a protected name's owner."""
        name = host.lower().rstrip(".")
        return any(
            parts is not None and ".".join(parts) in self._owned_raw
            for parts in (split(name, private=False), split(name, private=True))
        )

    def match(self, host: str) -> Lookalike | None:
        """How host imitates a protected name, or None when it does not (or is the owner's)."""
        ascii_host = host.lower().rstrip(".")
        unicode_host = decode_idna(ascii_host)
        folded = fold(unicode_host)
        idn = folded != ascii_host
        found = self._match(ascii_host, folded, self._folded, idn, glyphs=idn)
        if found is None:
            # Second pass for ASCII lookalikes (rn for m, 0 for o), only where they occur.
            skeletal = skeleton(unicode_host)
            if skeletal != folded:
                found = self._match(ascii_host, skeletal, self._skeletal, idn, glyphs=True)
        if found is None:
            raw_icann = split(ascii_host, private=False)
            found = self._shape(ascii_host, raw_icann) if raw_icann else None
        return found

    def _match(
        self, ascii_host: str, host: str, names: _Names, idn: bool, glyphs: bool
    ) -> Lookalike | None:
        """One pass of the rules; `idn`: the name has non-ASCII characters (one edit more is
        allowed); `glyphs`: lookalike characters were folded (the technique is homoglyph)."""
        icann = split(host, private=False)
        if icann is None:
            return None
        tenant = split(host, private=True)
        # The ICANN registrable domain first; under an owned platform (github.io, s3 buckets)
        # the tenant's own name is judged instead, as its own domain.
        for label, suffix in (icann, tenant) if tenant and tenant != icann else (icann,):
            registrable = f"{label}.{suffix}"
            if registrable in names.owned:
                raw = split(ascii_host, private=(label, suffix) != icann)
                if glyphs and raw and ".".join(raw) not in self._owned_raw:
                    return Lookalike(
                        registrable, "homoglyph", 100.0, f"{ascii_host} reads as {registrable}"
                    )
                continue
            found = (
                self._prefix(host, registrable, names)
                or self._subdomain_split(host, suffix, names)
                or self._registrable(label, suffix, idn, glyphs, names)
            )
            if found:
                return found
        return None

    # -- the rules, one technique family each ---------------------------------------------

    def _prefix(self, host: str, registrable: str, names: _Names) -> Lookalike | None:
        """A protected name in front of a foreign domain: files.pythonhosted.org.evil.net,
        or the same with hyphens for dots: github-com-login.onrender.com."""
        subdomain = host[: -len(registrable)].rstrip(".")
        if not subdomain:
            return None
        labels = subdomain.split(".")
        for start in range(len(labels)):
            for end in range(start + 2, len(labels) + 1):
                candidate = ".".join(labels[start:end])
                if candidate in names.full or candidate in names.owned:
                    return self._in_front(candidate, "infrastructure-prefix", registrable, names)
        tokens = subdomain.replace(".", "-").split("-")
        for end in range(1, len(tokens)):
            if tokens[end] not in self._tlds:
                continue
            for start in range(max(0, end - 3), end):
                label = "-".join(tokens[start:end])
                if len(label) >= 4 and label in names.label_suffixes:
                    return self._in_front(
                        f"{label}.{tokens[end]}", "dot-hyphen", registrable, names
                    )
        return None

    @staticmethod
    def _in_front(name: str, technique: str, registrable: str, names: _Names) -> Lookalike:
        owner = names.label_owner.get(name.split(".")[0], name)
        return Lookalike(owner, technique, 95.0, f"{name} placed in front of {registrable}")

    @staticmethod
    def _subdomain_split(host: str, suffix: str, names: _Names) -> Lookalike | None:
        """A protected label cut in two by a dot: p.ython.org, git.hub.com."""
        labels = host[: -len(suffix) - 1].split(".")
        for count in (2, 3):
            if len(labels) < count:
                break
            joined = "".join(labels[-count:])
            if joined in names.label_suffixes and (
                len(joined) >= 4 or suffix in names.label_suffixes[joined]
            ):
                owner = names.label_owner[joined]
                dotted = ".".join(labels[-count:])
                return Lookalike(owner, "subdomain", 90.0, f"{dotted} splits the name {joined}")
        return None

    def _registrable(
        self, label: str, suffix: str, idn: bool, glyphs: bool, names: _Names
    ) -> Lookalike | None:
        if label in names.label_suffixes and (len(label) >= 4 or suffix in self._abused_tlds):
            owner = names.label_owner[label]
            technique = "homoglyph" if glyphs else "tld-swap"
            return Lookalike(owner, technique, 95.0, f"{label}.{suffix} reuses the name of {owner}")
        return (
            self._rejoined(label, names)
            or self._typo(label, suffix, idn, glyphs, names)
            or self._plural(label, names)
            or self._brand_combo(label, names)
            or self._lure_combo(label, suffix, names)
        )

    def _rejoined(self, label: str, names: _Names) -> Lookalike | None:
        """Hyphens added (circle-ci) or the suffix folded into the label (pypiorg, pypi-org)."""
        unhyphenated = label.replace("-", "")
        if unhyphenated != label and unhyphenated in names.label_suffixes:
            owner = names.label_owner[unhyphenated]
            return Lookalike(owner, "hyphenation", 90.0, f"{label} is {unhyphenated} with hyphens")
        for cut in range(2, min(len(label) - 2, 7)):
            head, tld = label[:-cut].rstrip("-"), label[-cut:]
            if tld in self._tlds and head in names.label_suffixes and len(head) >= 3:
                owner = names.label_owner[head]
                return Lookalike(owner, "tld-in-label", 90.0, f"{label} is {head}.{tld} folded")
        return None

    def _typo(
        self, label: str, suffix: str, idn: bool, glyphs: bool, names: _Names
    ) -> Lookalike | None:
        """One or two edits from a protected label; short labels only on their own suffix;
        an IDN name, already a lookalike by construction, gets one edit more."""
        if len(label) < 2:
            return None
        extra = 1 if idn else 0
        matches = process.extract(
            label, names.labels, scorer=OSA.distance, score_cutoff=2 + extra, limit=6
        )
        ranked = sorted(matches, key=lambda m: (m[1], -names.weight[m[0]], -len(m[0])))
        for target, distance, _ in ranked:
            if distance == 0 or distance > typo_budget(len(target)) + extra:
                continue
            score = fuzz.ratio(label, target)
            if len(target) < 4:
                if suffix not in names.label_suffixes[target]:
                    continue
            elif score < 75 - 10 * extra:
                continue
            owner = names.label_owner[target]
            technique = "homoglyph" if glyphs else classify_edit(label, target)
            return Lookalike(
                owner, technique, round(score, 1), f"{label} is {distance} edit(s) from {target}"
            )
        return None

    @staticmethod
    def _plural(label: str, names: _Names) -> Lookalike | None:
        """An s or es slipped in: fastlys, aquasesec (two letters, beyond the typo budget)."""
        for index in range(1, len(label) - 1):
            for extra in ("es", "s"):
                if label.startswith(extra, index):
                    base = label[:index] + label[index + len(extra) :]
                    if base in names.label_suffixes and len(base) >= 4:
                        owner = names.label_owner[base]
                        return Lookalike(owner, "plural", 85.0, f"{label} is {base} with {extra}")
        return None

    def _brand_combo(self, label: str, names: _Names) -> Lookalike | None:
        """A distinctive brand at either end of a label, or inside it: pypi-mirror, npmaudit."""
        for part in (label, label.replace("-", "")):
            edge = self._brand_edges.search(part)
            brand = (edge.group(1) or edge.group(2)) if edge else None
            if brand is None:
                inside = self._brand_inside.search(part)
                brand = inside.group(0) if inside else None
            if brand and brand != part:
                owner = names.label_owner.get(brand, brand)
                score = round(max(fuzz.partial_ratio(brand, part), 80.0), 1)
                return Lookalike(owner, "combosquat", score, f"{label} wraps the brand {brand!r}")
        return None

    def _lure_combo(self, label: str, suffix: str, names: _Names) -> Lookalike | None:
        """Any protected name joined to a lure word: gradle-update, mirrorfastly, dot-registry;
        or a lure word swapped for one part of a hyphenated name: rust-mirror.org (rust-lang)."""
        parts = label.split("-")
        if len(parts) == 2 and (parts[0] in self._lure_set or parts[1] in self._lure_set):
            for token in parts:
                whole = names.tokens.get((token, suffix))
                if whole and token not in self._lure_set:
                    owner = names.label_owner[whole]
                    return Lookalike(
                        owner, "combosquat", 80.0, f"{label} keeps {token!r} of {whole}"
                    )
        for word in self._lure_words:
            if label == word:
                continue
            rests = []
            if label.startswith(word):
                rests.append(label[len(word) :])
            if label.endswith(word):
                rests.append(label[: -len(word)])
            for rest in rests:
                hyphenated = rest.startswith("-") or rest.endswith("-")
                rest = rest.strip("-")
                if rest not in names.label_suffixes:
                    continue
                own_suffix = suffix in names.label_suffixes[rest]
                if len(rest) >= 4 or own_suffix or (len(rest) == 3 and hyphenated):
                    owner = names.label_owner[rest]
                    return Lookalike(
                        owner, "combosquat", 85.0, f"{label} joins {rest} and {word!r}"
                    )
        return None

    def _shape(self, host: str, icann: tuple[str, str]) -> Lookalike | None:
        """A cloud region label on a foreign domain: appsync-api.eu-west-1.avsvmcloud.com."""
        registrable = f"{icann[0]}.{icann[1]}"
        if registrable in self._owned_raw:
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


def classify_edit(candidate: str, target: str) -> str:
    """The dnstwist name for the single edit that turns target into candidate, else 'typo'."""
    if len(candidate) == len(target) + 1:
        for index in range(len(candidate)):
            if candidate[:index] + candidate[index + 1 :] == target:
                added = candidate[index]
                if added == "-":
                    return "hyphenation"
                if (index and candidate[index - 1] == added) or candidate[
                    index + 1 : index + 2
                ] == added:
                    return "repetition"
                if index == len(candidate) - 1:
                    return "addition"
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
        if diffs and all(frozenset((candidate[i], target[i])) in _VISUAL_PAIRS for i in diffs):
            return "homoglyph"
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
