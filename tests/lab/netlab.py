"""A small internet inside two network namespaces: a "runner" and an "internet" with DNS and web.

Addresses come from 198.18.0.0/15 and every packet stays inside the namespaces this builds.
Everything is torn down in `close()`, which the fixtures call even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SERVERS = Path(__file__).with_name("servers")
RUNNER_IP = "198.18.0.2"
GATEWAY_IP = "198.18.0.1"  # the internet side of the veth, and the lab's DNS server
INDEX_IP = "198.18.1.10"  # pypi.org and files.pythonhosted.org
LOOKALIKE_IP = "198.18.2.10"  # typosquats and lookalikes
UNKNOWN_IP = "198.18.2.20"  # unlisted hosts
RAW_IP = "198.18.3.30"  # reached by address only, no DNS name
METADATA_IP = "169.254.169.254"  # a lab server posing as the cloud metadata service
SERVICE_IPS = (INDEX_IP, LOOKALIKE_IP, UNKNOWN_IP, RAW_IP, METADATA_IP)

ZONES = {
    "pypi.org": INDEX_IP,
    "files.pythonhosted.org": INDEX_IP,
    "files.pythonhosted-cdn.org": LOOKALIKE_IP,
    "models.litellm-ai.cloud": LOOKALIKE_IP,
    "scan.aquasecurtiy-cdn.org": LOOKALIKE_IP,
    "telemetry.example-unknown.net": UNKNOWN_IP,
    "mirror.corp-pkgs.test": INDEX_IP,  # a company mirror: unlisted, legitimate
    "*.exfil-lab.net": UNKNOWN_IP,
}
TLS_NAMES = [name for name in ZONES if not name.startswith("*")]


def sh(
    *argv: str, netns: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    return subprocess.run(command, check=check, capture_output=True, text=True, timeout=60)


@dataclass
class Lab:
    workdir: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    index_root: Path
    name: str = field(default_factory=lambda: "eg" + secrets.token_hex(3))
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def runner(self) -> str:
        return f"{self.name}r"

    @property
    def internet(self) -> str:
        return f"{self.name}n"

    @property
    def web_log(self) -> Path:
        return self.workdir / "web.jsonl"

    @property
    def dns_log(self) -> Path:
        return self.workdir / "dns.jsonl"

    def start(self) -> Lab:
        try:
            self._network()
            self._services()
        except BaseException:
            self.close()
            raise
        return self

    def _network(self) -> None:
        runner, internet = self.runner, self.internet
        sh("ip", "netns", "add", runner)
        sh("ip", "netns", "add", internet)
        etc = Path("/etc/netns") / runner
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {GATEWAY_IP}\n")
        (etc / "hosts").write_text("127.0.0.1 localhost\n")
        sh(
            "ip",
            "link",
            "add",
            f"{self.name}a",
            "netns",
            runner,
            "type",
            "veth",
            "peer",
            "name",
            f"{self.name}b",
            "netns",
            internet,
        )
        for ns in (runner, internet):
            sh("ip", "link", "set", "lo", "up", netns=ns)
        sh("ip", "addr", "add", f"{RUNNER_IP}/24", "dev", f"{self.name}a", netns=runner)
        sh("ip", "link", "set", f"{self.name}a", "up", netns=runner)
        sh("ip", "route", "add", "default", "via", GATEWAY_IP, netns=runner)
        sh("ip", "addr", "add", f"{GATEWAY_IP}/24", "dev", f"{self.name}b", netns=internet)
        for address in SERVICE_IPS:
            sh("ip", "addr", "add", f"{address}/32", "dev", "lo", netns=internet)
        sh("ip", "link", "set", f"{self.name}b", "up", netns=internet)

    def _services(self) -> None:
        zones = self.workdir / "zones.json"
        zones.write_text(json.dumps(ZONES))
        self._spawn(SERVERS / "dns_server.py", GATEWAY_IP, str(zones), str(self.dns_log))
        self._spawn(
            SERVERS / "web_server.py",
            str(self.index_root),
            str(self.server_cert),
            str(self.server_key),
            str(self.web_log),
        )

    def _spawn(self, script: Path, *args: str) -> None:
        errors = self.workdir / f"{script.stem}.stderr"
        with errors.open("wb") as stderr:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.internet, sys.executable, str(script), *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self.procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded: the server prints "ready" or dies
        if line.strip() != b"ready":
            raise RuntimeError(f"{script.name} did not start: {errors.read_text()[-500:]}")

    def run(
        self,
        argv: list[str],
        env: dict[str, str] | None = None,
        timeout: float = 120,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the runner namespace."""
        return subprocess.run(
            ["ip", "netns", "exec", self.runner, *argv],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def uploads(self, host: str | None = None, server: str | None = None) -> int:
        """Body bytes the web server actually received, for one Host or one address."""
        total = 0
        for entry in self._read(self.web_log):
            if (
                entry["method"] in ("POST", "PUT")
                and host in (None, entry["host"])
                and (server in (None, entry["server"]))
            ):
                total += int(entry["bytes"])
        return total

    def requests(self) -> list[dict[str, object]]:
        return self._read(self.web_log)

    def dns_queries(self, suffix: str = "") -> list[str]:
        return [e["name"] for e in self._read(self.dns_log) if e["name"].endswith(suffix)]

    @staticmethod
    def _read(path: Path) -> list[dict[str, object]]:
        time.sleep(0.2)  # the servers log after the response; let the last line land
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def reset_logs(self) -> None:
        for path in (self.web_log, self.dns_log):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        for ns in (self.runner, self.internet):
            # Kill anything a test left behind in the namespace before removing it.
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(Path("/etc/netns") / self.runner, ignore_errors=True)
