"""Evaluates the lookalike engine: recall per technique, false alarms, names per second.

Run from the repository: uv run --frozen --no-editable python -m benchmarks.lookalike_eval
Options: --homoglyphs N (homoglyph candidates kept per domain, default 60), --seed S.

Attack names: every dnstwist fuzzer run over the registrable domains egressguard protects (its
dictionary fuzzer fed our lure words, its TLD swap fed abused and common TLDs), plus our own
TLD swaps, combosquats, infrastructure-prefix and platform-tenant cases, plus the real attack
hostnames of shared research. Candidates that are legitimate (allowlisted, owned by the brand,
or on the reviewed legitimate list) are set aside, not counted. Benign names:
benchmarks/data/benign-domains.txt. Throughput: one `egressguard check` process judging every
name, start-up and first call included.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import dnstwist
import yaml

from egressguard.policy.hosts import HostPolicy
from egressguard.policy.interface import HostVerdict
from egressguard.policy.loader import load_policy
from egressguard.policy.lookalike import LookalikeEngine
from egressguard.policy.psl import split

HERE = Path(__file__).resolve().parent
RESEARCH = HERE.parents[1] / "shared" / "research" / "domains.yaml"
TLDS = [
    "cloud",
    "zone",
    "help",
    "dev",
    "net",
    "info",
    "xyz",
    "top",
    "io",
    "co",
    "app",
    "site",
    "online",
    "live",
    "cx",
    "sh",
    "me",
    "biz",
    "ru",
    "cn",
    "tk",
    "ml",
    "pw",
    "icu",
    "shop",
]
WORDS = [
    "mirror",
    "cdn",
    "files",
    "hosted",
    "registry",
    "download",
    "update",
    "secure",
    "login",
    "api",
    "cloud",
    "repo",
    "get",
    "install",
    "audit",
    "scanner",
    "static",
    "assets",
]
PLATFORMS = [
    "onrender.com",
    "herokuapp.com",
    "vercel.app",
    "netlify.app",
    "pages.dev",
    "workers.dev",
    "web.app",
    "azurewebsites.net",
    "glitch.me",
    "repl.co",
]
FLAGGED = (HostVerdict.TYPOSQUAT, HostVerdict.KNOWN_BAD)


def protected_domains(policy_allow: tuple[str, ...], protected: tuple[str, ...]) -> list[str]:
    out = set()
    for name in (*policy_allow, *protected):
        parts = split(name.lstrip("*."), private=False)
        if parts:
            out.add(".".join(parts))
    return sorted(out)


def dnstwist_cases(
    domains: list[str], keep_homoglyphs: int, rng: random.Random, words: list[str]
) -> list[tuple[str, str]]:
    cases = []
    for domain in domains:
        fuzzer = dnstwist.Fuzzer(domain, dictionary=words, tld_dictionary=TLDS)
        fuzzer.generate()
        homoglyphs = [d["domain"] for d in fuzzer.domains if d["fuzzer"] == "homoglyph"]
        kept = set(rng.sample(homoglyphs, min(keep_homoglyphs, len(homoglyphs))))
        for entry in fuzzer.domains:
            technique, name = entry["fuzzer"], entry["domain"]
            if technique == "*original" or (technique == "homoglyph" and name not in kept):
                continue
            cases.append((technique, name))
    return cases


def own_cases(domains: list[str], hosts: list[str]) -> list[tuple[str, str]]:
    cases = []
    for domain in domains:
        label, suffix = domain.split(".", 1)
        if len(label) < 4:
            continue
        cases += [("own:tld-swap", f"{label}.{tld}") for tld in TLDS if tld != suffix]
        for word in WORDS:
            cases += [
                ("own:combosquat", f"{label}-{word}.com"),
                ("own:combosquat", f"{word}-{label}.{suffix}"),
                ("own:combosquat", f"{label}{word}.net"),
            ]
        cases += [("own:tenant", f"{label}-com-login.{platform}") for platform in PLATFORMS[:4]]
    for host in hosts:
        cases += [
            ("own:infrastructure-prefix", f"{host}.cdn-edge.net"),
            ("own:infrastructure-prefix", f"{host}.secure-dl.com"),
        ]
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homoglyphs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    policy = load_policy()
    hosts = HostPolicy.from_policy(policy)
    engine = LookalikeEngine.from_policy(policy)
    domains = protected_domains(policy.allow, policy.protected)
    infra_hosts = sorted({h for h in policy.allow if not h.startswith("*")})

    started = time.perf_counter()
    cases = dnstwist_cases(domains, args.homoglyphs, rng, list(policy.lure_words))
    cases += own_cases(domains, infra_hosts)
    research = yaml.safe_load(RESEARCH.read_text()) if RESEARCH.exists() else {"attacks": []}
    cases += [("real-incident", entry["malicious"]) for entry in research["attacks"]]
    generated = time.perf_counter() - started

    legitimate = set_aside = 0
    totals: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    misses: dict[str, list[str]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for technique, name in cases:
        if (technique, name) in seen:
            continue
        seen.add((technique, name))
        verdict = hosts.judge(name)
        if verdict.verdict == HostVerdict.ALLOWED or "legitimate" in verdict.reason:
            set_aside += 1
            continue
        if engine.owns(name):  # dnstwist also emits names the brand owns: github.io
            legitimate += 1
            continue
        totals[technique] += 1
        if verdict.verdict in FLAGGED:
            caught[technique] += 1
        else:
            misses[technique].append(name)

    benign = [
        line.strip()
        for line in (HERE / "data" / "benign-domains.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    false_alarms = [(n, hosts.judge(n).reason) for n in benign if hosts.judge(n).verdict in FLAGGED]

    names = sorted({name for _, name in seen} | set(benign))
    rate, elapsed = _throughput(names)

    print(
        f"protected registrable domains: {len(domains)}; candidates generated in "
        f"{generated:.1f} s; set aside as allowlisted or reviewed legitimate: {set_aside}; "
        f"owned by the brand itself: {legitimate}"
    )
    print(f"{'technique':<28} {'caught':>8} {'of':>8} {'recall':>8}")
    for technique in sorted(totals):
        recall = caught[technique] / totals[technique]
        print(f"{technique:<28} {caught[technique]:>8} {totals[technique]:>8} {recall:>8.1%}")
    overall = sum(caught.values()) / sum(totals.values())
    print(f"{'overall':<28} {sum(caught.values()):>8} {sum(totals.values()):>8} {overall:>8.1%}")
    print(f"false alarms on {len(benign)} benign domains: {len(false_alarms)}")
    for name, reason in false_alarms:
        print(f"  {name}: {reason}")
    print(
        f"throughput: {len(names)} names through one `egressguard check` process in "
        f"{elapsed:.2f} s = {rate:,.0f} names/s (start-up and first call included)"
    )
    for technique, missed in sorted(misses.items()):
        print(f"missed {technique} ({len(missed)}): {', '.join(missed[:8])}")


def _throughput(names: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "egressguard", "check", "--json", *names],
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"check failed: {proc.stderr}")
    return len(names) / elapsed, elapsed


if __name__ == "__main__":
    main()
