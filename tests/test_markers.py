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


# --------------------------------------------------------------------- read_xmp's refusals
def _xmp_segment(packet: bytes) -> bytes:
    from resvr.core.jpeg.xmp import XMP_APP1_HEADER

    return seg(0xE1, XMP_APP1_HEADER + packet)


@pytest.mark.parametrize("case, data, message", [
    ("not a JPEG", b"GIF89a" + bytes(20), "no SOI"),
    ("cut in a segment", SOI + seg(0xE0, bytes(16))[:9], "truncated JPEG header"),
    ("no XML", SOI + _xmp_segment(b"   ") + sof(), "no XML"),
    ("malformed XML", SOI + _xmp_segment(b"<x:xmpmeta><rdf:RDF") + sof(), "malformed XMP"),
])
def test_read_xmp_refuses_a_broken_file_with_one_line_naming_it(tmp_path, case, data, message):
    from resvr.core.errors import BadInput
    from resvr.core.jpeg.markers import read_xmp

    p = tmp_path / "x.jpg"
    p.write_bytes(data)
    with pytest.raises(BadInput) as ei:
        read_xmp(p)
    text = str(ei.value)
    assert text.startswith(f"{p}: ") and message in text and "\n" not in text


def test_read_xmp_refuses_a_missing_file_or_a_folder(tmp_path):
    from resvr.core.errors import BadInput
    from resvr.core.jpeg.markers import read_xmp

    for p in (tmp_path / "none.jpg", tmp_path):
        with pytest.raises(BadInput, match="no such file"):
            read_xmp(p)


# --------------------------------------------------------------------- the strict entropy pass
def _jpeg(tmp_path, name="a.jpg"):
    import numpy as np
    from PIL import Image

    p = tmp_path / name
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(p, quality=90)
    return p


def _open_fds():
    import os

    return sorted(os.listdir("/proc/self/fd"))


def test_entropy_pass_on_real_files_clean_and_cut_short(tmp_path, capfd):
    """libjpeg itself: a clean file has no problem; one cut mid-scan gets libjpeg's warning back,
    which is not printed; fd 2 is the same file afterwards and no descriptor is left open."""
    import os

    from resvr.core.jpeg.markers import jpeg_entropy_problem

    p = _jpeg(tmp_path)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(p.read_bytes()[: p.stat().st_size * 2 // 3])
    fds = _open_fds()
    assert jpeg_entropy_problem(p) is None
    problem = jpeg_entropy_problem(cut)
    assert problem and "Premature end of JPEG file" in problem
    assert _open_fds() == fds
    assert capfd.readouterr().err == ""
    os.write(2, b"still stderr\n")
    assert capfd.readouterr().err == "still stderr\n"


def _fake_libjpeg(monkeypatch, text: bytes, exc: BaseException | None = None):
    """jpeglib.read_dct replaced by one that writes ``text`` to the C stderr, then raises ``exc``."""
    import os

    import jpeglib

    class Reader:
        def load(self):
            os.write(2, text)
            if exc is not None:
                raise exc

    monkeypatch.setattr(jpeglib, "read_dct", lambda path: Reader())


def test_entropy_pass_returns_the_first_libjpeg_warning_and_passes_other_text_on(tmp_path, monkeypatch, capfd):
    import os

    from resvr.core.jpeg.markers import jpeg_entropy_problem

    _fake_libjpeg(monkeypatch, b"a plugin says hello\n\n  Corrupt JPEG data: 3 extraneous bytes before marker 0xd9  \n"
                               b"Premature end of JPEG file\nand goodbye\n", OSError("fatal too"))
    fds = _open_fds()
    assert jpeg_entropy_problem(_jpeg(tmp_path)) == "Corrupt JPEG data: 3 extraneous bytes before marker 0xd9"
    assert _open_fds() == fds
    assert capfd.readouterr().err == "a plugin says hello\nand goodbye\n"
    os.write(2, b"restored\n")
    assert capfd.readouterr().err == "restored\n"


@pytest.mark.parametrize("exc, want", [(OSError("Not a JPEG file:\n   starts with 0x47 0x49"),
                                        "Not a JPEG file: starts with 0x47 0x49"),
                                       (RuntimeError(""), "RuntimeError")])
def test_entropy_pass_reports_a_fatal_error_as_one_line(tmp_path, monkeypatch, capfd, exc, want):
    from resvr.core.jpeg.markers import jpeg_entropy_problem

    _fake_libjpeg(monkeypatch, b"", exc)
    assert jpeg_entropy_problem(_jpeg(tmp_path)) == want
    assert capfd.readouterr().err == ""
