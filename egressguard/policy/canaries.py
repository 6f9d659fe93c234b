"""Canary credentials: fake, recognisable keys put in the command's environment (--canaries).
A canary value has no use but to be stolen, so any trace of one leaving the step, plain, hex or
base64, in a cleartext payload or a DNS name, is `secret-in-cleartext`."""

from __future__ import annotations

import base64
import re
import secrets
import string

_UPPER = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits


def _random(alphabet: str, size: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(size))


def make_canaries() -> dict[str, str]:
    """Environment variables stealers read, with fresh fake values shaped like the real ones."""
    return {
        "AWS_ACCESS_KEY_ID": "AKIA" + _random(_UPPER, 16),
        "AWS_SECRET_ACCESS_KEY": _random(_ALNUM + "/+", 40),
        "GITHUB_TOKEN": "ghp_" + _random(_ALNUM, 36),
        "NPM_TOKEN": "npm_" + _random(_ALNUM, 36),
    }


def canary_patterns(canaries: dict[str, str]) -> list[tuple[str, str]]:
    """(name, regex) pairs matching each canary value as sent plain, hex or base64."""
    out = []
    for name, value in canaries.items():
        raw = value.encode()
        forms = {
            value,
            raw.hex(),
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
        }
        out.append((f"canary {name}", "|".join(re.escape(form) for form in sorted(forms))))
    return out
