"""JPEG file I/O: baseline 4:4:4 JPEG from quantised DCT coefficients (jpeglib), standard pixel
JPEG (Pillow), and the XMP APP1 segment (GPano + project namespace, see :mod:`.xmp`). Reading a
file's structure (frame header, strict entropy pass, XMP) is :mod:`.markers`.

Coefficient layout everywhere: int16 arrays (h/8, w/8, 8, 8) per component, each 8x8 block in
*natural* (row-major, not zig-zag) order, i.e. ``block[v, u]`` is the coefficient of vertical
frequency v and horizontal frequency u; they are the quantised values (coefficient / table,
rounded), as libjpeg stores them. Tables: uint16 (2, 8, 8) in natural order, table 0 for Y and
table 1 for Cb and Cr (jpeglib's inferred ``quant_tbl_no = [0, 1, 1]``; we set it explicitly).
Files are baseline (SOF0, 8-bit tables, values 1..255), 4:4:4 (all sampling factors 1x1),
with optimised Huffman tables.

All writes go through a temporary file in the destination folder and a rename, and never replace
an existing file unless ``overwrite=True``.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import BadInput
from ..imageio import write_bytes_atomic
from .markers import jpeglib_tempdir, segments
from .xmp import XMP_APP1_HEADER, build_xmp

__all__ = ["write_jpeg_dct", "read_jpeg_dct", "encode_jpeg_pixels", "write_jpeg_pixels", "insert_xmp"]


def _xmp_bytes(xmp) -> bytes | None:
    if xmp is None:
        return None
    if isinstance(xmp, (bytes, str)):
        return xmp.encode("utf-8") if isinstance(xmp, str) else xmp
    if isinstance(xmp, dict):
        return build_xmp(**xmp)
    raise TypeError("xmp must be None, a packet (bytes/str) or a dict of build_xmp arguments")


def insert_xmp(data: bytes, packet: bytes) -> bytes:
    """Insert an APP1 XMP segment after SOI and any APP0 (JFIF/JFXX) segments; an existing XMP APP1
    segment is dropped first."""
    payload = XMP_APP1_HEADER + packet
    if len(payload) + 2 > 0xFFFF:
        raise ValueError(f"XMP packet too large for one APP1 segment ({len(packet)} bytes)")
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    at = 2
    drop = []
    for marker, start, end in segments(data):
        if marker == 0xE0 and at == start:
            at = end
        if marker == 0xE1 and data[start + 4:start + 4 + len(XMP_APP1_HEADER)] == XMP_APP1_HEADER:
            drop.append((start, end))
    out = bytearray(data)
    for start, end in reversed(drop):
        del out[start:end]
        if start < at:
            at -= end - start
    return bytes(out[:at]) + segment + bytes(out[at:])


def _check_dct(Y, Cb, Cr, qt):
    comps = []
    for name, c in (("Y", Y), ("Cb", Cb), ("Cr", Cr)):
        c = np.asarray(c)
        if c.ndim != 4 or c.shape[2:] != (8, 8) or c.shape[0] < 1 or c.shape[1] < 1:
            raise ValueError(f"{name} must have shape (h/8, w/8, 8, 8), got {c.shape}")
        if np.issubdtype(c.dtype, np.floating) and not np.array_equal(c, np.round(c)):
            raise ValueError(f"{name} must hold integers (quantised coefficients)")
        c = c.astype(np.int64)
        # baseline, 8-bit samples: |DC| <= 1024 (so DC differences fit 11 bits), |AC| <= 1023
        if np.abs(c[..., 0, 0]).max(initial=0) > 1024:
            raise ValueError(f"{name} DC coefficients out of the baseline range (|DC| <= 1024)")
        ac = c.copy()
        ac[..., 0, 0] = 0
        if np.abs(ac).max(initial=0) > 1023:
            raise ValueError(f"{name} AC coefficients out of the baseline range (|AC| <= 1023)")
        comps.append(np.ascontiguousarray(c.astype(np.int16)))
    if not (comps[0].shape == comps[1].shape == comps[2].shape):
        raise ValueError(f"4:4:4 needs Y, Cb, Cr of one shape, got {[c.shape for c in comps]}")
    qt = np.asarray(qt)
    if qt.shape != (2, 8, 8):
        raise ValueError(f"qt must have shape (2, 8, 8), got {qt.shape}")
    if qt.min() < 1 or qt.max() > 255 or not np.array_equal(qt, np.round(qt)):
        raise ValueError("baseline quantisation tables hold integers in 1..255")
    return comps, np.ascontiguousarray(qt.astype(np.uint16))


def write_jpeg_dct(path, Y, Cb, Cr, qt, xmp=None, overwrite: bool = False) -> Path:
    """Write a baseline 4:4:4 JPEG from quantised coefficients (natural order) and two tables.

    ``xmp``: None, an XMP packet (bytes/str), or a dict of :func:`~.xmp.build_xmp` arguments.
    The image size is (8 * Y.shape[1]) x (8 * Y.shape[0]).
    """
    import jpeglib

    (Y, Cb, Cr), qt = _check_dct(Y, Cb, Cr, qt)
    packet = _xmp_bytes(xmp)
    path = Path(path)
    with jpeglib_tempdir() as d:  # jpeglib's own temp files go there too, and all are removed
        tmp = d / "out.jpg"
        im = jpeglib.from_dct(Y, Cb, Cr, qt=qt)
        im.quant_tbl_no = np.array([0, 1, 1])
        im.samp_factor = np.array([[1, 1], [1, 1], [1, 1]])
        im.write_dct(str(tmp), flags=["+OPTIMIZE_CODING"])
        data = tmp.read_bytes()
    if packet is not None:
        data = insert_xmp(data, packet)
    return write_bytes_atomic(path, data, overwrite)


def _require_jpeg(path: Path) -> bytes:
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    data = path.read_bytes()
    if data[:3] != b"\xff\xd8\xff":
        raise BadInput(f"{path}: not a JPEG file")
    if data.rstrip(b"\x00")[-2:] != b"\xff\xd9":
        raise BadInput(f"{path}: truncated JPEG (no end-of-image marker)")
    return data


def read_jpeg_dct(path):
    """Read (Y, Cb, Cr, qt): int16 (h/8, w/8, 8, 8) coefficients in natural order and the uint16
    tables in component order: (2, 8, 8) Y's and the chroma's when Cb and Cr share a table (always
    in our files), else (3, 8, 8) Y's, Cb's and Cr's. A file may hold one table for all three
    components, or number its tables in any order: ``qt`` follows each component's table number,
    so ``qt[0]`` is always Y's. For files other than ours, chroma may be subsampled (smaller Cb/Cr)."""
    import jpeglib

    path = Path(path)
    _require_jpeg(path)
    try:
        with jpeglib_tempdir():
            im = jpeglib.read_dct(str(path))
            Y, Cb, Cr, K, qt, tbl = im.Y, im.Cb, im.Cr, im.K, im.qt, im.quant_tbl_no
    except Exception as e:  # noqa: BLE001
        raise BadInput(f"{path}: cannot read JPEG coefficients ({' '.join(str(e).split())})") from None
    if K is not None:
        raise BadInput(f"{path}: CMYK JPEG; a YCbCr file was expected")
    if Cb is None or Cr is None:
        raise BadInput(f"{path}: grayscale JPEG; a YCbCr file was expected")
    qt, tbl = np.asarray(qt, dtype=np.uint16), [int(t) for t in np.asarray(tbl).reshape(-1)]
    if qt.ndim != 3 or qt.shape[1:] != (8, 8) or len(tbl) != 3 or not all(0 <= t < len(qt) for t in tbl):
        raise BadInput(f"{path}: JPEG quantisation tables do not match its components")
    order = tbl[:2] if tbl[1] == tbl[2] else tbl
    return (np.asarray(Y, dtype=np.int16), np.asarray(Cb, dtype=np.int16), np.asarray(Cr, dtype=np.int16),
            np.ascontiguousarray(qt[order]))



def encode_jpeg_pixels(rgb_uint8, quality: float, xmp=None) -> bytes:
    """Standard baseline JPEG bytes from uint8 RGB (H, W, 3): Pillow (libjpeg), 4:4:4
    (subsampling=0), optimised Huffman tables, ``quality`` 1..100; XMP inserted when given.
    A fractional quality scales the standard tables by IJG's formula without rounding the quality
    (the tables themselves are integers, as JPEG requires)."""
    if not 1 <= float(quality) <= 100:
        raise ValueError(f"JPEG quality must lie in 1..100, got {quality}")
    if float(quality) == int(quality):
        opts = {"quality": int(quality)}
    else:
        from .tables import quality_tables

        t = quality_tables(float(quality)).to(dtype=__import__("torch").int32).numpy()
        opts = {"qtables": [t[0].flatten().tolist(), t[1].flatten().tolist()]}
    a = np.asarray(rgb_uint8)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {a.dtype} {a.shape}")
    img = Image.fromarray(np.ascontiguousarray(a))

    def save(optimize: bool) -> bytes:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", subsampling=0, optimize=optimize, progressive=False, **opts)
        return buf.getvalue()

    try:
        data = save(True)
    except OSError:
        # optimised Huffman tables make libjpeg write the whole scan in one shot into a buffer that
        # Pillow sizes at 1-2 bytes per pixel; a nearly incompressible image at a high quality (an
        # invertible network's LR, which hides high frequencies in it) overflows it ("Suspension
        # not allowed here"): the standard tables then, streamed (a larger, equally valid file)
        data = save(False)
    packet = _xmp_bytes(xmp)
    return insert_xmp(data, packet) if packet is not None else data


def write_jpeg_pixels(path, rgb_uint8, quality: int, xmp=None, overwrite: bool = False) -> Path:
    """Write :func:`encode_jpeg_pixels` to ``path`` atomically."""
    return write_bytes_atomic(path, encode_jpeg_pixels(rgb_uint8, quality, xmp), overwrite)


