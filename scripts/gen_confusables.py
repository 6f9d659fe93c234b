"""Regenerates egressguard/policy/confusables.json from Unicode's confusables (UTS #39).

The data comes from the `confusable-homoglyphs` dev dependency, which packages Unicode's
confusables.txt as JSON. We keep only what a DNS name can hold after IDNA decoding: characters
whose skeleton is a lowercase ASCII letter, digit or hyphen (or a short run of them, such as
m -> rn). Run with: uv run python scripts/gen_confusables.py
"""

from __future__ import annotations

import json
import string
import unicodedata
from pathlib import Path

import confusable_homoglyphs

TARGET = Path(__file__).resolve().parents[1] / "egressguard" / "policy" / "confusables.json"
ASCII = set(string.ascii_lowercase + string.digits + "-")
CYRILLIC_LATIN = {  # written as code points: the letters are the point
    "\u0430": "a",
    "\u0441": "c",
    "\u0501": "d",
    "\u0435": "e",
    "\u050d": "g",
    "\u04bb": "h",
    "\u0456": "i",
    "\u0458": "j",
    "\u043a": "k",
    "\u04cf": "l",
    "\u043c": "m",
    "\u043e": "o",
    "\u0440": "p",
    "\u051b": "q",
    "\u0455": "s",
    "\u0442": "t",
    "\u051d": "w",
    "\u0445": "x",
    "\u0443": "y",
    "\u044c": "b",
    "\u0475": "v",
}


def main() -> None:
    source = Path(confusable_homoglyphs.__file__).with_name("confusables.json")
    data = json.loads(source.read_text(encoding="utf-8"))
    table: dict[str, str] = {}
    for char, homoglyphs in data.items():
        if len(char) != 1:
            continue
        if char.lower() in ASCII:
            # The data lists, under each ASCII letter, the characters that look like it.
            for entry in homoglyphs:
                other = entry["c"]
                if len(other) == 1 and other not in ASCII and not other.isascii():
                    table.setdefault(other, char.lower())
            continue
        for entry in homoglyphs:
            target = entry["c"].lower()
            if 0 < len(target) <= 2 and set(target) <= ASCII:
                table.setdefault(char, target)
                break
    # Cyrillic letters that stand in for Latin ones in real IDN homograph attacks but that
    # UTS #39 leaves out (its skeletons keep small-capital shapes apart): dnstwist's cyrillic set.
    table.update(CYRILLIC_LATIN)
    # Fold compatibility forms too (fullwidth, mathematical letters) when the data missed them.
    for code in range(0x80, 0x2FFFF):
        char = chr(code)
        folded = unicodedata.normalize("NFKD", char).lower()
        if char not in table and len(folded) == 1 and folded in ASCII:
            table[char] = folded
    TARGET.write_text(json.dumps(table, ensure_ascii=False, sort_keys=True, indent=0) + "\n")
    print(f"wrote {len(table)} mappings to {TARGET}")


if __name__ == "__main__":
    main()
