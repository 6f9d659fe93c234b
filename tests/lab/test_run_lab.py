"""egressguard run around real pip in the namespaced lab: benign installs and six real attacks.

Every attack test asserts three things: what egressguard said, the exit status and process
tree, and what the receiving server actually got. Block mode runs with its gates (the default):
nothing a name- or address-based rule refuses may reach a server at all.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.lab.conftest import BENIGN, benign_requirements, guarded, lab_env
from tests.lab.netlab import INDEX_IP, LOOKALIKE_IP, METADATA_IP, RAW_IP, UNKNOWN_IP, Lab

KiB = 1024


def test_benign_install_of_a_dozen_packages_raises_no_finding(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, benign_requirements(tmp_path))
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.report["findings"] == []
    assert outcome.report["aborted"] is False
    hosts = {d["host"]: d for d in outcome.report["destinations"]}
    assert {"pypi.org", "files.pythonhosted.org"} <= set(hosts)
    assert all(d["verdict"] == "allowed" for d in hosts.values())
    assert hosts["files.pythonhosted.org"]["bytes_in"] > 100 * KiB
    assert hosts["files.pythonhosted.org"]["protocol"] == "tls"
    site = next((outcome.venv / "lib").glob("python*/site-packages"))
    assert (site / "six.py").exists() and (site / "attrs").is_dir()
    served = [r for r in lab.requests() if str(r["path"]).endswith(".whl")]
    assert len(served) == len(BENIGN)


def test_lookalike_post_is_blocked_before_the_upload_completes(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-lookalike-post"])
    assert outcome.returncode == 3
    assert outcome.report["aborted"] is True
    finding = outcome.finding("typosquat")
    assert finding["host"] == "files.pythonhosted-cdn.org"
    assert finding["evidence"]["similar_to"] == "pythonhosted.org"
    assert outcome.destination_blocked("files.pythonhosted-cdn.org")
    assert lab.uploads(server=LOOKALIKE_IP) == 0
    assert "files.pythonhosted-cdn.org" not in lab.dns_queries(), "the gate never asked upstream"


def test_many_small_posts_to_an_unknown_host(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-many-posts"])
    assert outcome.returncode == 3
    assert outcome.finding("unlisted-host")["host"] == "telemetry.example-unknown.net"
    assert lab.uploads(server=UNKNOWN_IP) == 0


def test_upload_to_a_raw_ip_is_direct_ip(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-raw-ip"])
    assert outcome.returncode == 3
    finding = outcome.finding("direct-ip")
    assert finding["ip"] == RAW_IP and finding["port"] == 8080
    assert lab.requests() == [r for r in lab.requests() if r["server"] != RAW_IP]
    assert lab.uploads(server=RAW_IP) == 0


def test_large_upload_to_the_allowlisted_index(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-index-upload"])
    assert outcome.returncode == 3, (outcome.stderr[-1000:], outcome.report["findings"])
    finding = outcome.finding("large-upload")
    assert finding["host"] == "files.pythonhosted.org"
    assert finding["evidence"]["limit"] == 5 * 1024 * KiB
    assert outcome.violations() == {"large-upload"}, outcome.report["findings"]
    received = lab.uploads(host="files.pythonhosted.org", server=INDEX_IP)
    # The relay stops at the limit; the capture, which sees the bytes before the relay has
    # forwarded them, may kill the tree earlier still. Either way no more than the limit.
    assert 0 < received <= 5 * 1024 * KiB, (received, finding)


def test_hex_in_dns_query_names_is_dns_exfil(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-dns-hex"])
    assert outcome.returncode == 3
    assert outcome.finding("dns-exfil")["host"] == "exfil-lab.net"
    assert lab.dns_queries("exfil-lab.net") == [], "no tunnel query reached the upstream resolver"


def test_pth_payload_that_double_forks_is_killed_in_block_mode(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-pth"], then="{python} -c pass")
    assert outcome.returncode == 3
    orphan = outcome.finding("orphan-process")
    assert orphan["severity"] == "high" and "killed" in orphan["message"]
    assert lab.uploads(server=LOOKALIKE_IP) == 0


def test_pth_file_is_reported_and_fired_under_watch_in_audit_mode(lab: Lab, tmp_path: Path) -> None:
    """Only pip install: egressguard itself starts the interpreter once after it (the
    post-install trigger), so the payload that waits for the next Python start fires now."""
    outcome = guarded(lab, tmp_path, ["egl-pth"], "--mode", "audit", "--linger", "8")
    assert outcome.returncode == 0, "audit mode keeps the command's own status"
    assert outcome.report["aborted"] is False
    pth = outcome.finding("pth-exec")
    assert pth["evidence"]["path"].endswith("site-packages/egl_pth_init.pth")
    assert "subprocess.Popen" in pth["message"]
    assert {"typosquat", "large-upload"} <= outcome.kinds()
    assert outcome.finding("typosquat")["host"] == "models.litellm-ai.cloud"
    assert lab.uploads(server=LOOKALIKE_IP) == 256 * KiB, "fired once, by the trigger"


def test_pth_file_fails_block_mode_even_before_it_fires(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-pth"], "--no-trigger")
    assert outcome.returncode == 3
    assert outcome.violations() == {"pth-exec"}
    assert lab.uploads(server=LOOKALIKE_IP) == 0


def test_benign_packaging_pth_files_are_not_findings(lab: Lab, tmp_path: Path) -> None:
    """setuptools drops distutils-precedence.pth, an executable .pth of its own."""
    outcome = guarded(lab, tmp_path, ["--require-hashes", "-r", str(_setuptools(tmp_path))])
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.report["findings"] == []
    assert list(outcome.venv.glob("lib/python*/site-packages/distutils-precedence.pth"))


def _setuptools(folder: Path) -> Path:
    wheels = Path(__file__).with_name("wheels.txt").read_text().splitlines()
    requirements = folder / "setuptools.txt"
    requirements.write_text(next(line for line in wheels if line.startswith("setuptools")) + "\n")
    return requirements


def test_a_recorded_capture_replays_to_the_same_findings(lab: Lab, tmp_path: Path) -> None:
    capture = tmp_path / "run.pcap"
    live = guarded(
        lab,
        tmp_path,
        ["egl-lookalike-post", "egl-raw-ip"],
        "--mode",
        "audit",
        "--save-capture",
        str(capture),
    )
    assert live.returncode == 0
    report = tmp_path / "replay.json"
    replay = lab.run(
        [sys.executable, "-m", "egressguard", "analyze", "--report", str(report), str(capture)],
        env=lab_env(lab),
    )
    assert replay.returncode == 1, replay.stderr
    replayed = json.loads(report.read_text())

    def judged(document: dict[str, object]) -> set[tuple[str, str]]:
        """What the packets said: advisories about the command line are not in a capture."""
        findings: list[dict[str, str]] = document["findings"]  # type: ignore[assignment]
        return {
            (f["kind"], f["host"] or f["ip"]) for f in findings if f["kind"] != "unpinned-install"
        }

    assert judged(replayed) == judged(live.report)
    assert {(d["host"], d["verdict"]) for d in replayed["destinations"]} == {
        (d["host"], d["verdict"]) for d in live.report["destinations"]
    }


def test_kill_only_enforcement_counts_what_left(lab: Lab, tmp_path: Path) -> None:
    """Without gates a passive monitor cannot recall bytes the kernel already queued; it still
    kills the tree and counts what left as the server saw it."""
    outcome = guarded(lab, tmp_path, ["egl-index-upload"], "--enforce", "kill")
    assert outcome.returncode == 3
    assert outcome.report["enforcement"] == "kill"
    received = lab.uploads(host="files.pythonhosted.org", server=INDEX_IP)
    counted = outcome.destination("files.pythonhosted.org")["bytes_out"]
    assert received > 5 * 1024 * KiB
    assert received <= counted <= received * 1.05 + 64 * KiB


def test_kill_only_enforcement_stops_a_lookalike_at_its_dns_query(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-lookalike-post"], "--enforce", "kill")
    assert outcome.returncode == 3 and "typosquat" in outcome.kinds()
    assert lab.uploads(server=LOOKALIKE_IP) < 256 * KiB


def test_an_install_without_hashes_gets_an_advisory_that_does_not_fail(
    lab: Lab, tmp_path: Path
) -> None:
    outcome = guarded(lab, tmp_path, ["six"])
    assert outcome.returncode == 0
    (finding,) = outcome.report["findings"]
    assert (finding["kind"], finding["severity"]) == ("unpinned-install", "low")


def test_metadata_service_is_refused_and_reported(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-metadata"])
    assert outcome.returncode == 3
    assert outcome.finding("metadata-access")["ip"] == METADATA_IP
    assert [r for r in lab.requests() if r["server"] == METADATA_IP] == []


def test_a_key_in_cleartext_is_reported_in_audit_mode(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-cleartext-key"], "--mode", "audit")
    finding = outcome.finding("secret-in-cleartext")
    assert (finding["severity"], finding["evidence"]["pattern"]) == (
        "critical",
        "aws-access-key-id",
    )
    assert "AKIAIOSFODNN7EXAMPLE" not in json.dumps(outcome.report), "the report names no secret"
    assert lab.uploads(server=UNKNOWN_IP) > 0, "audit mode let it through, as it says"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home of the test's own: the payloads write into it and egressguard watches it."""
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def test_a_fork_storm_is_stopped(lab: Lab, tmp_path: Path, home: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-storm"], env={"HOME": str(home)})
    assert outcome.returncode == 3
    storm = outcome.finding("process-storm")
    started = float((home / "storm-started").read_text())
    detected_after = storm["evidence"]["detected_at"] - started
    assert 0 < detected_after < 5, f"detected {detected_after:.2f} s after the storm began"
    assert storm["evidence"]["alive"] < 800, "stopped before the storm ran its course"


def test_a_systemd_user_unit_written_by_setup_py_is_persistence(
    lab: Lab, tmp_path: Path, home: Path
) -> None:
    outcome = guarded(lab, tmp_path, ["egl-persistence"], env={"HOME": str(home)})
    assert outcome.returncode == 3
    finding = outcome.finding("persistence")
    assert finding["evidence"]["files"] == [
        {"path": str(home / ".config/systemd/user/egl-sysmon.service"), "change": "created"}
    ]


def test_reading_cloud_credentials_is_reported_with_the_process(
    lab: Lab, tmp_path: Path, home: Path
) -> None:
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("[default]\naws_access_key_id = AKIACANARY\n")
    outcome = guarded(lab, tmp_path, ["egl-credential-read"], env={"HOME": str(home)})
    assert outcome.returncode == 3
    finding = outcome.finding("credential-read")
    assert finding["evidence"]["path"] == str(home / ".aws" / "credentials")
    assert "python" in finding["evidence"]["process"]["exe"]
    assert any(
        "setup.py" in part or "pip" in part for part in finding["evidence"]["process"]["cmdline"]
    )


def test_a_canary_token_leaving_base64_encoded_is_caught(lab: Lab, tmp_path: Path) -> None:
    outcome = guarded(lab, tmp_path, ["egl-env-post"], "--mode", "audit", "--canaries")
    finding = outcome.finding("secret-in-cleartext")
    assert finding["evidence"]["pattern"] == "canary GITHUB_TOKEN"
    assert lab.uploads(server=UNKNOWN_IP) > 0
