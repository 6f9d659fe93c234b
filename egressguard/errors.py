"""The one exception tree of egressguard; every error carries the line that tells the user the fix.

EgressguardError                 exit 2 unless said otherwise
├── UsageError                   bad flags or arguments
├── PolicyError                  a policy file that cannot be read or is malformed
├── CaptureError                 a capture file that cannot be read, or no permission to capture
└── EnforcementError             block mode cannot be set up, so the command is not run
CommandError                     the command cannot be run: 126 not executable, 127 not found
"""

from __future__ import annotations

from egressguard.exitcodes import ExitStatus


class EgressguardError(Exception):
    """An error a user can fix; `str()` is what went wrong, `remedy` is how to fix it."""

    status: ExitStatus = ExitStatus.USAGE

    def __init__(self, message: str, remedy: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def one_line(self) -> str:
        return f"{self.message}: {self.remedy}" if self.remedy else self.message


class UsageError(EgressguardError):
    """Flags or arguments that do not make sense."""


class PolicyError(EgressguardError):
    """A policy file that cannot be read or does not follow the format."""


class CaptureError(EgressguardError):
    """A capture that cannot be read, or no permission to capture live."""


class EnforcementError(EgressguardError):
    """Block mode cannot watch or enforce; the command must not run unwatched."""


class CommandError(EgressguardError):
    """The wrapped command cannot be started."""

    def __init__(self, message: str, remedy: str, status: ExitStatus) -> None:
        super().__init__(message, remedy)
        self.status = status
