"""One pipeline for live runs and recorded captures: frames -> packets -> flow events -> findings.

`run` and `analyze` differ only in the packet source; everything after it is the same code.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from egressguard import __version__
from egressguard.capture.interface import Frame, PacketSource
from egressguard.capture.pcapfile import PcapFileSource, PcapRecorder
from egressguard.decode import dns as dns_decode
from egressguard.decode.ip import decode_frame
from egressguard.enforce.dnsgate import DnsGate, GateDecision
from egressguard.enforce.process import ProcessTree, RunAs, invoking_user
from egressguard.enforce.procs import describe, is_descendant
from egressguard.enforce.sandbox import Sandbox, SandboxStart, host_file_text
from egressguard.errors import CaptureError, EnforcementError
from egressguard.exitcodes import ExitStatus
from egressguard.flows.interface import Attributor, FlowOpened, ProcessInfo
from egressguard.flows.table import FlowTable
from egressguard.hostwatch import persistence, pth
from egressguard.hostwatch.credentials import CredentialWatch
from egressguard.policy.advisories import unpinned_installs
from egressguard.policy.canaries import canary_patterns, make_canaries
from egressguard.policy.credentials import read_by_owner
from egressguard.policy.interface import Finding, HostVerdict, Severity
from egressguard.policy.judge import Judge, ResolverSet
from egressguard.policy.loader import Policy
from egressguard.policy.patterns import in_networks
from egressguard.policy.pth import pth_findings
from egressguard.report.events import EventLog
from egressguard.report.interface import Report, group_destinations

if TYPE_CHECKING:
    from egressguard.enforce.relay import Admission, Relay

CATCH_UP_S = 60.0  # packets queued in the kernel when the command ends are read within this
WARM_UP_AFTER_S = 0.03  # a command over by then needs neither dnspython nor the engine


class Monitor:
    """Feeds frames through decode, the flow table and the judge; calls back on violations."""

    def __init__(
        self,
        judge: Judge,
        table: FlowTable,
        on_violation: Callable[[Finding], None] | None = None,
        recorder: PcapRecorder | None = None,
        events: EventLog | None = None,
    ) -> None:
        self.judge = judge
        self.table = table
        self.findings: list[Finding] = []
        self._on_violation = on_violation
        self._recorder = recorder
        self._events = events
        self._lock = threading.Lock()

    def feed(self, frame: Frame) -> None:
        if self._recorder is not None:
            self._recorder.write(frame)
        packet = decode_frame(frame)
        if packet is None:
            return
        for event in self.table.update(packet):
            findings = self.judge.handle(event)
            if self._events is not None and isinstance(event, FlowOpened):
                verdict, _ = self.judge.flow_verdict(event.key)
                key = event.key
                self._events.destination(
                    event.host, key.server, key.server_port, key.transport, verdict
                )
            for finding in findings:
                self.add(finding)

    def raise_finding(
        self,
        kind: str,
        message: str,
        host: str | None = None,
        dedupe: str | None = None,
        **evidence: object,
    ) -> None:
        """A finding from outside the packet path (the gates, the host watches), deduplicated
        by the judge like every other."""
        for finding in self.judge.finding(
            kind, time.time(), message, host=host, key=None, dedupe=dedupe, **evidence
        ):
            self.add(finding)

    def add(self, finding: Finding) -> None:
        with self._lock:
            self.findings.append(finding)
        if self._events is not None:
            self._events.finding(finding)
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
    enforce: str = "gates"  # block mode: "gates" (sandbox, DNS gate, relay) or "kill" only
    linger_s: float = 5.0
    trigger: bool = True  # start interpreters whose .pth files changed, once, under watch
    save_capture: Path | None = None
    events: Path | None = None
    canaries: bool = False  # put fake credentials in the command's environment and watch them
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class _Abort:
    """What the capture thread tells the main thread: why and when the tree was killed."""

    finding: Finding | None = None
    detected_at: float = 0.0
    killed_at: float = 0.0  # SIGKILL sent to every process of the tree
    gone_at: float = 0.0  # no process of the tree left running
    error: BaseException | None = None


class _Gatekeeper:
    """Policy for the sandbox's two doors: which names the DNS gate forwards, which addresses
    the relay connects to, and the findings both raise when they say no."""

    def __init__(self, judge: Judge, monitor: Monitor, hosts_file: dict[str, str]) -> None:
        self.judge = judge
        self.monitor = monitor
        self.names: dict[str, str] = dict(hosts_file)  # address -> name, as DNS answers add
        self._lock = threading.Lock()

    def decide(self, name: str, qtype: str, client: str) -> GateDecision:
        verdict = self.judge.hosts.judge(name)
        if verdict.verdict == HostVerdict.ALLOWED:
            return GateDecision(True, verdict.reason)
        for finding in self.judge.host_finding(verdict, time.time(), None, via="dns-gate"):
            self.monitor.add(finding)
        return GateDecision(False, verdict.reason)

    def opened(self, name: str, addresses: list[str]) -> None:
        with self._lock:
            for address in addresses:
                self.names[address] = name

    def admit(self, address: str, port: int) -> Admission:
        from egressguard.enforce.relay import Admission  # loaded with the relay already

        if port in (53, 853):
            return Admission(False, address, 0)
        name = self.names.get(address)
        if name is not None and self.judge.hosts.judge(name).verdict == HostVerdict.ALLOWED:
            return Admission(True, name, self.judge.limit_for(name, allowed=True))
        if in_networks(address, self.judge.policy.allow_networks) is not None:
            return Admission(True, address, self.judge.limit_for(address, allowed=True))
        return Admission(False, address, 0)

    def capped(self, host: str, sent: int, limit: int) -> None:
        self.monitor.raise_finding(
            "large-upload",
            f"upload to {host} stopped at its limit: {sent} of {limit} bytes let through",
            host=host,
            dedupe=host,
            bytes_out=sent,
            limit=limit,
            blocked=True,
        )


@dataclass
class _Doors:
    """The sandbox and the two servers on its gateway, closed in reverse order."""

    sandbox: Sandbox
    gate: DnsGate
    relay: Relay

    def close(self) -> None:
        self.relay.close()
        self.gate.close()
        self.sandbox.close()


def _open_doors(
    judge: Judge, monitor: Monitor, hosts_file: dict[str, str], early: SandboxStart | None
) -> _Doors:
    from egressguard.enforce.relay import Relay  # asyncio: only block mode's gates need it

    sandbox = early.take() if early is not None else Sandbox.create(host_file_text())
    try:
        keeper = _Gatekeeper(judge, monitor, hosts_file)
        upstreams = sorted(system_resolvers().addresses)
        gate = DnsGate(sandbox.gateway, upstreams, keeper.decide, keeper.opened)
        relay = Relay(sandbox.gateway, keeper.admit, keeper.capped)
        gate.start()
        relay.start()
        sandbox.seal(relay.port)
    except BaseException:
        sandbox.close()
        raise
    return _Doors(sandbox, gate, relay)


def run(
    options: RunOptions,
    policy: Policy,
    open_source: Callable[[str | None], PacketSource],
    attributor_for: Callable[[int], Attributor] | None = None,
    sandbox: SandboxStart | None = None,
) -> Report:
    """Run the command under watch; in block mode, kill its tree at the first violation.

    `sandbox`: block mode's sandbox, already being built (see cli); else built here.

    Block mode with gates runs the command in a network sandbox whose only ways out are a DNS
    gate and a TCP relay, so what policy refuses never leaves the machine.
    """
    started, clock = _now_iso(), time.monotonic()
    block = options.mode == "block"
    gated = block and options.enforce == "gates"
    run_as = invoking_user(options.env)
    hosts_file = etc_hosts()
    abort = _Abort()
    tree_box: list[ProcessTree] = []

    def on_violation(finding: Finding) -> None:
        if not block or abort.finding is not None or not tree_box:
            return
        tree = tree_box[0]
        abort.finding, abort.detected_at = finding, time.time()
        tree.signal_all()
        abort.killed_at = time.time()
        tree.kill()
        abort.gone_at = time.time()

    doors: _Doors | None = None
    resolvers = system_resolvers()
    judge = Judge(policy, resolvers, origin=time.time())
    attributor = attributor_for(os.getpid()) if attributor_for else None
    table = FlowTable(attributor=attributor, hosts=hosts_file)
    recorder = PcapRecorder(options.save_capture) if options.save_capture else None
    events = EventLog(options.events) if options.events else None
    monitor = Monitor(judge, table, on_violation, recorder, events)
    for advisory in unpinned_installs(options.argv):
        monitor.add(advisory)
    if options.canaries:
        fakes = {k: v for k, v in make_canaries().items() if k not in options.env}
        options.env = {**options.env, **fakes}
        if run_as is not None:
            run_as.env.update(fakes)
        judge.add_secret_patterns(canary_patterns(fakes))
    source: PacketSource | None = None
    try:
        if gated:
            doors = _open_doors(judge, monitor, hosts_file, sandbox)
            judge.resolvers = ResolverSet({doors.sandbox.gateway})
        # The capture opens before the command starts: no permission, no run (exit 2).
        source = open_source(doors.sandbox.host_if if doors else None)
        tree = ProcessTree(
            options.argv,
            options.env,
            run_as,
            launcher=doors.sandbox.launcher(*(_ids(run_as))) if doors else None,
        )
        if block and not tree.subreaper:
            raise EnforcementError(
                "cannot become a child subreaper, so escaped processes could not be killed",
                "run on Linux 3.4 or newer, or use --mode audit",
            )
        sites = _HostWatch(tree.env, Path.cwd(), run_as, tree.launcher, options.trigger)
        status = _supervise(
            tree, tree_box, monitor, source, abort, block, options.linger_s, sites, gated
        )
    finally:
        # Closing a packet socket waits out an RCU grace period (10-20 ms): in parallel with
        # the sandbox's teardown, which waits on subprocesses.
        closer = threading.Thread(target=_close, args=(source,))
        closer.start()
        if attributor is not None:
            _close(attributor)
        if recorder is not None:
            recorder.close()
        if doors is not None:
            doors.close()
        if events is not None:
            events.close()
        closer.join()
    if abort.error is not None and block:
        raise EnforcementError(
            f"packet capture stopped during the run ({abort.error})",
            "the command was killed, since it could no longer be watched",
        )
    if abort.error is not None:  # audit: the command ran its course; the gap must show
        monitor.raise_finding(
            "capture-incomplete",
            f"packet capture stopped before the end of the run ({abort.error}): "
            "connections after that point are missing from this report",
        )
    assert source is not None
    return _run_report(options, policy, monitor, source, abort, status, started, clock, gated)


def _ids(run_as: RunAs | None) -> tuple[int | None, int | None]:
    return (run_as.uid, run_as.gid) if run_as else (None, None)


def _supervise(
    tree: ProcessTree,
    tree_box: list[ProcessTree],
    monitor: Monitor,
    source: PacketSource,
    abort: _Abort,
    block: bool,
    linger_s: float,
    sites: _HostWatch,
    gated: bool,
) -> int:
    watcher = threading.Thread(target=_watch, args=(monitor, source, abort), daemon=True)
    watcher.start()
    storms = _StormWatch(tree_box, monitor)
    sites.watch(monitor)
    try:
        tree_box.append(tree)
        tree.start()
        ended = threading.Event()
        warmer = threading.Thread(target=_warm_up, args=(monitor.judge, gated, ended), daemon=True)
        warmer.start()
        storms.start()
        status = _wait(tree, watcher, block)
        ended.set()
        if abort.finding is not None:
            tree.kill()  # the tree is already being killed: finish the job, nothing new to say
        else:
            _handle_orphans(tree, monitor, block, linger_s)
        for trigger in sites.after_run(monitor):
            if abort.finding is not None:
                break
            tree_box[:] = [trigger]
            trigger.start()
            trigger.wait(timeout=60)
            _handle_orphans(trigger, monitor, block, linger_s)
    finally:
        storms.stop()
        sites.credentials.stop()
        source.stop()
        watcher.join(timeout=CATCH_UP_S)
        if watcher.is_alive() and abort.error is None:
            abort.error = CaptureError(
                f"the capture had not caught up {CATCH_UP_S:.0f} s after the command ended",
                "the report misses the packets still queued",
            )
    return status


def _warm_up(judge: Judge, gated: bool, ended: threading.Event) -> None:
    """What the first DNS packet and the first unknown name will need, loaded while the command
    starts rather than before it: dnspython and the lookalike engine. A command that is over
    within WARM_UP_AFTER_S needs neither, and its report is not kept waiting for them."""
    if ended.wait(WARM_UP_AFTER_S):
        return
    dns_decode.load(query=gated)  # the gate forwards queries with dns.query
    judge.hosts.prepare()


class _StormWatch(threading.Thread):
    """Samples the command's process tree; far more processes, or far faster creation, than
    an install needs is a `process-storm` (the litellm .pth's recursion froze machines)."""

    def __init__(
        self, tree_box: list[ProcessTree], monitor: Monitor, interval_s: float = 0.1
    ) -> None:
        super().__init__(daemon=True)
        self._tree_box, self._monitor, self._interval = tree_box, monitor, interval_s
        limits = monitor.judge.policy.limits
        self._max_alive, self._max_rate = limits.processes, limits.process_rate
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)

    def run(self) -> None:
        seen: set[int] = set()
        births: list[float] = []
        while not self._stopped.wait(self._interval):
            alive = [e.pid for e in self._tree_box[-1].living()] if self._tree_box else []
            now = time.monotonic()
            births += [now] * len(set(alive) - seen)
            seen.update(alive)
            births = [t for t in births if now - t <= 1.0]
            if len(alive) > self._max_alive or len(births) > self._max_rate:
                self._monitor.add(
                    Finding(
                        "process-storm",
                        Severity.HIGH,
                        None,
                        None,
                        None,
                        f"{len(alive)} processes alive, {len(births)} started in the last second "
                        f"(limits {self._max_alive} and {self._max_rate}/s)",
                        (
                            ("alive", len(alive)),
                            ("started_last_second", len(births)),
                            ("detected_at", round(time.time(), 3)),
                        ),
                        time.time() - (self._monitor.judge.origin or time.time()),
                    )
                )
                return


class _HostWatch:
    """Files that run later: .pth start-up hooks and persistence places, snapshot before the
    run and compared after it. Each interpreter whose .pth files changed is then started once
    under watch (`python -c pass`), so a payload waiting for the next Python start fires while
    egressguard is still looking."""

    def __init__(
        self,
        env: dict[str, str],
        cwd: Path,
        run_as: RunAs | None,
        launcher: list[str] | None,
        trigger: bool,
    ) -> None:
        self._env, self._cwd, self._run_as = env, cwd, run_as
        self._launcher, self._trigger = launcher, trigger
        self._home = Path(env.get("HOME") or Path.home())
        self._before = pth.snapshot(pth.site_dirs(env, cwd, self._home))
        self._persistence = persistence.snapshot(persistence.watched_paths(self._home))
        self._monitor: Monitor | None = None
        self.credentials = CredentialWatch(self._home, cwd, self._opened)

    def watch(self, monitor: Monitor) -> None:
        self._monitor = monitor
        if self.credentials.error:  # say so: a tripwire that is off must not look like quiet
            sys.stderr.write(f"egressguard: warning: {self.credentials.error}\n")
        self.credentials.start()

    def _opened(self, path: str, pid: int) -> None:
        monitor = self._monitor
        if monitor is None or not is_descendant(pid, os.getpid()):
            return
        process = describe(pid)
        if read_by_owner(path, str(self._home), process):
            return
        monitor.raise_finding(
            "credential-read",
            f"{os.path.basename(process.exe) or 'a process'} (pid {pid}) opened {path}",
            dedupe=path,
            path=path,
            process={"pid": pid, "exe": process.exe, "cmdline": list(process.cmdline)},
        )

    def after_run(self, monitor: Monitor) -> list[ProcessTree]:
        after = pth.snapshot(pth.site_dirs(self._env, self._cwd, self._home))
        new = pth.changed(self._before, after)
        now = time.time() - (monitor.judge.origin or time.time())
        for finding in pth_findings(new, now):
            monitor.add(finding)
        touched = persistence.changes(
            self._persistence, persistence.snapshot(persistence.watched_paths(self._home))
        )
        if touched:
            monitor.add(_persistence_finding(touched, now))
        if not self._trigger:
            return []
        pythons = {_interpreter(Path(p.path)) for p in new}
        return [
            ProcessTree([str(python), "-c", "pass"], self._env, self._run_as, self._launcher)
            for python in sorted(p for p in pythons if p is not None)
        ]


def _persistence_finding(touched: list[tuple[str, str]], ts: float) -> Finding:
    listed = ", ".join(f"{path} ({how})" for path, how in touched[:5])
    return Finding(
        "persistence",
        Severity.HIGH,
        None,
        None,
        None,
        f"the run {touched[0][1]} a file that runs later on this machine: {listed}",
        (("files", [{"path": p, "change": how} for p, how in touched]),),
        ts,
    )


def _interpreter(pth_path: Path) -> Path | None:
    """.../PREFIX/lib/python3.X/site-packages/x.pth -> PREFIX/bin/python, if it exists."""
    prefix = pth_path.parent.parent.parent.parent
    for name in ("python", "python3"):
        candidate = prefix / "bin" / name
        if candidate.exists():
            return candidate
    return None


def _watch(monitor: Monitor, source: PacketSource, abort: _Abort) -> None:
    try:
        monitor.consume(source)
    except (CaptureError, OSError) as e:
        if abort.error is None:  # a capture closed under it after the catch-up wait: said
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


def _close(resource: object) -> None:
    close = getattr(resource, "close", None)
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
    gated: bool,
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
            monitor.table.summaries(),
            monitor.judge.flow_verdict,
            monitor.judge.origin or 0.0,
            gated,
        ),
        findings=tuple(monitor.findings),
        packets=stats.packets,
        dropped=stats.dropped,
        policy=policy.source,
        version=__version__,
        extra_stats=tuple(extra),
        enforcement="gates" if gated else ("kill" if options.mode == "block" else "none"),
    )
