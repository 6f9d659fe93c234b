"""Removes a sandbox when the egressguard that made it dies, even by SIGKILL.

Started as `python -m egressguard.enforce.watchdog NETNS TABLE` with a pipe on stdin, in its own
session. It waits for end-of-file on that pipe (which the kernel delivers when egressguard exits,
however it exits), then kills what is left in the namespace and removes the namespace, its
resolv.conf folder and the nftables table. After a clean run egressguard has removed them
itself and writes `CLEAN` before closing the pipe: the watchdog then exits without a look.
"""

from __future__ import annotations

import sys

CLEAN = b"CLEAN"


def main() -> None:
    netns, table = sys.argv[1], sys.argv[2]
    said = b""
    while chunk := sys.stdin.buffer.read(4096):
        said = (said + chunk)[-len(CLEAN) :]
    if said == CLEAN:
        return
    from egressguard.enforce.sandbox import teardown  # only when there is work to do

    teardown(netns, table)


if __name__ == "__main__":
    main()
