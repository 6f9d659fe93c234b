"""Our fast Public Suffix List lookups agree with the publicsuffixlist package they read from."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from publicsuffixlist import PublicSuffixList

from egressguard.policy.psl import split

REFERENCE = {True: PublicSuffixList(only_icann=False), False: PublicSuffixList(only_icann=True)}
HOSTS = [
    "files.pythonhosted.org",
    "a.b.github.io",
    "github.io",
    "x.s3.amazonaws.com",
    "www.ck",
    "a.b.c.ck",
    "city.kawasaki.jp",
    "x.kawasaki.jp",
    "xn--85x722f.xn--55qx5d.cn",
    "foo.bar.unknowntld",
    "com",
    "github-com-settings.onrender.com",
    "a.b.co.uk",
    "docker-images-prod.6aa30f8b08e16409b46e0173d6de2f56.r2.cloudflarestorage.com",
]


def _ours(host: str, private: bool) -> str | None:
    parts = split(host, private)
    return ".".join(parts) if parts else None


@pytest.mark.parametrize("private", [True, False])
@pytest.mark.parametrize("host", HOSTS)
def test_known_hosts_agree(host: str, private: bool) -> None:
    assert _ours(host, private) == REFERENCE[private].privatesuffix(host)


def _official_checks() -> list[tuple[str, str | None]]:
    """The PSL project's own test cases, as shipped beside the list (checkPublicSuffix lines)."""
    import re
    from pathlib import Path

    import publicsuffixlist

    text = (Path(publicsuffixlist.__file__).parent / "test_psl.txt").read_text(encoding="utf-8")
    cases = []
    for host, expected in re.findall(r"(?m)^checkPublicSuffix\('([^']*)', (null|'[^']*')\);", text):
        if host and not host.startswith(".") and ".." not in host and host.isascii():
            cases.append((host.lower(), None if expected == "null" else expected.strip("'")))
    return cases


@pytest.mark.parametrize(("host", "expected"), _official_checks())
def test_the_lists_own_test_cases(host: str, expected: str | None) -> None:
    assert _ours(host, private=True) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "www", "s3", "blob", "core", "pages", "co", "github"]), max_size=3
    ),
    st.sampled_from(
        [
            "com",
            "io",
            "uk",
            "jp",
            "ck",
            "github.io",
            "amazonaws.com",
            "windows.net",
            "kawasaki.jp",
            "pages.dev",
            "co.uk",
            "appspot.com",
        ]
    ),
)
def test_generated_hosts_agree(labels: list[str], suffix: str) -> None:
    host = ".".join([*labels, suffix])
    if host in ("kawasaki.jp", "ck"):
        return  # a wildcard's parent: the library calls it a suffix, the PSL algorithm does not
    for private in (True, False):
        assert _ours(host, private) == REFERENCE[private].privatesuffix(host)
