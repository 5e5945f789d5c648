"""Image loading/saving: modes, EXIF, limits, corrupt files, atomic non-overwriting PNG writes."""
import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from resvr.core.errors import BadInput
from resvr.core.imageio import (MAX_LR_PIXELS, MAX_PIXELS, MIN_HEIGHT, MIN_WIDTH, AspectWarning, ConversionWarning,
                                image_size, load_image, save_png, to_uint8)


def _rgb(h=16, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def png_header_only(path, w, h):
    """A PNG whose IHDR claims w x h but that holds (almost) no pixel data."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


def test_rgb_png_roundtrip(tmp_path):
    a = _rgb()
    Image.fromarray(a).save(tmp_path / "a.png")
    b = load_image(tmp_path / "a.png")
    assert b.dtype == np.uint8 and b.shape == (16, 32, 3)
    assert np.array_equal(a, b)


def test_grayscale_palette_rgba_cmyk(tmp_path):
    a = _rgb()
    g = np.asarray(Image.fromarray(a).convert("L"))
    Image.fromarray(g).save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (16, 32, 3) and np.array_equal(out[..., 0], g) and np.array_equal(out[..., 2], g)

    rgba = np.dstack([a, np.full((16, 32), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert np.array_equal(load_image(tmp_path / "rgba.png"), a)  # alpha dropped, colours untouched

    pal = Image.fromarray(a).quantize(16)
    pal.save(tmp_path / "p.png")
    assert np.array_equal(load_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))

    pal.info["transparency"] = 0
    pal.save(tmp_path / "pt.png", transparency=0)
    assert load_image(tmp_path / "pt.png").shape == (16, 32, 3)

    Image.fromarray(a).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    with pytest.warns(ConversionWarning, match="CMYK"):
        c = load_image(tmp_path / "c.jpg")
    assert c.shape == (16, 32, 3)
    assert np.abs(c.astype(int) - a.astype(int)).mean() < 20  # lossy CMYK round trip, but right colours


def test_16bit_png_scaled(tmp_path):
    v = np.array([[0, 257, 32768, 65535] * 8] * 16, dtype=np.uint16)
    Image.fromarray(v).save(tmp_path / "g16.png")  # 16-bit grayscale PNG
    with Image.open(tmp_path / "g16.png") as im:
        assert im.mode.startswith("I")
    out = load_image(tmp_path / "g16.png")
    want = np.round(v.astype(np.float64) * 255 / 65535).astype(np.uint8)
    assert out.shape == (16, 32, 3)
    assert np.array_equal(out[..., 1], want)
    assert list(out[0, :4, 0]) == [0, 1, 128, 255]


def test_exif_orientation(tmp_path):
    a = _rgb(32, 64)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    Image.fromarray(a).save(tmp_path / "o.jpg", exif=exif, quality=100, subsampling=0)
    assert image_size(tmp_path / "o.jpg") == (32, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AspectWarning)
        out = load_image(tmp_path / "o.jpg")
    assert out.shape == (64, 32, 3)
    ref = np.asarray(Image.open(tmp_path / "o.jpg").convert("RGB"))
    assert np.array_equal(out, np.rot90(ref, k=-1))


def test_non_2to1_warns(tmp_path):
    Image.fromarray(_rgb(20, 32)).save(tmp_path / "x.png")
    with pytest.warns(AspectWarning, match="1.600"):
        load_image(tmp_path / "x.png")
    Image.fromarray(_rgb(16, 32)).save(tmp_path / "y.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AspectWarning)
        load_image(tmp_path / "y.png")  # 2:1: no warning


@pytest.mark.parametrize("case", ["missing", "empty", "text", "truncated_jpeg", "truncated_png", "zero", "huge", "folder"])
def test_bad_input(tmp_path, case):
    p = tmp_path / f"{case}.img"
    if case == "empty":
        p.write_bytes(b"")
    elif case == "text":
        p.write_text("not an image at all\n")
    elif case == "truncated_jpeg":
        buf = io.BytesIO()
        Image.fromarray(_rgb(64, 128)).save(buf, "JPEG", quality=90)
        p.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    elif case == "truncated_png":
        buf = io.BytesIO()
        Image.fromarray(_rgb(64, 128)).save(buf, "PNG")
        p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    elif case == "zero":
        png_header_only(p, 0, 16)
    elif case == "huge":
        png_header_only(p, 65536, 65536)
    elif case == "folder":
        p.mkdir()
    with pytest.raises(BadInput) as ei:
        load_image(p)
    msg = str(ei.value)
    assert msg.startswith(str(p)) and "\n" not in msg
    if case == "huge":
        assert "limit" in msg


def test_pixel_limit_checked_before_decoding(tmp_path, monkeypatch):
    png_header_only(tmp_path / "h.png", 40000, 20000)
    called = []
    monkeypatch.setattr(Image.Image, "load", lambda self: called.append(1))
    with pytest.raises(BadInput, match="limit"):
        load_image(tmp_path / "h.png")
    assert not called
    assert MAX_PIXELS >= 16384 * 8192
    assert image_size(tmp_path / "h.png") == (40000, 20000)


def test_16k_panorama_admitted_by_header(tmp_path):
    # header-only check: a 16384x8192 panorama is within the limit (no decode attempted here)
    png_header_only(tmp_path / "p16k.png", 16384, 8192)
    assert image_size(tmp_path / "p16k.png") == (16384, 8192)
    with pytest.raises(BadInput) as ei:  # the fake file has no data, so decoding fails ...
        load_image(tmp_path / "p16k.png")
    assert "limit" not in str(ei.value)  # ... but not because of the size limit


def test_save_png_atomic_text_no_overwrite(tmp_path):
    a = _rgb()
    out = tmp_path / "v.png"
    save_png(out, a, text={"yaw": "10", "method": "bicubic"})
    with Image.open(out) as im:
        assert im.text["yaw"] == "10" and im.text["method"] == "bicubic"
        assert np.array_equal(np.asarray(im.convert("RGB")), a)
    with pytest.raises(BadInput, match="exists"):
        save_png(out, np.zeros_like(a))
    assert np.array_equal(load_image(out), a)  # untouched
    save_png(out, np.zeros_like(a), overwrite=True)
    assert load_image(out).max() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.png"]  # no temp files left
    with pytest.raises(BadInput, match="does not exist"):
        save_png(tmp_path / "nope" / "x.png", a)


def test_save_png_failure_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        save_png(tmp_path / "bad.png", np.zeros((4, 4, 5), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    from resvr.core.imageio import write_bytes_atomic

    p = write_bytes_atomic(tmp_path / "x.bin", b"abc")
    m = os.umask(0)
    os.umask(m)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~m


# ----------------------------------------------------------------------------- untrusted input (issue 12)
def _corpus_helpers():
    """The corpus generator's JPEG helpers (scripts/make_corpus.py), shared rather than copied."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import make_corpus
    finally:
        sys.path.pop(0)
    return make_corpus


def _jpeg_bytes(a, **kw):
    return _corpus_helpers().jpeg_bytes(a, **kw)


def _patch_sof(data: bytes, w: int, h: int, marker: int | None = None) -> bytes:
    """The same stream with the frame header claiming w x h (and another SOF marker if asked)."""
    return _corpus_helpers().patch_sof(data, w, h, marker)


def test_only_allowed_formats_are_opened(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    eps = tmp_path / "x.eps"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 32\n0 0 moveto showpage\n%%EOF\n")
    touched = []
    monkeypatch.setattr(EpsImagePlugin, "_accept", lambda *a: touched.append(1) or True)
    with pytest.raises(BadInput, match="accepted format.*JPEG, PNG, TIFF, WebP, BMP"):
        load_image(eps)
    assert not touched  # Pillow's EPS plugin (Ghostscript) is never even asked
    Image.fromarray(_rgb()).save(tmp_path / "x.gif")
    with pytest.raises(BadInput, match="accepted format"):
        load_image(tmp_path / "x.gif")
    for fmt in ("tiff", "webp", "bmp"):
        Image.fromarray(_rgb()).save(tmp_path / f"ok.{fmt}", **({"lossless": True} if fmt == "webp" else {}))
        assert np.array_equal(load_image(tmp_path / f"ok.{fmt}"), _rgb())


@pytest.mark.parametrize("w,h", [(1, 1), (3, 1), (16, 8), (31, 16), (16000, 8)])
def test_minimum_size(tmp_path, w, h):
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(tmp_path / "s.png")
    with pytest.raises(BadInput, match=f"{w}x{h} is below the minimum size of {MIN_WIDTH}x{MIN_HEIGHT}"):
        load_image(tmp_path / "s.png")
    Image.fromarray(np.zeros((MIN_HEIGHT, MIN_WIDTH, 3), np.uint8)).save(tmp_path / "m.png")
    assert load_image(tmp_path / "m.png").shape == (MIN_HEIGHT, MIN_WIDTH, 3)


def test_small_jpeg_claiming_huge_size_refused_before_decoding(tmp_path, monkeypatch):
    data = _jpeg_bytes(np.random.default_rng(0).integers(0, 256, (256, 512, 3), dtype=np.uint8), quality=90)
    p = tmp_path / "claims.jpg"
    p.write_bytes(_patch_sof(data, 23000, 11500))
    assert image_size(p) == (23000, 11500) and p.stat().st_size < 23000 * 11500 / 64 / 8
    called = []
    monkeypatch.setattr(Image.Image, "load", lambda self: called.append(1))
    with pytest.raises(BadInput, match="cannot hold the 23000x11500 image"):
        load_image(p)
    assert not called


def test_file_far_too_small_for_its_pixels_refused(tmp_path):
    png_header_only(tmp_path / "flat.png", 4096, 2048)  # 25 MB of RGB claimed by a few hundred bytes
    with pytest.raises(BadInput, match="times its size"):
        load_image(tmp_path / "flat.png")


def test_arithmetic_coded_jpeg_refused(tmp_path):
    data = _jpeg_bytes(_rgb(32, 64), quality=90)
    (tmp_path / "a.jpg").write_bytes(_patch_sof(data, 64, 32, marker=0xC9))
    with pytest.raises(BadInput, match="unsupported JPEG coding"):
        load_image(tmp_path / "a.jpg")


@pytest.mark.parametrize("how", ["cut_with_eoi", "flipped", "no_eoi"])
def test_corrupt_jpeg_scan_is_an_error(tmp_path, how):
    a = np.random.default_rng(3).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    data = _jpeg_bytes(a, quality=90)
    sos = data.index(b"\xff\xda")
    mid = (sos + len(data)) // 2
    if how == "cut_with_eoi":
        bad = data[:mid] + b"\xff\xd9"
    elif how == "flipped":
        bad = bytearray(data)
        for k in range(0, 40, 4):
            bad[mid + k] ^= 0x5A
        bad = bytes(bad).replace(b"\xff\x00\xff", b"\xff\x00\x00")
    else:
        bad = data[:mid]
    p = tmp_path / f"{how}.jpg"
    p.write_bytes(bad)
    with Image.open(p) as im:  # what the lenient decoder would show: a picture, no error
        if how == "cut_with_eoi":
            im.load()
    with pytest.raises(BadInput, match="corrupt JPEG|cannot decode") as ei:
        load_image(p)
    assert "\n" not in str(ei.value)
    (tmp_path / "ok.jpg").write_bytes(data)
    assert load_image(tmp_path / "ok.jpg").shape == (64, 128, 3)


def test_lr_file_limits(tmp_path):
    from resvr.core.jpeg.container import encode_jpeg_pixels

    xmp = dict(width=64, height=32, method="jpeg", scale=4, hr_width=256, hr_height=128)
    data = encode_jpeg_pixels(_rgb(32, 64), 90, xmp)
    (tmp_path / "lr.jpg").write_bytes(data)
    assert load_image(tmp_path / "lr.jpg").shape == (32, 64, 3)
    # 6000 x 3000 is a fine HR size but above the LR limit; refused on the header
    big = _patch_sof(data, 6000, 3000)
    (tmp_path / "big_lr.jpg").write_bytes(big)
    assert 6000 * 3000 > MAX_LR_PIXELS and MAX_LR_PIXELS * 16 == MAX_PIXELS
    with pytest.raises(BadInput, match="LR file of 6000x3000.*above the limit"):
        load_image(tmp_path / "big_lr.jpg")
    (tmp_path / "plain.jpg").write_bytes(_jpeg_bytes(_rgb(32, 64)))
    with pytest.raises(BadInput, match="LR file"):
        load_image(tmp_path / "plain.jpg", max_pixels=64 * 16, lr=True)
    Image.fromarray(_rgb(32, 64)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    with pytest.raises(BadInput, match="YCbCr JPEG, not CMYK"):
        load_image(tmp_path / "cmyk.jpg", lr=True)
    Image.fromarray(_rgb(32, 64)).save(tmp_path / "lr.png")
    with pytest.raises(BadInput, match="must be a JPEG"):
        load_image(tmp_path / "lr.png", lr=True)


def test_out_of_memory_while_decoding_is_bad_input(tmp_path, monkeypatch):
    Image.fromarray(_rgb()).save(tmp_path / "x.png")

    def boom(self):
        raise MemoryError

    monkeypatch.setattr(Image.Image, "load", boom)
    with pytest.raises(BadInput, match="not enough memory to decode a 32x16 image"):
        load_image(tmp_path / "x.png")


def _exact_uint8(v) -> int:
    """round-half-to-even of the exact product v * 255, clipped: Python fractions, no floats."""
    from fractions import Fraction

    q = Fraction(float(v)) * 255
    n = round(q)  # Fraction.__round__ rounds half to even
    return min(255, max(0, n))


def test_to_uint8_rounds_the_exact_product_of_float32_values():
    """Every float32 next to a rounding midpoint (k + 1/2) / 255 gets the rounding of its exact
    product with 255: arithmetic in float32 would round some of them the other way."""
    mids = np.float32((np.arange(256) + 0.5) / 255)
    near = np.concatenate([np.nextafter(mids, np.float32(-1)), mids, np.nextafter(mids, np.float32(2)),
                           np.float32([-0.3, 0.0, 1.0, 1.7, 1e-9])]).astype(np.float32)
    ref = np.array([_exact_uint8(v) for v in near], np.uint8)
    float32_way = np.clip(np.rint(near * np.float32(255)), 0, 255).astype(np.uint8)
    assert (float32_way != ref).any()            # the values this test is about
    got = to_uint8(near.reshape(-1, 1))
    assert got.dtype == np.uint8 and got.shape == (near.size, 1)
    assert np.array_equal(got[:, 0], ref)
    # an image larger than the converter's slice, with its shape kept
    rng = np.random.default_rng(3)
    img = rng.random((301, 257, 3), dtype=np.float32)
    img.reshape(-1)[65336:65336 + near.size] = near     # the midpoint neighbours again, across a slice edge
    assert np.array_equal(to_uint8(img), np.vectorize(_exact_uint8, otypes=[np.uint8])(img))
    assert to_uint8(img.astype(np.float64)[:5]).shape == (5, 257, 3)


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (6, 9, 3), (4, 3, 4), (1, 1, 3), (97, 131, 3)])
def test_png_files_read_back_pixel_exact_with_their_text(tmp_path, shape):
    """The PNG writer (Sub filter, zlib level 1) against Pillow's reader: pixels, mode and text,
    Latin-1 text as tEXt and other text as iTXt; Pillow checks every chunk's CRC."""
    from resvr.core.imageio import png_bytes

    rng = np.random.default_rng(len(shape) * 100 + shape[0])
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    a.reshape(-1)[:: 5] = 255                     # steps of +-255 through the Sub filter's wrap-around
    text = {"yaw": "10.5", "source": "Mönchsberg.jpg", "note": "月面 view", "Software": "resvr-viewer"}
    out = save_png(tmp_path / "v.png", a, text=text)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data == png_bytes(a[..., 0] if shape[-1:] == (1,) and len(shape) == 3 else a, text)
    assert data.count(b"tEXt") == 3 and data.count(b"iTXt") == 1
    with Image.open(out) as im:
        im.load()
        assert im.mode == {2: "L", 1: "L", 3: "RGB", 4: "RGBA"}[shape[2] if len(shape) == 3 else 2]
        assert im.size == (shape[1], shape[0])
        assert np.array_equal(np.asarray(im), a.reshape(shape[:2] + ((shape[2],) if len(shape) == 3 and shape[2] > 1 else ())))
        assert im.text == text


@pytest.mark.parametrize("key", ["", "k" * 80, "月", "a\0b"])
def test_png_text_keyword_must_be_latin1_and_short(tmp_path, key):
    with pytest.raises(ValueError):
        save_png(tmp_path / "v.png", _rgb(), text={key: "x"})
    assert list(tmp_path.iterdir()) == []
