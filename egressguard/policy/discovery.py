"""Hosts the package manager is itself configured to use, allowed without the user listing
them again: pip's index-url, extra-index-url and find-links (config files, environment and
command line), uv and Poetry sources in pyproject.toml and uv.toml, npm registries in .npmrc."""

from __future__ import annotations

import configparser
import os
import re
import shlex
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

_PIP_KEYS = (
    "index-url",
    "extra-index-url",
    "find-links",
    "index_url",
    "extra_index_url",
    "find_links",
)
_PIP_ENV = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")
_UV_ENV = ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_FIND_LINKS")
_URL_FLAGS = (
    "--index-url",
    "-i",
    "--extra-index-url",
    "--find-links",
    "-f",
    "--index",
    "--default-index",
    "--registry",
)


def package_manager_hosts(
    argv: list[str], env: dict[str, str], cwd: Path, home: Path
) -> list[tuple[str, str]]:
    """(host, where it was configured) for every index the command's tools would contact."""
    found: dict[str, str] = {}

    def add(urls: Iterable[str], source: str) -> None:
        for url in urls:
            host = _host(url)
            if host:
                found.setdefault(host, source)

    add(_from_argv(argv), "the command line")
    for name in (*_PIP_ENV, *_UV_ENV, "NPM_CONFIG_REGISTRY", "npm_config_registry"):
        if env.get(name):
            add(env[name].split(), f"${name}")
    for path in _pip_configs(env, home):
        add(_pip_config_urls(path), str(path))
    for path in (cwd / "pyproject.toml", cwd / "uv.toml", home / ".config" / "uv" / "uv.toml"):
        add(_toml_urls(path), str(path))
    for path in (cwd / ".npmrc", home / ".npmrc"):
        add(_npmrc_urls(path), str(path))
    return sorted(found.items())


def _host(url: str) -> str | None:
    url = url.strip().strip("'\"")
    if "://" not in url:
        return None
    host = urlsplit(url).hostname
    return host.lower() if host else None


def _from_argv(argv: list[str]) -> list[str]:
    words = list(argv)
    if (
        len(words) >= 3
        and os.path.basename(words[0]) in ("sh", "bash", "dash", "zsh")
        and (words[1] == "-c")
    ):
        try:
            words = shlex.split(words[2])
        except ValueError:
            return []
    urls = []
    for index, word in enumerate(words):
        if word in _URL_FLAGS and index + 1 < len(words):
            urls.append(words[index + 1])
        elif "=" in word and word.split("=", 1)[0] in _URL_FLAGS:
            urls.append(word.split("=", 1)[1])
    return urls


def _pip_configs(env: dict[str, str], home: Path) -> list[Path]:
    if env.get("PIP_CONFIG_FILE"):
        return [Path(env["PIP_CONFIG_FILE"])]
    paths = [
        Path("/etc/pip.conf"),
        Path("/etc/xdg/pip/pip.conf"),
        home / ".config" / "pip" / "pip.conf",
        home / ".pip" / "pip.conf",
    ]
    if env.get("VIRTUAL_ENV"):
        paths.append(Path(env["VIRTUAL_ENV"]) / "pip.conf")
    return paths


def _pip_config_urls(path: Path) -> list[str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return []
    return [
        url
        for section in parser.sections()
        for key in _PIP_KEYS
        for url in parser.get(section, key, fallback="").split()
    ]


def _toml_urls(path: Path) -> list[str]:
    import tomllib  # only when a pyproject.toml or uv.toml is there to read

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []
    tool = document.get("tool", {}) if path.name == "pyproject.toml" else {"uv": document}
    sources = [*tool.get("uv", {}).get("index", []), *tool.get("poetry", {}).get("source", [])]
    urls = [s.get("url", "") for s in sources if isinstance(s, dict)]
    uv = tool.get("uv", {})
    for key in ("index-url", "extra-index-url", "find-links"):
        value = uv.get(key, [])
        urls.extend([value] if isinstance(value, str) else value)
    return [u for u in urls if isinstance(u, str)]


def _npmrc_urls(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    return re.findall(r"^\s*(?:@[\w.-]+:)?registry\s*=\s*(\S+)", text, re.MULTILINE)
