"""What every packet source hands to the decoder: raw frames with a timestamp and a link type."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum


class LinkType(IntEnum):
    """libpcap link-layer header types we can decode."""

    NULL = 0
    ETHERNET = 1
    RAW = 101
    LINUX_SLL = 113
    LINUX_SLL2 = 276
    IPV4 = 228
    IPV6 = 229


@dataclass(frozen=True, slots=True)
class Frame:
    ts: float
    data: bytes
    linktype: int = LinkType.ETHERNET


@dataclass(frozen=True, slots=True)
class SourceStats:
    packets: int = 0
    dropped: int = 0


class PacketSource(abc.ABC):
    """An iterable of frames; live sources run until `stop()` is called."""

    @abc.abstractmethod
    def frames(self) -> Iterator[Frame]: ...

    def stats(self) -> SourceStats:
        return SourceStats()

    def stop(self) -> None:  # noqa: B027 - finite sources have nothing to stop
        """Ask a live source to end its iteration soon; finite sources ignore it."""
