"""Packet sources: a live sniffer, capture files and an in-memory fake, all yielding `Frame`s."""

from egressguard.capture.interface import Frame, LinkType, PacketSource, SourceStats

__all__ = ["Frame", "LinkType", "PacketSource", "SourceStats"]
