"""pcap and pcapng files: read exactly, and a damaged file is an error that says where."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.utils import wrpcap, wrpcapng

from egressguard.capture.interface import Frame, LinkType
from egressguard.capture.pcapfile import PcapFileSource, PcapRecorder
from egressguard.errors import CaptureError
from tests.unit.packets import dns_query, tcp

PACKETS = [dns_query("pypi.org"), tcp("198.18.0.2", "198.18.1.10", 50000, 443, "S")]


def test_pcap_and_pcapng_give_the_same_frames(tmp_path: Path) -> None:
    for index, packet in enumerate(PACKETS):
        packet.time = 1_700_000_000.25 + index
    wrpcap(str(tmp_path / "a.pcap"), PACKETS)
    wrpcapng(str(tmp_path / "a.pcapng"), PACKETS)
    classic = list(PcapFileSource(tmp_path / "a.pcap").frames())
    ng = list(PcapFileSource(tmp_path / "a.pcapng").frames())
    assert [f.data for f in classic] == [f.data for f in ng] == [bytes(p) for p in PACKETS]
    assert [round(f.ts, 3) for f in ng] == [1_700_000_000.25, 1_700_000_001.25]
    assert {f.linktype for f in classic} == {LinkType.ETHERNET}


def test_recorder_output_reads_back(tmp_path: Path) -> None:
    recorder = PcapRecorder(tmp_path / "rec.pcap")
    raw_ip = bytes(PACKETS[1])[14:]
    recorder.write(Frame(5.5, bytes(PACKETS[0]), LinkType.ETHERNET))
    recorder.write(Frame(6.5, raw_ip, LinkType.RAW))
    recorder.close()
    frames = list(PcapFileSource(tmp_path / "rec.pcap").frames())
    assert frames[0].data == bytes(PACKETS[0])
    assert frames[1].data[14:] == raw_ip and frames[1].ts == 6.5


@pytest.mark.parametrize("cut", [10, 30, 50])
def test_truncated_capture_is_an_error_naming_the_damage(tmp_path: Path, cut: int) -> None:
    wrpcap(str(tmp_path / "a.pcap"), PACKETS)
    data = (tmp_path / "a.pcap").read_bytes()
    (tmp_path / "cut.pcap").write_bytes(data[: len(data) - cut])
    source = PcapFileSource(tmp_path / "cut.pcap")
    with pytest.raises(CaptureError, match="truncated or corrupt after packet 1"):
        list(source.frames())


def test_garbage_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "junk.pcap").write_bytes(b"this is not a capture at all")
    with pytest.raises(CaptureError, match="not a pcap or pcapng capture"):
        PcapFileSource(tmp_path / "junk.pcap")
    with pytest.raises(CaptureError, match="cannot read capture"):
        PcapFileSource(tmp_path / "missing.pcap")
