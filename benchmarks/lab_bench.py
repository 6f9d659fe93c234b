"""Measures egressguard in the namespaced lab and prints the figures, side by side.

Run as root from the repository: uv run --frozen --no-editable python -m benchmarks.lab_bench
Options: --reps N (alternating repetitions, default 5).

Figures: wall time of a benign pip install of a dozen real wheels with and without egressguard
(median, ratio), what `egressguard run -- true` adds over `true`, packets seen and dropped, and
for each attack the exit status, the time from the violating packet to the SIGKILL and to the
tree being gone, and the bytes the attacker's server received.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.lab.conftest import BENIGN, benign_requirements, lab_env, make_venv, pip_command
from tests.lab.netlab import LOOKALIKE_IP, RAW_IP, UNKNOWN_IP, Lab
from tests.lab.packages import build_world

REPO = Path(__file__).resolve().parents[1]
EGRESSGUARD = [sys.executable, "-m", "egressguard"]


def build_lab(root: Path) -> Lab:
    ca, cert, key, www = build_world(root, REPO / ".cache" / "lab-wheels")
    return Lab(root, ca, cert, key, www).start()


def timed(lab: Lab, argv: list[str], cwd: Path) -> tuple[float, int]:
    start = time.perf_counter()
    proc = lab.run(argv, env=lab_env(lab), cwd=cwd, timeout=300)
    return time.perf_counter() - start, proc.returncode


def benign(lab: Lab, work: Path, reps: int) -> dict[str, float]:
    plain: list[float] = []
    watched: list[float] = []
    stats: dict[str, float] = {}
    for rep in range(reps):
        for guarded in (False, True) if rep % 2 == 0 else (True, False):
            folder = Path(tempfile.mkdtemp(dir=work))
            command = pip_command(make_venv(folder), benign_requirements(folder))
            report = folder / "report.json"
            if guarded:
                command = [*EGRESSGUARD, "run", "--quiet", "--report", str(report), "--", *command]
            seconds, status = timed(lab, command, folder)
            assert status == 0, f"benign install failed (guarded={guarded})"
            (watched if guarded else plain).append(seconds)
            if guarded:
                document = json.loads(report.read_text())
                assert document["findings"] == [], document["findings"]
                stats["packets"] = max(stats.get("packets", 0), document["stats"]["packets"])
                stats["dropped"] = max(stats.get("dropped", 0), document["stats"]["dropped"])
    stats["plain_s"] = statistics.median(plain)
    stats["watched_s"] = statistics.median(watched)
    stats["ratio"] = stats["watched_s"] / stats["plain_s"]
    return stats


def startup(lab: Lab, work: Path, reps: int) -> dict[str, float]:
    bare = [timed(lab, ["true"], work)[0] for _ in range(reps)]
    wrapped = [
        timed(lab, [*EGRESSGUARD, "run", "--quiet", "--", "true"], work)[0] for _ in range(reps)
    ]
    return {
        "true_s": statistics.median(bare),
        "wrapped_s": statistics.median(wrapped),
        "added_s": statistics.median(wrapped) - statistics.median(bare),
    }


SINKS = {
    "egl-lookalike-post": LOOKALIKE_IP,
    "egl-many-posts": UNKNOWN_IP,
    "egl-raw-ip": RAW_IP,
    "egl-index-upload": "198.18.1.10",
    "egl-dns-hex": None,
    "egl-pth": LOOKALIKE_IP,
}


def attack(lab: Lab, work: Path, package: str, enforce: str) -> dict[str, object]:
    lab.reset_logs()
    folder = Path(tempfile.mkdtemp(dir=work))
    venv = make_venv(folder)
    command = pip_command(venv, [package])
    if package == "egl-pth":
        command = ["sh", "-c", " ".join(command) + f" && {venv}/bin/python -c pass"]
    report = folder / "report.json"
    flags = ["--quiet", "--enforce", enforce, "--report", str(report)]
    _, status = timed(lab, [*EGRESSGUARD, "run", *flags, "--", *command], folder)
    document = json.loads(report.read_text())
    sink = SINKS[package]
    received = lab.uploads(server=sink) if sink else len(lab.dns_queries("x.exfil-lab.net"))
    return {
        "attack": package,
        "enforce": enforce,
        "exit": status,
        "kinds": ",".join(sorted({f["kind"] for f in document["findings"]})),
        "packet_to_kill_ms": document["stats"].get("packet_to_kill_ms", "-"),
        "packet_to_gone_ms": document["stats"].get("packet_to_tree_gone_ms", "-"),
        "sink_received": received,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lab = build_lab(work / "lab")
        try:
            b = benign(lab, work, args.reps)
            s = startup(lab, work, args.reps)
            rows = [
                attack(lab, work, package, enforce)
                for enforce in ("gates", "kill")
                for package in SINKS
            ]
        finally:
            lab.close()
    print(f"benign pip install of {len(BENIGN)} wheels, median of {args.reps} alternating runs:")
    print(
        f"  without egressguard {b['plain_s']:.3f} s   with {b['watched_s']:.3f} s   "
        f"ratio {b['ratio']:.3f}"
    )
    print(f"  packets seen {b['packets']:.0f}   dropped by the kernel {b['dropped']:.0f}")
    print(
        f"start-up: true {s['true_s'] * 1000:.0f} ms   egressguard run -- true "
        f"{s['wrapped_s'] * 1000:.0f} ms   added {s['added_s'] * 1000:.0f} ms"
    )
    print("attacks (block mode):")
    print(
        f"  {'attack':<20} {'enforce':<7} {'exit':>4}  {'findings':<38} {'pkt->kill ms':>12} "
        f"{'pkt->gone ms':>12} {'sink got':>10}"
    )
    for r in rows:
        print(
            f"  {r['attack']:<20} {r['enforce']:<7} {r['exit']:>4}  {r['kinds']:<38} "
            f"{r['packet_to_kill_ms']!s:>12} {r['packet_to_gone_ms']!s:>12} "
            f"{r['sink_received']!s:>10}"
        )
    print("  (sink got: bytes the attacker's server received; for egl-dns-hex, exfil queries the")
    print("   upstream resolver saw, out of 10; the index upload's limit is 5 MiB = 5242880)")


if __name__ == "__main__":
    main()
