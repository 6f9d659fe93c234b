"""The lab's web: a PEP 503 index posing as pypi.org / files.pythonhosted.org, and upload sinks.

Listens with TLS on :443 and in cleartext on :80 and :8080 of every lab address. GET serves
files by Host (and GET /stream/N streams N bytes, for downloads larger than memory); POST and
PUT read the body and log exactly how many bytes arrived, even when the client is killed
half-way. Run: python web_server.py ROOT CERT KEY LOG.jsonl
"""

from __future__ import annotations

import http.server
import json
import os
import socketserver
import ssl
import sys
import threading

ROOT, CERT, KEY, LOG = sys.argv[1:5]
LOCK = threading.Lock()


def record(entry: dict[str, object]) -> None:
    with LOCK, open(LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _host(self) -> str:
        return (self.headers.get("Host") or "").split(":")[0].lower()

    def _log(self, **fields: object) -> None:
        """One line per request: what the server got (bytes) or sent, to whom."""
        record(
            {
                "method": self.command,
                "host": self._host(),
                "path": self.path,
                "server": self.connection.getsockname()[0],
                **fields,
            }
        )

    def do_GET(self) -> None:
        if self.path.startswith("/stream/"):
            self._stream(int(self.path.removeprefix("/stream/")))
            return
        path = os.path.normpath(self.path.split("?")[0]).lstrip("/")
        target = os.path.join(ROOT, self._host(), path)
        if os.path.isdir(target):
            target = os.path.join(target, "index.html")
        if not os.path.isfile(target):
            self.send_error(404)
            return
        with open(target, "rb") as handle:
            body = handle.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header(
            "Content-Type", "text/html" if target.endswith(".html") else "application/octet-stream"
        )
        self.end_headers()
        self.wfile.write(body)
        self._log(bytes=0)

    def _stream(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        chunk = bytes(1 << 20)
        sent = 0
        while sent < size:
            part = chunk[: min(len(chunk), size - sent)]
            self.wfile.write(part)
            sent += len(part)
        self._log(bytes=0, sent=sent)

    def _upload(self) -> None:
        expected = int(self.headers.get("Content-Length") or 0)
        received = 0
        try:
            while received < expected:
                chunk = self.rfile.read(min(65536, expected - received))
                if not chunk:
                    break
                received += len(chunk)
        finally:
            self._log(bytes=received, expected=expected)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = _upload
    do_PUT = _upload


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(port: int, tls: bool) -> None:
    server = Server(("0.0.0.0", port), Handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(CERT, KEY)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    for port, tls in ((80, False), (8080, False)):
        threading.Thread(target=serve, args=(port, tls), daemon=True).start()
    threading.Timer(0.3, lambda: (sys.stdout.write("ready\n"), sys.stdout.flush())).start()
    serve(443, True)
