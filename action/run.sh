#!/usr/bin/env bash
# Runs the step's command under egressguard. Every input arrives through the environment, never
# through the script's text. egressguard needs root for its sandbox; the command itself runs as
# the job's user (egressguard drops to the sudo caller inside the sandbox).
set -uo pipefail
args=(run --mode "${EG_MODE:-block}" --report "${EG_REPORT:-egressguard-report.json}")
[ -n "${EG_POLICY:-}" ] && args+=(--policy "$EG_POLICY")
[ -n "${EG_SARIF:-}" ] && args+=(--sarif "$EG_SARIF")
[ -n "${EG_EVENTS:-}" ] && args+=(--events "$EG_EVENTS")
set -f  # '*.example.com' must stay a pattern, not become a file list
for pattern in ${EG_ALLOW:-}; do
    args+=(--allow "$pattern")
done
set +f

command=(bash -e -o pipefail -c "$EG_RUN")
if [ "$(id -u)" -eq 0 ]; then
    "$EGRESSGUARD" "${args[@]}" -- "${command[@]}"
else
    sudo -E env "PATH=$PATH" "$EGRESSGUARD" "${args[@]}" -- "${command[@]}"
fi
status=$?
{
    echo "exit-code=$status"
    echo "report=${EG_REPORT:-egressguard-report.json}"
} >> "$GITHUB_OUTPUT"
exit "$status"
