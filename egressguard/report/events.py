"""A machine-readable event stream (JSON lines): one event per new destination and per finding,
written as they happen, for the log pipeline a fleet already runs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from egressguard.errors import EgressguardError
from egressguard.policy.interface import Finding


class EventLog:
    def __init__(self, path: Path) -> None:
        try:
            self._handle: TextIO = path.open("a", encoding="utf-8", buffering=1)
        except OSError as e:
            raise EgressguardError(
                f"cannot write events to {path}: {e.strerror}", "choose a writable path"
            ) from e
        self._lock = threading.Lock()
        self._seen: set[tuple[str, int, str]] = set()

    def destination(
        self, host: str | None, address: str, port: int, transport: str, verdict: str
    ) -> None:
        key = (host or address, port, transport)
        if key in self._seen:
            return
        self._seen.add(key)
        self._write(
            {
                "event": "destination",
                "host": host,
                "ip": address,
                "port": port,
                "transport": transport,
                "verdict": verdict,
            }
        )

    def finding(self, finding: Finding) -> None:
        self._write({"event": "finding", **finding.as_json()})

    def _write(self, event: dict[str, Any]) -> None:
        event = {"ts": round(time.time(), 3), "tool": "egressguard", **event}
        with self._lock:
            self._handle.write(json.dumps(event, sort_keys=False) + "\n")

    def close(self) -> None:
        self._handle.close()
