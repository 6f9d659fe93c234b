#!/usr/bin/env bash
# Installs egressguard from this action's own checkout, hash-verified: uv from a hash-pinned
# requirements file into a private venv, then egressguard from the committed uv.lock
# (uv sync --frozen). No secret is in this step's environment; nothing is fetched by name alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

tools="${RUNNER_TEMP:-/tmp}/egressguard-tools"
if [ ! -x "$tools/bin/uv" ]; then
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --require-hashes -r "$root/.ci/uv-requirements.txt"
fi
# --compile-bytecode: the first run in the job starts as fast as later ones (no .py compiling)
(cd "$root" && "$tools/bin/uv" sync --frozen --no-editable --no-dev --compile-bytecode --quiet)
echo "bin=$root/.venv/bin/egressguard" >> "$GITHUB_OUTPUT"
