"""One pipeline for live runs and recorded captures: frames -> packets -> flow events -> findings.

`run` and `analyze` differ only in the packet source; everything after it is the same code.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from egressguard import __version__
from egressguard.capture.interface import Frame, PacketSource
from egressguard.capture.pcapfile import PcapFileSource, PcapRecorder
from egressguard.decode.ip import decode_frame
from egressguard.enforce.process import ProcessTree, invoking_user
from egressguard.errors import CaptureError, EgressguardError, EnforcementError
from egressguard.exitcodes import ExitStatus
from egressguard.flows.interface import Attributor, ProcessInfo
from egressguard.flows.table import FlowTable
from egressguard.policy.interface import Finding, Severity
from egressguard.policy.judge import Judge, ResolverSet
from egressguard.policy.loader import Policy
from egressguard.report.interface import Report, group_destinations


class Monitor:
    """Feeds frames through decode, the flow table and the judge; calls back on violations."""

    def __init__(
        self,
        judge: Judge,
        table: FlowTable,
        on_violation: Callable[[Finding], None] | None = None,
        recorder: PcapRecorder | None = None,
    ) -> None:
        self.judge = judge
        self.table = table
        self.findings: list[Finding] = []
        self._on_violation = on_violation
        self._recorder = recorder
        self._lock = threading.Lock()

    def feed(self, frame: Frame) -> None:
        if self._recorder is not None:
            self._recorder.write(frame)
        packet = decode_frame(frame)
        if packet is None:
            return
        for event in self.table.update(packet):
            for finding in self.judge.handle(event):
                self.add(finding)

    def add(self, finding: Finding) -> None:
        with self._lock:
            self.findings.append(finding)
        if finding.severity.is_violation and self._on_violation is not None:
            self._on_violation(finding)

    def consume(self, source: PacketSource) -> None:
        for frame in source.frames():
            self.feed(frame)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def analyze(capture: Path, policy: Policy, resolvers: ResolverSet) -> Report:
    """The judgement of `run` over a recorded capture."""
    started, clock = _now_iso(), time.monotonic()
    source = PcapFileSource(capture)
    monitor = Monitor(Judge(policy, resolvers), FlowTable())
    monitor.consume(source)
    violations = any(f.severity.is_violation for f in monitor.findings)
    stats = source.stats()
    return Report(
        mode="analyze",
        command=None,
        capture=str(capture),
        started_at=started,
        duration_s=time.monotonic() - clock,
        exit_code=ExitStatus.FOUND if violations else ExitStatus.OK,
        command_exit_code=None,
        aborted=False,
        destinations=group_destinations(
            monitor.table.summaries(), monitor.judge.flow_verdict, monitor.judge.origin or 0.0
        ),
        findings=tuple(monitor.findings),
        packets=stats.packets,
        dropped=stats.dropped,
        policy=policy.source,
        version=__version__,
    )


# -- live runs -------------------------------------------------------------------------------


def system_resolvers(resolv_conf: Path = Path("/etc/resolv.conf")) -> ResolverSet:
    """Resolvers and search domains of this namespace; a local stub's upstreams count too."""
    addresses: set[str] = set()
    search: list[str] = []
    for path in (resolv_conf, Path("/run/systemd/resolve/resolv.conf")):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                addresses.add(fields[1].split("%")[0])
            elif fields and fields[0] in ("search", "domain"):
                search.extend(name.rstrip(".").lower() for name in fields[1:])
        if not any(a.startswith("127.") for a in addresses):
            break  # only a loopback stub sends us on to its upstream list
    return ResolverSet(addresses, tuple(dict.fromkeys(search)))


def etc_hosts(path: Path = Path("/etc/hosts")) -> dict[str, str]:
    """Addresses /etc/hosts names: connecting to them is not a direct-IP connection."""
    names: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return names
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            names.setdefault(fields[0], fields[1].lower())
    return names


@dataclass
class RunOptions:
    argv: list[str]
    mode: str = "block"
    linger_s: float = 5.0
    save_capture: Path | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class _Abort:
    """What the capture thread tells the main thread: why and when the tree was killed."""

    finding: Finding | None = None
    detected_at: float = 0.0
    killed_at: float = 0.0  # SIGKILL sent to every process of the tree
    gone_at: float = 0.0  # no process of the tree left running
    error: BaseException | None = None


def run(
    options: RunOptions,
    policy: Policy,
    open_source: Callable[[], PacketSource],
    attributor_for: Callable[[int], Attributor] | None = None,
) -> Report:
    """Run the command under watch; in block mode, kill its tree at the first violation."""
    started, clock = _now_iso(), time.monotonic()
    block = options.mode == "block"
    source = open_source()  # fails (exit 2) before the command starts: never run unwatched
    recorder = PcapRecorder(options.save_capture) if options.save_capture else None
    try:
        tree = ProcessTree(options.argv, options.env, invoking_user(options.env))
    except EgressguardError:
        _close(source)
        raise
    if block and not tree.subreaper:
        _close(source)
        raise EnforcementError(
            "cannot become a child subreaper, so escaped processes could not be killed",
            "run on Linux 3.4 or newer, or use --mode audit",
        )
    abort = _Abort()

    def on_violation(finding: Finding) -> None:
        if not block or abort.finding is not None:
            return
        abort.finding, abort.detected_at = finding, time.time()
        tree.signal_all()
        abort.killed_at = time.time()
        tree.kill()
        abort.gone_at = time.time()

    table = FlowTable(
        attributor=attributor_for(os.getpid()) if attributor_for else None, hosts=etc_hosts()
    )
    monitor = Monitor(
        Judge(policy, system_resolvers(), origin=time.time()), table, on_violation, recorder
    )
    watcher = threading.Thread(target=_watch, args=(monitor, source, abort), daemon=True)
    watcher.start()
    try:
        tree.start()
        status = _wait(tree, watcher, block)
        if abort.finding is not None:
            tree.kill()  # the tree is already being killed: finish the job, nothing new to say
        else:
            _handle_orphans(tree, monitor, block, options.linger_s)
    finally:
        source.stop()
        watcher.join(timeout=30)
        if recorder is not None:
            recorder.close()
        _close(source)
    if abort.error is not None and block:
        raise EnforcementError(
            f"packet capture stopped during the run ({abort.error})",
            "the command was killed, since it could no longer be watched",
        )
    return _run_report(options, policy, monitor, source, abort, status, started, clock)


def _watch(monitor: Monitor, source: PacketSource, abort: _Abort) -> None:
    try:
        monitor.consume(source)
    except (CaptureError, OSError) as e:
        abort.error = e


def _wait(tree: ProcessTree, watcher: threading.Thread, block: bool) -> int:
    while True:
        status = tree.wait(timeout=0.2)
        if status is not None:
            return status
        if not watcher.is_alive() and block:
            tree.kill()  # fail closed: no capture, no command


def _handle_orphans(tree: ProcessTree, monitor: Monitor, block: bool, linger_s: float) -> None:
    left = tree.orphans()
    if not left:
        return
    if not block:
        deadline = time.monotonic() + linger_s
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = tree.orphans()
        if not left:
            return
    monitor.add(_orphan_finding(left, killed=block, origin=monitor.judge.origin))
    if block:
        tree.kill()


def _orphan_finding(left: list[ProcessInfo], killed: bool, origin: float | None) -> Finding:
    names = ", ".join(f"{p.pid} {' '.join(p.cmdline)[:80]}" for p in left[:5])
    action = "killed" if killed else "left running (audit mode)"
    return Finding(
        "orphan-process",
        Severity.HIGH,
        None,
        None,
        None,
        f"{len(left)} process(es) still running after the command ended, {action}: {names}",
        (("processes", [{"pid": p.pid, "exe": p.exe, "cmdline": list(p.cmdline)} for p in left]),),
        time.time() - (origin or time.time()),
    )


def _close(source: PacketSource) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()


def _run_report(
    options: RunOptions,
    policy: Policy,
    monitor: Monitor,
    source: PacketSource,
    abort: _Abort,
    status: int,
    started: str,
    clock: float,
) -> Report:
    violations = any(f.severity.is_violation for f in monitor.findings)
    command_status = 128 - status if status < 0 else status  # killed by a signal, as shells say
    exit_code = ExitStatus.BLOCKED if options.mode == "block" and violations else command_status
    stats = source.stats()
    extra: list[tuple[str, float]] = []
    if abort.finding is not None:
        packet = (monitor.judge.origin or 0.0) + abort.finding.time
        extra.append(("packet_to_kill_ms", round((abort.killed_at - packet) * 1000, 2)))
        extra.append(("packet_to_tree_gone_ms", round((abort.gone_at - packet) * 1000, 2)))
    return Report(
        mode=options.mode,
        command=tuple(options.argv),
        capture=None,
        started_at=started,
        duration_s=time.monotonic() - clock,
        exit_code=int(exit_code),
        command_exit_code=command_status,
        aborted=abort.finding is not None,
        destinations=group_destinations(
            monitor.table.summaries(), monitor.judge.flow_verdict, monitor.judge.origin or 0.0
        ),
        findings=tuple(monitor.findings),
        packets=stats.packets,
        dropped=stats.dropped,
        policy=policy.source,
        version=__version__,
        extra_stats=tuple(extra),
    )
