"""Command line: parse, call one function, map errors to exit statuses. Nothing else lives here."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from egressguard import __version__
from egressguard.errors import EgressguardError, UsageError
from egressguard.exitcodes import ExitStatus
from egressguard.policy.discovery import package_manager_hosts
from egressguard.policy.interface import HostVerdict
from egressguard.policy.loader import Policy, find_policy_file, load_policy
from egressguard.report.annotations import AnnotationReporter
from egressguard.report.console import ConsoleReporter
from egressguard.report.interface import Report, Reporter
from egressguard.report.json_report import JsonReporter

if TYPE_CHECKING:
    from egressguard.enforce.sandbox import SandboxStart


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message, f"see `{self.prog} --help`")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="egressguard",
        description="Watch what a CI step sends over the network; stop it when it strays.",
    )
    parser.add_argument("--version", action="version", version=f"egressguard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run a command under watch (block mode by default)")
    run.add_argument(
        "--mode",
        choices=("block", "audit"),
        default="block",
        help="block: kill the command at the first violation and exit 3; "
        "audit: report only and keep the command's exit status",
    )
    run.add_argument(
        "--enforce",
        choices=("gates", "kill"),
        default="gates",
        help="block mode: 'gates' (default) runs the command in a network sandbox whose DNS "
        "gate and relay refuse what policy refuses, so nothing leaves; 'kill' only watches "
        "and kills (bytes already sent are gone)",
    )
    _policy_flags(run)
    _output_flags(run)
    run.add_argument(
        "--canaries",
        action="store_true",
        help="put fake, recognisable credentials (AWS, GitHub, npm) in the command's "
        "environment where none are set, and flag any trace of them leaving",
    )
    run.add_argument(
        "--no-trigger",
        action="store_true",
        help="do not start interpreters whose .pth files the command changed (by default each "
        "is started once, `python -c pass`, under watch)",
    )
    run.add_argument(
        "--write-policy",
        type=Path,
        metavar="FILE",
        help="after the run, write the smallest policy that allows what it reached (never what "
        "it flagged); use with --mode audit",
    )
    run.add_argument(
        "--events",
        type=Path,
        metavar="FILE",
        help="append one JSON line per new destination and per finding, as they happen",
    )
    run.add_argument(
        "--save-capture",
        type=Path,
        metavar="FILE",
        help="also record the packets egressguard judged as a pcap file (replay with "
        "`analyze`; download data and bare ACKs are left out by the kernel filter)",
    )
    run.add_argument(
        "--linger",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="audit mode: how long to keep watching processes the command left running (default 5)",
    )
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")

    analyze = commands.add_parser("analyze", help="judge a recorded pcap or pcapng capture")
    _policy_flags(analyze)
    analyze.add_argument(
        "--resolver",
        action="append",
        default=[],
        metavar="IP",
        help="the capture's system resolver (default: the first one queried)",
    )
    _output_flags(analyze)
    analyze.add_argument("capture", type=Path)

    scan = commands.add_parser(
        "scan", help="was this machine affected? .pth payloads, persistence, incident files"
    )
    scan.add_argument("--json", action="store_true", help="print findings as a JSON list")
    scan.add_argument(
        "--home",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="home directory to scan (repeatable; default: /root and /home/*)",
    )

    check = commands.add_parser("check", help="is this host a lookalike of infrastructure?")
    _policy_flags(check)
    check.add_argument("--json", action="store_true", help="print a JSON list")
    check.add_argument("hosts", nargs="+", metavar="HOST")
    return parser


def _policy_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="policy file (default: .egressguard.yml in the working directory)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PATTERN",
        help="also allow this host, *.wildcard or CIDR (repeatable)",
    )


def _policy(
    args: argparse.Namespace,
    resolvers: tuple[str, ...] = (),
    configured: tuple[tuple[str, str], ...] = (),
) -> Policy:
    path = args.policy
    if path is not None and not path.is_file():
        raise UsageError(f"policy file not found: {path}", "check the --policy path")
    return load_policy(
        path or find_policy_file(Path.cwd()), tuple(args.allow), resolvers, configured
    )


def _finish(report: Report, args: argparse.Namespace) -> int:
    """Every output the flags and the CI environment ask for; the console summary even when a
    file cannot be written, so a result is never lost."""
    if not args.quiet:
        sys.stderr.write(ConsoleReporter().render(report))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        sys.stdout.write(AnnotationReporter().render(report))
    summary = args.summary or (
        Path(os.environ["GITHUB_STEP_SUMMARY"]) if os.environ.get("GITHUB_STEP_SUMMARY") else None
    )
    outputs: list[tuple[Path | None, Callable[[], Reporter], str]] = [
        (args.report, JsonReporter, "w"),
        (args.sarif, lambda: _sarif(str(args.policy or ".egressguard.yml")), "w"),
        (summary, _markdown, "a"),
        (getattr(args, "write_policy", None), _policy_writer, "w"),
    ]
    for path, reporter, how in outputs:
        if path is None:
            continue
        try:
            with path.open(how, encoding="utf-8") as handle:
                handle.write(reporter().render(report))
        except OSError as e:
            raise EgressguardError(
                f"cannot write {path}: {e.strerror}", "choose a writable path"
            ) from e
    return report.exit_code


# Reporters a run may not ask for are imported when asked for (SARIF pulls in hashlib).
def _sarif(policy: str) -> Reporter:
    from egressguard.report.sarif import SarifReporter

    return SarifReporter(policy)


def _markdown() -> Reporter:
    from egressguard.report.markdown import MarkdownReporter

    return MarkdownReporter()


def _policy_writer() -> Reporter:
    from egressguard.report.policy_writer import PolicyWriter

    return PolicyWriter()


def _output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", type=Path, metavar="FILE", help="write the JSON report here")
    parser.add_argument(
        "--sarif", type=Path, metavar="FILE", help="write SARIF 2.1.0 for code scanning here"
    )
    parser.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="append a Markdown summary here (default: $GITHUB_STEP_SUMMARY when set)",
    )
    parser.add_argument("--quiet", action="store_true", help="no summary on stderr")


def _run(args: argparse.Namespace) -> int:
    argv = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not argv:
        raise UsageError("no command given", "put it after --: egressguard run -- pip install ...")
    if args.linger < 0:
        raise UsageError("--linger must not be negative", "give a number of seconds")
    sandbox = None
    if args.mode == "block" and args.enforce == "gates":
        from egressguard.enforce.sandbox import SandboxStart

        sandbox = SandboxStart()  # its ip and nft processes run while we import and load policy
    try:
        return _run_with(args, argv, sandbox)
    finally:
        if sandbox is not None:
            sandbox.discard()


def _run_with(args: argparse.Namespace, argv: list[str], sandbox: SandboxStart | None) -> int:
    from egressguard.capture.live import LiveSource
    from egressguard.enforce.procs import SocketOwners
    from egressguard.pipeline import RunOptions, run

    options = RunOptions(
        argv=argv,
        mode=args.mode,
        enforce=args.enforce,
        linger_s=args.linger,
        trigger=not args.no_trigger,
        canaries=args.canaries,
        save_capture=args.save_capture,
        events=args.events,
    )
    configured = package_manager_hosts(argv, dict(os.environ), Path.cwd(), _home())
    policy = _policy(args, configured=tuple(configured))
    return _finish(run(options, policy, LiveSource, SocketOwners, sandbox), args)


def _home() -> Path:
    """The invoking user's home under sudo (where their pip.conf and .npmrc live)."""
    from egressguard.enforce.process import invoking_user

    run_as = invoking_user(dict(os.environ))
    return Path(run_as.env["HOME"]) if run_as else Path.home()


def _analyze(args: argparse.Namespace) -> int:
    from egressguard.pipeline import analyze
    from egressguard.policy.judge import ResolverSet

    policy = _policy(args, tuple(args.resolver))
    report = analyze(args.capture, policy, ResolverSet(set(policy.resolvers)))
    return _finish(report, args)


def _check(args: argparse.Namespace) -> int:
    from egressguard.policy.hosts import HostPolicy

    hosts = HostPolicy.from_policy(_policy(args))
    verdicts = []
    for host in args.hosts:
        name = host.strip().rstrip(".").lower()
        if not name or "/" in name or " " in name or ":" in name:
            raise UsageError(f"not a host name: {host!r}", "give bare names like pypi.org")
        verdicts.append(hosts.judge(name))
    if args.json:
        print(json.dumps([v.as_json() for v in verdicts], indent=2))
    else:
        for v in verdicts:
            print(f"{v.host}: {v.verdict.value} - {v.reason}")
    flagged = any(v.verdict in (HostVerdict.TYPOSQUAT, HostVerdict.KNOWN_BAD) for v in verdicts)
    return ExitStatus.FOUND if flagged else ExitStatus.OK


def _scan(args: argparse.Namespace) -> int:
    from egressguard.scan import homes, scan

    for home in args.home:
        if not home.is_dir():
            raise UsageError(f"not a directory: {home}", "give an existing home directory")
    policy = load_policy(None)
    findings = scan(policy, args.home or homes(), dict(os.environ), Path.cwd())
    if args.json:
        print(json.dumps([f.as_json() for f in findings], indent=2))
    else:
        for f in findings:
            print(f"[{f.severity.value}] {f.kind}: {f.message}")
        print(f"{len(findings)} finding(s)" if findings else "nothing found")
    return ExitStatus.FOUND if findings else ExitStatus.OK


_COMMANDS = {"run": _run, "analyze": _analyze, "check": _check, "scan": _scan}


def main(argv: list[str] | None = None) -> int:
    """The one error boundary: user errors become one line on stderr and an exit status."""
    try:
        args = _parser().parse_args(argv)
        return int(_COMMANDS[args.command](args))
    except EgressguardError as e:
        sys.stderr.write(f"egressguard: {e.one_line()}\n")
        return int(e.status)
    except OSError as e:  # the system said no somewhere we did not expect: still one line
        where = f" ({e.filename})" if e.filename else ""
        sys.stderr.write(f"egressguard: {e.strerror or e}{where}: check permissions and paths\n")
        return int(ExitStatus.USAGE)
    except KeyboardInterrupt:
        sys.stderr.write("egressguard: interrupted\n")
        return 130


def entry_point() -> None:
    sys.exit(main())
