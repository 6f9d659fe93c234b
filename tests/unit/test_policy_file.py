"""The policy file: it extends and narrows the bundled rules; mistakes name their file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from egressguard.errors import PolicyError
from egressguard.policy.hosts import HostPolicy
from egressguard.policy.interface import HostVerdict
from egressguard.policy.loader import MiB, load_policy

GOOD = """\
version: 1
ecosystems: [pypi, github]
allow:
  - pypi.internal.example.com
  - "*.cache.example.com"
  - 203.0.113.0/24
deny:
  - raw.githubusercontent.com
protect: [example-corp.com]
known_bad: [evil.example]
limits:
  upload: 2MiB
  upload_unlisted: 16KiB
  hosts:
    upload.pypi.org: 200MiB
dns:
  resolvers: [10.0.0.2]
  max_label: 30
  max_names_per_zone: 10
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".egressguard.yml"
    path.write_text(text)
    return path


def test_policy_file_extends_and_narrows(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, GOOD))
    hosts = HostPolicy.from_policy(policy)
    verdict = {
        h: hosts.judge(h).verdict
        for h in (
            "pypi.org",
            "pypi.internal.example.com",
            "a.cache.example.com",
            "registry.npmjs.org",
            "raw.githubusercontent.com",
            "evil.example",
            "example-corp.co",
            "github.com",
        )
    }
    assert verdict == {
        "pypi.org": HostVerdict.ALLOWED,
        "pypi.internal.example.com": HostVerdict.ALLOWED,
        "a.cache.example.com": HostVerdict.ALLOWED,
        "registry.npmjs.org": HostVerdict.UNLISTED,  # npm was not chosen
        "raw.githubusercontent.com": HostVerdict.UNLISTED,  # denied though github allows it
        "evil.example": HostVerdict.KNOWN_BAD,
        "example-corp.co": HostVerdict.TYPOSQUAT,  # a protected company name on another suffix
        "github.com": HostVerdict.ALLOWED,
    }
    assert [str(n) for n in policy.allow_networks] == ["203.0.113.0/24"]
    assert policy.limits.upload_allowed == 2 * MiB
    assert policy.limits.upload_unlisted == 16 * 1024
    assert policy.limits.hosts == (("upload.pypi.org", 200 * MiB),)
    assert (policy.limits.dns_label, policy.limits.dns_names_per_zone) == (30, 10)
    assert policy.resolvers == ("10.0.0.2",)


def test_allow_flag_adds_hosts_and_networks() -> None:
    policy = load_policy(None, ("mirror.example.org", "198.51.100.0/24"))
    assert HostPolicy.from_policy(policy).judge("mirror.example.org").verdict == HostVerdict.ALLOWED
    assert [str(n) for n in policy.allow_networks] == ["198.51.100.0/24"]


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("allow: [pypi.org\n", 2, "expected"),
        ("version: 1\nalow: [x.com]\n", 2, "unknown key 'alow'"),
        ("ecosystems: [pypi, cobol]\n", 1, "unknown ecosystem 'cobol'"),
        ("allow:\n  - pypi.org\n  - 'not a host!'\n", 3, "not a host name"),
        ("limits:\n  upload: lots\n", 2, "must be a size"),
        ("dns:\n  resolvers: [resolver.example]\n", 2, "not an IP address"),
        ("allow: pypi.org\n", 1, "must be a list"),
        ("version: 2\n", 1, "only policy version 1"),
        ("- just\n- a list\n", 1, "must be a mapping"),
    ],
)
def test_malformed_policy_names_file_and_line(
    tmp_path: Path, text: str, line: int, what: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    assert error.value.message.startswith(f"{path}:{line}:")
    assert what in error.value.message
    assert "\n" not in error.value.one_line()


def test_empty_policy_file_means_the_defaults(tmp_path: Path) -> None:
    assert load_policy(write(tmp_path, "")).allow == load_policy(None).allow
