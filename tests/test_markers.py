"""The JPEG header walk (core/jpeg/markers.py: ``segments``, ``jpeg_frame``) on byte streams built
here, marker by marker, so that every expected offset is known independently of the parser."""
from __future__ import annotations

import pytest

from resvr.core.jpeg.markers import jpeg_frame, segments

SOI = b"\xff\xd8"


def seg(marker: int, payload: bytes = b"") -> bytes:
    """A marker segment: FF, marker, 2-byte big-endian length (counting itself), payload."""
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def sof(marker: int = 0xC0, width: int = 0x1234, height: int = 0x0ABC, comps: int = 3, extra: bytes = b"") -> bytes:
    return seg(marker, bytes([8]) + height.to_bytes(2, "big") + width.to_bytes(2, "big") + bytes([comps]) + extra)


def test_segments_walks_lengths_fill_bytes_and_standalone_markers_up_to_the_scan():
    app0 = seg(0xE0, b"JFIF\x00" + bytes(9))
    com = seg(0xFE, b"hello")
    parts = [SOI, app0, b"\xff\xff", com, b"\xff\xd3", sof(), b"\xff\xda\x00\x08scan-data", seg(0xE1, b"after")]
    data = b"".join(parts)
    a = len(SOI)
    b = a + len(app0)
    c = b + 2                      # after two fill bytes: a segment starts at the FF before its marker
    d = c + len(com)
    e = d + 2
    f = e + len(sof())
    assert list(segments(data)) == [(0xE0, a, b), (0xFE, c, d), (0xD3, d, e), (0xC0, e, f), (0xDA, f, f)]


@pytest.mark.parametrize("marker", [0x01, *range(0xD0, 0xD8)])
def test_tem_and_restart_markers_have_no_length(marker):
    data = SOI + bytes([0xFF, marker]) + seg(0xFE, b"x") + b"\xff\xd9"
    assert list(segments(data)) == [(marker, 2, 4), (0xFE, 4, 4 + 5), (0xD9, 9, 9)]


def test_the_walk_stops_at_eoi_and_at_trailing_fill_bytes():
    assert list(segments(SOI + b"\xff\xd9" + seg(0xE0, b"never"))) == [(0xD9, 2, 2)]
    com = seg(0xFE, b"ab")
    assert list(segments(SOI + com + b"\xff\xff\xff")) == [(0xFE, 2, 2 + len(com))]


def test_a_segment_that_ends_exactly_at_the_end_of_the_data_is_whole():
    data = SOI + seg(0xFE, b"") + seg(0xE2, b"xyz")
    assert list(segments(data)) == [(0xFE, 2, 6), (0xE2, 6, len(data))]


@pytest.mark.parametrize("tail", [b"\xff\xe0", b"\xff\xe0\x00", b"\xff\xe0\x00\x01", b"\xff\xe0\x00\x00",
                                  b"\xff\xe0\x00\x09abc"])
def test_truncated_or_impossible_lengths_are_refused(tail):
    """No length bytes, one of two, a length under 2 (it counts its own two bytes), a length past
    the end of the data."""
    with pytest.raises(ValueError, match="^truncated JPEG header$"):
        list(segments(SOI + seg(0xFE, b"ok") + tail))


def test_garbage_where_a_marker_belongs_names_its_offset():
    with pytest.raises(ValueError, match="^corrupt JPEG header at byte 8$"):
        list(segments(SOI + seg(0xFE, b"ab") + b"\x12\xff\xd9"))
    with pytest.raises(ValueError, match="no SOI"):
        list(segments(b"\xff\xd9" + SOI))


@pytest.mark.parametrize("marker", [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF])
def test_every_frame_marker_gives_its_size_and_components(marker):
    data = SOI + seg(0xE0, b"JFIF\x00") + sof(marker, width=0x1234, height=0x0ABC, comps=3) + b"\xff\xda\x00\x02"
    assert jpeg_frame(data) == {"sof": marker, "width": 0x1234, "height": 0x0ABC, "components": 3}


@pytest.mark.parametrize("marker", [0xC4, 0xC8, 0xCC, 0xDB, 0xDD])
def test_tables_and_reserved_markers_are_not_frames(marker):
    """DHT (C4), JPG (C8), DAC (CC), DQT (DB) and DRI (DD) sit among the SOFs but carry no frame."""
    data = SOI + seg(marker, bytes(6)) + b"\xff\xda\x00\x02"
    with pytest.raises(ValueError, match="no JPEG frame header before the scan"):
        jpeg_frame(data)


def test_a_frame_header_of_six_bytes_is_enough_and_five_are_not():
    ok = SOI + seg(0xC0, bytes([8, 0, 16, 0, 32, 1])) + b"\xff\xd9"
    assert jpeg_frame(ok) == {"sof": 0xC0, "width": 32, "height": 16, "components": 1}
    with pytest.raises(ValueError, match="truncated JPEG frame header"):
        jpeg_frame(SOI + seg(0xC0, bytes([8, 0, 16, 0, 32])) + b"\xff\xd9")


def test_the_first_frame_header_wins():
    data = SOI + sof(0xC2, width=100, height=50, comps=1) + sof(0xC0, width=7, height=9) + b"\xff\xd9"
    assert jpeg_frame(data) == {"sof": 0xC2, "width": 100, "height": 50, "components": 1}
