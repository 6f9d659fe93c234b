"""Removes a sandbox when the egressguard that made it dies, even by SIGKILL.

Started as `python -m egressguard.enforce.watchdog NETNS TABLE` with a pipe on stdin, in its own
session. It waits for end-of-file on that pipe (which the kernel delivers when egressguard exits,
however it exits), then kills what is left in the namespace and removes the namespace, its
resolv.conf folder and the nftables table. After a clean run there is nothing left to remove.
"""

from __future__ import annotations

import sys

from egressguard.enforce.sandbox import teardown


def main() -> None:
    netns, table = sys.argv[1], sys.argv[2]
    while sys.stdin.buffer.read(4096):
        pass
    teardown(netns, table)


if __name__ == "__main__":
    main()
