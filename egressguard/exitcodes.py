"""Exit statuses of every egressguard command (the contract of DESIGN.md)."""

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    FOUND = 1  # analyze: violations found; check: a host flagged
    USAGE = 2  # usage or setup error
    BLOCKED = 3  # run, block mode: a violation was seen
    NOT_EXECUTABLE = 126
    NOT_FOUND = 127
