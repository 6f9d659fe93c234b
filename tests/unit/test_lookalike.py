"""The lookalike engine, technique by technique, and the legitimate neighbours it leaves alone."""

from __future__ import annotations

import pytest

from egressguard.policy.hosts import HostPolicy
from egressguard.policy.interface import HostVerdict
from egressguard.policy.loader import Policy
from egressguard.policy.lookalike import LookalikeEngine, classify_edit, decode_idna, skeleton


@pytest.fixture(scope="module")
def hosts(policy: Policy) -> HostPolicy:
    return HostPolicy.from_policy(policy)


@pytest.fixture(scope="module")
def engine(policy: Policy) -> LookalikeEngine:
    return LookalikeEngine.from_policy(policy)


# (host, protected name it imitates, technique)
LOOKALIKES = [
    ("scan.aquasecurtiy-cdn.org", "aquasec.com", "combosquat"),
    ("aquasecurtiy.net", "aquasecurity.github.io", "transposition"),
    ("litellm.cloud", "litellm.ai", "tld-swap"),
    ("pythonhosted.net", "pythonhosted.org", "tld-swap"),
    ("pythonhosted-files.com", "pythonhosted.org", "combosquat"),
    ("registry-npmjs.org", "npmjs.org", "combosquat"),
    ("files.pythonhosted.org.cdn-edge.net", "files.pythonhosted.org", "infrastructure-prefix"),
    ("github-com-settings-applications.onrender.com", "github.com", "dot-hyphen"),
    ("p.ython.org", "python.org", "subdomain"),
    ("pypj.org", "pypi.org", "replacement"),
    ("npnjs.com", "npmjs.org", "homoglyph"),
    ("rubgems.org", "rubygems.org", "omission"),
    ("pythanhosted.org", "pythonhosted.org", "vowel-swap"),
    ("circle-ci.com", "circleci.com", "hyphenation"),
    ("glthub.info", "github.com", "homoglyph"),
    ("gitthub.com", "github.com", "repetition"),
    ("githubs.com", "github.com", "addition"),
    ("pypiorg.com", "pypi.org", "tld-in-label"),
    ("gradle-update.net", "gradle.org", "combosquat"),
    ("rust-mirror.org", "rust-lang.org", "combosquat"),
    ("xn--pypi-cxa.org", "pypi.org", "homoglyph"),  # pyġpi.org
    ("xn--80aaa2bl1n.com", "akamai.com", "homoglyph"),  # Cyrillic акамаі.com
    ("g00gle-analytics.com", "google-analytics.com", "homoglyph"),
    ("gcr.zone", "gcr.io", "tld-swap"),
    ("appsync-api.eu-west-1.avsvmcloud.com", "amazonaws.com", "infrastructure-shape"),
]


@pytest.mark.parametrize(("host", "imitates", "technique"), LOOKALIKES)
def test_lookalikes_are_caught_with_their_technique(
    engine: LookalikeEngine, host: str, imitates: str, technique: str
) -> None:
    found = engine.match(host)
    assert found is not None
    assert (found.similar_to, found.technique) == (imitates, technique)
    assert 0 < found.score <= 100


def test_check_path_reports_the_lookalike(hosts: HostPolicy) -> None:
    verdict = hosts.judge("files.pythonhosted-cdn.org")
    assert verdict.verdict == HostVerdict.TYPOSQUAT
    assert (verdict.similar_to, verdict.technique) == ("pythonhosted.org", "combosquat")


@pytest.mark.parametrize(
    "host",
    [
        "pypi.io",
        "pypa.io",
        "gcr.io",
        "ghcr.io",
        "npmjs.com",
        "npmjs.org",
        "github.io",
        "gitlab.com",
        "gitee.com",
        "docs.rs",
        "crate.io",
        "nvidia.github.io",
        "pypi.nvidia.com",
        "oracle.com",
        "pythonanywhere.com",
        "docker.com",
        "rocket.chat",
        "nist.gov",
        "go.com",
        "dev.to",
        "registry.npmmirror.com",
        "githubusercontent.com",
        "huggingface.com",
        "brew.sh",
    ],
)
def test_legitimate_neighbours_stay_clean(hosts: HostPolicy, host: str) -> None:
    assert hosts.judge(host).verdict in (HostVerdict.ALLOWED, HostVerdict.UNLISTED)


def test_exact_allowlist_comes_before_scoring(hosts: HostPolicy) -> None:
    assert hosts.judge("files.pythonhosted.org").verdict == HostVerdict.ALLOWED
    assert hosts.judge("FILES.PythonHosted.org.").verdict == HostVerdict.ALLOWED


def test_known_bad_outranks_lookalike_and_still_says_what_it_imitates(hosts: HostPolicy) -> None:
    verdict = hosts.judge("models.litellm.cloud")
    assert verdict.verdict == HostVerdict.KNOWN_BAD and "litellm" in verdict.reason
    assert (verdict.similar_to, verdict.technique) == ("litellm.ai", "tld-swap")


def test_idna_and_skeleton() -> None:
    assert decode_idna("xn--80aaa2bl1n.com") == "акамаі.com"
    assert skeleton("акамаі") == "akamai"
    assert skeleton("rnicrosoft") == skeleton("microsoft")
    assert skeleton("ålcamai") == "alcamai"


@pytest.mark.parametrize(
    ("candidate", "target", "technique"),
    [
        ("pypii", "pypi", "repetition"),
        ("pypix", "pypi", "addition"),
        ("pyxpi", "pypi", "insertion"),
        ("ppi", "pypi", "omission"),
        ("yppi", "pypi", "transposition"),
        ("pypo", "pypi", "vowel-swap"),
        ("pypl", "pypi", "homoglyph"),
        ("pxpi", "pypi", "bitsquatting"),
        ("py-pi", "pypi", "hyphenation"),
        ("pyspi", "pypi", "plural"),
        ("pyzi", "pypi", "replacement"),
        ("xyqi", "pypi", "typo"),
    ],
)
def test_edit_classification(candidate: str, target: str, technique: str) -> None:
    assert classify_edit(candidate, target) == technique


def test_cache_answers_repeated_names_identically(hosts: HostPolicy) -> None:
    first = hosts.judge("pypi-mirror.org")
    assert hosts.judge("pypi-mirror.org") is first
