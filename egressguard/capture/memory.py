"""An in-memory packet source for tests: frames or scapy packets, replayed in order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from egressguard.capture.interface import Frame, LinkType, PacketSource, SourceStats


class MemorySource(PacketSource):
    def __init__(self, frames: Iterable[Frame]) -> None:
        self._frames = list(frames)

    @classmethod
    def from_scapy(cls, packets: Iterable[Any], start: float = 1_000_000.0) -> MemorySource:
        """Frames from scapy packets; an Ether() layer decides the link type, else raw IP."""
        from scapy.layers.l2 import Ether

        frames = []
        for index, packet in enumerate(packets):
            ts = float(packet.time) if getattr(packet, "time", None) else start + index * 0.001
            linktype = LinkType.ETHERNET if packet.haslayer(Ether) else LinkType.RAW
            frames.append(Frame(ts, bytes(packet), linktype))
        return cls(frames)

    def frames(self) -> Iterator[Frame]:
        yield from self._frames

    def stats(self) -> SourceStats:
        return SourceStats(packets=len(self._frames), dropped=0)
