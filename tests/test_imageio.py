"""Image loading/saving: modes, EXIF, limits, corrupt files, atomic non-overwriting PNG writes."""
import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from resvr.core.errors import BadInput
from resvr.core.imageio import (MAX_PIXELS, AspectWarning, image_size, load_image, save_png)


def _rgb(h=8, w=16, seed=0):
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
    assert b.dtype == np.uint8 and b.shape == (8, 16, 3)
    assert np.array_equal(a, b)


def test_grayscale_palette_rgba_cmyk(tmp_path):
    a = _rgb()
    g = np.asarray(Image.fromarray(a).convert("L"))
    Image.fromarray(g).save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (8, 16, 3) and np.array_equal(out[..., 0], g) and np.array_equal(out[..., 2], g)

    rgba = np.dstack([a, np.full((8, 16), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert np.array_equal(load_image(tmp_path / "rgba.png"), a)  # alpha dropped, colours untouched

    pal = Image.fromarray(a).quantize(16)
    pal.save(tmp_path / "p.png")
    assert np.array_equal(load_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))

    pal.info["transparency"] = 0
    pal.save(tmp_path / "pt.png", transparency=0)
    assert load_image(tmp_path / "pt.png").shape == (8, 16, 3)

    Image.fromarray(a).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    c = load_image(tmp_path / "c.jpg")
    assert c.shape == (8, 16, 3)
    assert np.abs(c.astype(int) - a.astype(int)).mean() < 20  # lossy CMYK round trip, but right colours


def test_16bit_png_scaled(tmp_path):
    v = np.array([[0, 257, 32768, 65535] * 4] * 8, dtype=np.uint16)
    Image.fromarray(v).save(tmp_path / "g16.png")  # 16-bit grayscale PNG
    with Image.open(tmp_path / "g16.png") as im:
        assert im.mode.startswith("I")
    out = load_image(tmp_path / "g16.png")
    want = np.round(v.astype(np.float64) * 255 / 65535).astype(np.uint8)
    assert out.shape == (8, 16, 3)
    assert np.array_equal(out[..., 1], want)
    assert list(out[0, :4, 0]) == [0, 1, 128, 255]


def test_exif_orientation(tmp_path):
    a = _rgb(8, 16)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    Image.fromarray(a).save(tmp_path / "o.jpg", exif=exif, quality=100, subsampling=0)
    assert image_size(tmp_path / "o.jpg") == (8, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AspectWarning)
        out = load_image(tmp_path / "o.jpg")
    assert out.shape == (16, 8, 3)
    ref = np.asarray(Image.open(tmp_path / "o.jpg").convert("RGB"))
    assert np.array_equal(out, np.rot90(ref, k=-1))


def test_non_2to1_warns(tmp_path):
    Image.fromarray(_rgb(10, 16)).save(tmp_path / "x.png")
    with pytest.warns(AspectWarning, match="1.600"):
        load_image(tmp_path / "x.png")
    Image.fromarray(_rgb(8, 16)).save(tmp_path / "y.png")
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
