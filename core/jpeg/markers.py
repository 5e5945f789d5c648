"""Reading a JPEG file's structure without decoding its pixels: the header segments, the frame
header (size, kind), a strict pass over the entropy-coded data, and the XMP packet. These are the
pre-decode checks of ``core.imageio`` (which therefore does not depend on ``container``, the
writer); ``container`` builds on them.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from pathlib import Path

from ..errors import BadInput
from .xmp import PREFIX, XMP_APP1_HEADER, parse_xmp

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_NO_LENGTH = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0..7


def segments(data: bytes):
    """Yield (marker, start, end) for the header segments after SOI, up to and excluding SOS."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG stream (no SOI marker)")
    pos = 2
    n = len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ValueError(f"corrupt JPEG header at byte {pos}")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        start = pos - 1
        pos += 1
        if marker == _SOS or marker == _EOI:
            yield marker, start, start
            return
        if marker in _NO_LENGTH:
            yield marker, start, pos
            continue
        if pos + 2 > n:
            raise ValueError("truncated JPEG header")
        length = int.from_bytes(data[pos:pos + 2], "big")
        end = pos + length
        if length < 2 or end > n:
            raise ValueError("truncated JPEG header")
        yield marker, start, end
        pos = end


#: SOF markers of Huffman-coded frames: baseline, extended, progressive, lossless. The arithmetic-coded
#: ones (0xC9..0xCB, 0xCD..0xCF) can code a flat image in far under a bit per block, so no size bound
#: holds for them, and no camera writes them: they are refused.
_SOF_HUFFMAN = {0xC0, 0xC1, 0xC2, 0xC3}
_SOF_OTHER = {0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_frame(data: bytes) -> dict:
    """The frame header of a JPEG stream: ``{"sof": marker, "width", "height", "components"}``
    (header segments only; ValueError for a stream without a usable frame header)."""
    for marker, start, end in segments(data):
        if marker in _SOF_HUFFMAN or marker in _SOF_OTHER:
            seg = data[start + 4:end]
            if len(seg) < 6:
                raise ValueError("truncated JPEG frame header")
            return {"sof": marker, "height": int.from_bytes(seg[1:3], "big"),
                    "width": int.from_bytes(seg[3:5], "big"), "components": seg[5]}
    raise ValueError("no JPEG frame header before the scan")


@contextlib.contextmanager
def jpeglib_tempdir():
    """jpeglib writes its own ``NamedTemporaryFile(delete=False)`` files and leaves them behind when
    a call fails (a 0-byte file in /tmp per failed encode): run it with a private temp folder that
    is removed afterwards, whatever happens."""
    with _TMP_LOCK, tempfile.TemporaryDirectory(prefix="resvr-jpeglib-") as d:
        saved = tempfile.tempdir
        tempfile.tempdir = d
        try:
            yield Path(d)
        finally:
            tempfile.tempdir = saved


_TMP_LOCK = threading.RLock()
_LIBJPEG_WARNING = re.compile(r"JPEG|Premature|Corrupt|Huffman|marker|SOS|progression|scanlines", re.I)


def jpeg_entropy_problem(path) -> str | None:
    """Decode the entropy-coded data of a JPEG file (coefficients only, no IDCT) and return libjpeg's
    first warning, or None when the stream is clean.

    libjpeg treats a scan that is cut short (a marker or the end of the file mid-scan), bad Huffman
    codes and extraneous bytes as *warnings*: it fills the rest with grey and goes on, and neither
    Pillow nor jpeglib reports them except by printing to the C stderr. So the C-level stderr (fd 2)
    is captured while jpeglib reads the coefficients; text that is not a libjpeg warning is passed on.
    """
    import sys

    import jpeglib

    path = Path(path)
    with jpeglib_tempdir() as d, open(d / "stderr", "w+b") as cap:
        sys.stderr.flush()
        saved = os.dup(2)
        err = None
        try:
            os.dup2(cap.fileno(), 2)
            try:
                jpeglib.read_dct(str(path)).load()
            except Exception as e:  # noqa: BLE001 - libjpeg's fatal errors come back as IOError etc.
                err = e
            finally:
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        cap.seek(0)
        text = cap.read().decode("utf-8", "replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    bad = [ln for ln in lines if _LIBJPEG_WARNING.search(ln)]
    other = [ln for ln in lines if ln not in bad]
    if other:
        print("\n".join(other), file=sys.stderr)
    if bad:
        return bad[0]
    if err is not None:
        return " ".join(str(err).split()) or type(err).__name__
    return None



def extract_xmp(data: bytes) -> bytes | None:
    """The XMP packet of the first APP1 XMP segment, or None."""
    for marker, start, end in segments(data):
        if marker == 0xE1:
            body = data[start + 4:end]
            if body.startswith(XMP_APP1_HEADER):
                return body[len(XMP_APP1_HEADER):]
    return None




def read_xmp(path) -> dict:
    """``{"GPano": {...}, "resvr": {...}}`` from the file's XMP; empty dicts when it has none."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(1 << 20)  # header segments are at the start; 1 MiB is ample
    try:
        packet = extract_xmp(head)
    except ValueError as e:
        raise BadInput(f"{path}: {e}") from None
    if packet is None:
        return {"GPano": {}, PREFIX: {}}
    try:
        return parse_xmp(packet)
    except ValueError as e:
        raise BadInput(f"{path}: {e}") from None
