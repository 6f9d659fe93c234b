"""A capture that has not caught up when the command ends: never a quietly short report."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from egressguard import pipeline
from egressguard.capture.interface import Frame, LinkType, PacketSource
from egressguard.errors import EnforcementError
from egressguard.pipeline import RunOptions, run
from egressguard.policy.loader import load_policy


class BacklogSource(PacketSource):
    """Frames that keep coming for a few seconds after stop(), like a kernel queue still full
    of packets: 40 of them, 0.1 s apart, whatever stop() says."""

    def frames(self) -> Iterator[Frame]:
        for _ in range(40):
            time.sleep(0.1)
            yield Frame(time.time(), b"\x00" * 20, LinkType.RAW)


@pytest.fixture
def short_catch_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "CATCH_UP_S", 0.3)


def test_audit_report_says_the_capture_was_incomplete(short_catch_up: None) -> None:
    options = RunOptions(argv=["true"], mode="audit", linger_s=0, trigger=False)
    report = run(options, load_policy(None), lambda _: BacklogSource())
    kinds = [f.kind for f in report.findings]
    assert "capture-incomplete" in kinds
    finding = next(f for f in report.findings if f.kind == "capture-incomplete")
    assert "had not caught up" in finding.message
    assert report.exit_code == 0, "audit keeps the command's own exit status"


def test_block_mode_refuses_to_vouch_for_an_incomplete_capture(short_catch_up: None) -> None:
    options = RunOptions(argv=["true"], mode="block", enforce="kill", linger_s=0, trigger=False)
    with pytest.raises(EnforcementError, match="had not caught up"):
        run(options, load_policy(None), lambda _: BacklogSource())


def test_a_capture_that_keeps_up_adds_no_finding() -> None:
    class Quiet(PacketSource):
        def frames(self) -> Iterator[Frame]:
            yield from ()

    options = RunOptions(argv=["true"], mode="audit", linger_s=0, trigger=False)
    report = run(options, load_policy(None), lambda _: Quiet())
    assert "capture-incomplete" not in [f.kind for f in report.findings]
