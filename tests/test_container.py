"""JPEG container: bit-exact coefficient/table round trip, Pillow vs independent decoder, XMP."""
import io

import numpy as np
import pytest
from PIL import Image

from resvr.core.errors import BadInput
from resvr.core.imageio import load_image
from resvr.core.jpeg.container import encode_jpeg_pixels, insert_xmp, read_jpeg_dct, write_jpeg_dct, write_jpeg_pixels
from resvr.core.jpeg.markers import extract_xmp, read_xmp
from resvr.core.jpeg.xmp import NS_GPANO, XMP_APP1_HEADER, build_xmp, parse_xmp


def _dct_matrix():
    k = np.arange(8)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 16) * np.sqrt(2 / 8)
    m[0] /= np.sqrt(2)
    return m  # orthonormal DCT-II: coeffs = M @ block @ M.T


def _coefficients(h=4, w=8, seed=0):
    """Realistic quantised coefficients: forward DCT of a smooth+noisy image, divided by tables."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:8 * h, 0:8 * w]
    img = np.stack([128 + 80 * np.sin(xx / 7.0) * np.cos(yy / 5.0), 128 + 30 * np.cos(xx / 11.0),
                    128 - 30 * np.sin(yy / 9.0)], -1) + rng.normal(0, 6, (8 * h, 8 * w, 3))
    qt = np.stack([np.clip(2 + np.add.outer(np.arange(8), np.arange(8)) * 2, 1, 255),
                   np.clip(3 + np.add.outer(np.arange(8), np.arange(8)) * 3, 1, 255)]).astype(np.uint16)
    M = _dct_matrix()
    comps = []
    for c in range(3):
        blocks = (img[..., c] - 128).reshape(h, 8, w, 8).transpose(0, 2, 1, 3)
        coef = M @ blocks @ M.T
        comps.append(np.round(coef / qt[0 if c == 0 else 1]).astype(np.int16))
    return comps, qt


def _idct_planes(Y, Cb, Cr, qt):
    """Own IDCT: dequantise, float orthonormal IDCT, +128, round and clamp to 8-bit samples."""
    M = _dct_matrix()
    planes = []
    for c, comp in enumerate((Y, Cb, Cr)):
        blocks = M.T @ (comp.astype(np.float64) * qt[0 if c == 0 else 1]) @ M
        h, w = comp.shape[:2]
        planes.append(np.clip(np.round(blocks.transpose(0, 2, 1, 3).reshape(8 * h, 8 * w) + 128), 0, 255))
    return np.stack(planes, -1)


def _ycc_to_rgb(ycc):
    """JFIF full-range YCbCr -> RGB, rounded and clipped."""
    y, cb, cr = (ycc[..., i].astype(np.float64) for i in range(3))
    rgb = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                    y + 1.772 * (cb - 128)], -1)
    return np.clip(np.round(rgb), 0, 255)


def test_dct_roundtrip_bit_exact_and_baseline_444(tmp_path):
    (Y, Cb, Cr), qt = _coefficients()
    p = write_jpeg_dct(tmp_path / "a.jpg", Y, Cb, Cr, qt)
    y, cb, cr, q = read_jpeg_dct(p)
    for got, want in ((y, Y), (cb, Cb), (cr, Cr)):
        assert got.dtype == np.int16 and got.shape == want.shape and np.array_equal(got, want)
    assert q.dtype == np.uint16 and np.array_equal(q, qt)
    data = p.read_bytes()
    assert b"\xff\xc0" in data and b"\xff\xc2" not in data  # SOF0 baseline, not progressive
    with Image.open(p) as im:
        assert im.size == (64, 32) and im.mode == "RGB"
        assert [s[1:3] for s in im.layer] == [(1, 1)] * 3  # 4:4:4
        # Pillow reports the tables in natural order too: they must be ours
        assert np.array_equal(np.array(im.quantization[0]).reshape(8, 8), qt[0])
        assert np.array_equal(np.array(im.quantization[1]).reshape(8, 8), qt[1])


def test_pillow_pixels_match_decoders(tmp_path):
    import jpeglib

    (Y, Cb, Cr), qt = _coefficients(seed=1)
    p = write_jpeg_dct(tmp_path / "a.jpg", Y, Cb, Cr, qt)
    pil = load_image(p).astype(int)
    # 1) libjpeg driven by jpeglib (what the project's container reads with) == Pillow, bit for bit
    assert np.array_equal(pil, jpeglib.read_spatial(str(p)).spatial.astype(int))
    # 2) an independent float decoder of the stored coefficients, stage by stage. libjpeg's IDCT
    #    (ISLOW, 13-bit fixed point, IEEE-1180 accurate) and its colour conversion (fixed-point
    #    tables) are exact only up to rounding, so each stage agrees within 1 LSB, on few samples.
    ycc_lib = jpeglib.read_spatial(str(p), out_color_space=jpeglib.Colorspace.JCS_YCbCr).spatial.astype(int)
    ycc_own = _idct_planes(Y, Cb, Cr, qt).astype(int)
    d = np.abs(ycc_own - ycc_lib)
    assert d.max() <= 1 and (d > 0).mean() < 0.05
    d = np.abs(_ycc_to_rgb(ycc_lib).astype(int) - pil)
    assert d.max() <= 1 and (d > 0).mean() < 0.01
    # end to end a 1-LSB IDCT rounding in Cb is multiplied by 1.772 in B, so up to 3 LSB, rarely
    d = np.abs(_ycc_to_rgb(ycc_own).astype(int) - pil)
    assert d.max() <= 3 and d.mean() < 0.05


def test_xmp_roundtrip_gpano(tmp_path):
    (Y, Cb, Cr), qt = _coefficients()
    xmp = dict(width=64, height=32, method="resvr", scale=4, hr_width=256, hr_height=128,
               model="resvr-slim", model_version="1.0", heading=30.0, pitch=-5.0, hfov=100.0)
    p = write_jpeg_dct(tmp_path / "x.jpg", Y, Cb, Cr, qt, xmp=xmp)
    # XMP right after SOI + APP0 (JFIF), as an APP1 segment
    data = p.read_bytes()
    assert data[:4] == b"\xff\xd8\xff\xe0"
    app0_len = int.from_bytes(data[4:6], "big")
    assert data[4 + app0_len:4 + app0_len + 2] == b"\xff\xe1"
    assert data[4 + app0_len + 4:].startswith(b"http://ns.adobe.com/xap/1.0/\x00")
    meta = read_xmp(p)
    g, r = meta["GPano"], meta["resvr"]
    assert g["ProjectionType"] == "equirectangular" and g["UsePanoramaViewer"] is True
    assert (g["FullPanoWidthPixels"], g["FullPanoHeightPixels"]) == (64, 32)
    assert (g["CroppedAreaImageWidthPixels"], g["CroppedAreaImageHeightPixels"]) == (64, 32)
    assert (g["CroppedAreaLeftPixels"], g["CroppedAreaTopPixels"]) == (0, 0)
    assert g["InitialViewHeadingDegrees"] == 30.0 and g["InitialHorizontalFOVDegrees"] == 100.0
    assert r == {"Method": "resvr", "Scale": 4, "HRWidth": 256, "HRHeight": 128,
                 "Model": "resvr-slim", "ModelVersion": "1.0"}
    # coefficients untouched by the segment insertion; Pillow sees the same XMP
    assert np.array_equal(read_jpeg_dct(p)[0], Y)
    with Image.open(p) as im:
        assert NS_GPANO.encode() in im.info["xmp"]
        im.load()


def test_xmp_parser_accepts_element_form():
    packet = f"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
      <rdf:Description rdf:about="" xmlns:GPano="{NS_GPANO}">
        <GPano:ProjectionType>equirectangular</GPano:ProjectionType>
        <GPano:FullPanoWidthPixels>8192</GPano:FullPanoWidthPixels>
      </rdf:Description></rdf:RDF></x:xmpmeta>"""
    m = parse_xmp(packet)
    assert m["GPano"] == {"ProjectionType": "equirectangular", "FullPanoWidthPixels": 8192}
    assert m["resvr"] == {}
    with pytest.raises(ValueError):
        parse_xmp("<x:xmpmeta><unclosed>")


def test_pixel_jpeg_444_with_xmp(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (32, 64, 3), dtype=np.uint8)
    xmp = dict(width=64, height=32, method="jpeg", scale=4, hr_width=256, hr_height=128)
    p = write_jpeg_pixels(tmp_path / "j.jpg", rgb, 90, xmp)
    with Image.open(p) as im:
        assert im.size == (64, 32) and [s[1:3] for s in im.layer] == [(1, 1)] * 3
    assert read_xmp(p)["resvr"]["Method"] == "jpeg"
    with pytest.raises(BadInput, match="exists"):
        write_jpeg_pixels(p, rgb, 50, xmp)
    write_jpeg_pixels(p, rgb, 50, xmp, overwrite=True)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["j.jpg"]
    # re-inserting replaces the XMP rather than stacking segments
    data = insert_xmp(p.read_bytes(), build_xmp(64, 32, "jpeg", 2, 128, 64))
    assert data.count(b"http://ns.adobe.com/xap/1.0/\x00") == 1
    assert parse_xmp(extract_xmp(data))["resvr"]["Scale"] == 2
    assert read_xmp(tmp_path / "j.jpg")["GPano"]["FullPanoWidthPixels"] == 64
    assert encode_jpeg_pixels(rgb, 50)[:2] == b"\xff\xd8"


def test_no_xmp_and_bad_files(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (16, 8)).save(buf, "JPEG")
    (tmp_path / "plain.jpg").write_bytes(buf.getvalue())
    assert read_xmp(tmp_path / "plain.jpg") == {"GPano": {}, "resvr": {}}
    (tmp_path / "t.jpg").write_bytes(buf.getvalue()[:-40])
    with pytest.raises(BadInput, match="truncated"):
        read_jpeg_dct(tmp_path / "t.jpg")
    (tmp_path / "n.jpg").write_text("hello")
    with pytest.raises(BadInput, match="not a JPEG"):
        read_jpeg_dct(tmp_path / "n.jpg")


def test_invalid_coefficients_rejected(tmp_path):
    (Y, Cb, Cr), qt = _coefficients()
    with pytest.raises(ValueError, match="one shape"):
        write_jpeg_dct(tmp_path / "a.jpg", Y, Cb[:, :4], Cr[:, :4], qt)
    bad = qt.copy()
    bad[0, 0, 0] = 300
    with pytest.raises(ValueError, match="1..255"):
        write_jpeg_dct(tmp_path / "a.jpg", Y, Cb, Cr, bad)
    big = Y.copy()
    big[0, 0, 3, 3] = 2000
    with pytest.raises(ValueError, match="AC"):
        write_jpeg_dct(tmp_path / "a.jpg", big, Cb, Cr, qt)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key,value", [("InitialViewHeadingDegrees", "nan"), ("InitialViewHeadingDegrees", "inf"),
                                       ("PoseHeadingDegrees", "1e308"), ("InitialViewPitchDegrees", "91"),
                                       ("HRWidth", "-5"), ("HRWidth", "abc"), ("Scale", "0"), ("QScale", "-inf")])
def test_xmp_numbers_must_be_finite_and_in_range(key, value):
    from resvr.core.jpeg.xmp import NS_GPANO, NS_RESVR

    good = build_xmp(64, 32, "jpeg", 4, 256, 128, heading=30.0).decode()
    assert parse_xmp(good)["GPano"]["InitialViewHeadingDegrees"] == 30.0
    ns = "GPano" if key.endswith("Degrees") else "resvr"
    uri = NS_GPANO if ns == "GPano" else NS_RESVR
    bad = good.replace("<rdf:Description ", f'<rdf:Description xmlns:q="{uri}" q:{key}="{value}" ')
    if f'{ns}:{key}="' in good:  # replace the existing attribute instead of adding a second one
        import re
        bad = re.sub(f'{ns}:{key}="[^"]*"', f'{ns}:{key}="{value}"', good)
    with pytest.raises(ValueError, match=f"{key} must be a number") as ei:
        parse_xmp(bad)
    assert "\n" not in str(ei.value)


def test_a_nearly_incompressible_image_at_quality_100_still_encodes():
    """Pillow's one-shot buffer for optimised Huffman tables is 1-2 bytes per pixel; random pixels
    at quality 100 need more: the file is written with the standard tables instead of failing,
    and it decodes to the image within the quantisation error."""
    import io

    import numpy as np
    from PIL import Image

    from resvr.core.jpeg.container import encode_jpeg_pixels

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (128, 256, 3), dtype=np.uint8)   # (smaller ones fit Pillow's 64 KB minimum)
    for q in (100, 99.5):
        data = encode_jpeg_pixels(img, q)
        assert len(data) > 2 * 128 * 256                     # more than Pillow's buffer guess
        back = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)
        assert back.shape == img.shape
        assert np.abs(back - img).mean() < 3.0


# ---- the edges of the baseline checks, each on both sides (the mutation run's survivors) -------
def _blocks(h=2, w=3):
    z = np.zeros((h, w, 8, 8), np.int16)
    return z, z.copy(), z.copy(), np.ones((2, 8, 8), np.uint16)


@pytest.mark.parametrize("shape", [(2, 3, 8), (2, 3, 8, 7), (2, 3, 7, 8), (0, 3, 8, 8), (2, 0, 8, 8), (2, 3, 8, 8, 1)])
def test_coefficient_arrays_of_the_wrong_shape_are_refused(tmp_path, shape):
    _, Cb, Cr, qt = _blocks()
    with pytest.raises(ValueError, match=r"^Y must have shape \(h/8, w/8, 8, 8\)"):   # the check's own line
        write_jpeg_dct(tmp_path / "a.jpg", np.zeros(shape, np.int16), Cb, Cr, qt)
    assert list(tmp_path.iterdir()) == []


def test_a_single_block_image_is_written(tmp_path):
    Y, Cb, Cr, qt = _blocks(1, 1)
    Y[0, 0, 0, 0] = 7
    y, *_ = read_jpeg_dct(write_jpeg_dct(tmp_path / "a.jpg", Y, Cb, Cr, qt))
    assert y.shape == (1, 1, 8, 8) and y[0, 0, 0, 0] == 7 and np.count_nonzero(y) == 1


def test_integral_float_coefficients_are_written_and_fractional_ones_refused(tmp_path):
    Y, Cb, Cr, qt = _blocks()
    Y[1, 2, 0, 1] = -5
    y, *_ = read_jpeg_dct(write_jpeg_dct(tmp_path / "f.jpg", Y.astype(np.float64), Cb, Cr, qt))
    assert np.array_equal(y, Y)
    Yf = Y.astype(np.float32)
    Yf[0, 0, 2, 2] = 0.5
    with pytest.raises(ValueError, match="integers"):
        write_jpeg_dct(tmp_path / "g.jpg", Yf, Cb, Cr, qt)


@pytest.mark.parametrize("pos,value,ok", [((0, 0), 1024, True), ((0, 0), -1024, True), ((0, 0), 1025, False),
                                          ((0, 0), -1025, False), ((0, 1), 1023, True), ((7, 7), -1023, True),
                                          ((0, 1), 1024, False), ((7, 7), -1024, False)])
def test_baseline_coefficient_range_on_both_sides_of_the_edge(tmp_path, pos, value, ok):
    """|DC| <= 1024 and |AC| <= 1023 (8-bit baseline): the edge values are written and read back,
    one past them is refused."""
    Y, Cb, Cr, qt = _blocks()
    Cb[1, 1][pos] = value
    if ok:
        _, cb, _, _ = read_jpeg_dct(write_jpeg_dct(tmp_path / "a.jpg", Y, Cb, Cr, qt))
        assert np.array_equal(cb, Cb)
    else:
        with pytest.raises(ValueError, match=("^Cb DC" if pos == (0, 0) else "^Cb AC") + " coefficients out of the baseline"):
            write_jpeg_dct(tmp_path / "a.jpg", Y, Cb, Cr, qt)


@pytest.mark.parametrize("value,ok", [(1, True), (255, True), (0, False), (256, False), (1.5, False)])
def test_quantisation_table_entries_on_both_sides_of_the_edge(tmp_path, value, ok):
    Y, Cb, Cr, _ = _blocks()
    Y[0, 0, 0, 0] = 3
    qt = np.full((2, 8, 8), 16.0)
    qt[1, 3, 4] = value
    if ok:
        *_, q = read_jpeg_dct(write_jpeg_dct(tmp_path / "a.jpg", Y, Cb, Cr, qt))
        assert np.array_equal(q, qt.astype(np.uint16))
    else:
        with pytest.raises(ValueError, match="1..255"):
            write_jpeg_dct(tmp_path / "a.jpg", Y, Cb, Cr, qt)


def test_writing_never_replaces_a_file_unless_asked(tmp_path):
    Y, Cb, Cr, qt = _blocks()
    p = write_jpeg_dct(tmp_path / "a.jpg", Y, Cb, Cr, qt)
    before = p.read_bytes()
    Y[0, 0, 0, 0] = 40
    with pytest.raises(BadInput, match="exists"):
        write_jpeg_dct(p, Y, Cb, Cr, qt)
    assert p.read_bytes() == before
    write_jpeg_dct(p, Y, Cb, Cr, qt, overwrite=True)
    assert read_jpeg_dct(p)[0][0, 0, 0, 0] == 40


@pytest.mark.parametrize("kind", ["str", "bytes"])
def test_an_xmp_packet_given_as_text_or_bytes_is_stored_verbatim(tmp_path, kind):
    Y, Cb, Cr, qt = _blocks()
    text = build_xmp(24, 16, "jpeg", 4, 96, 64, heading=12.5).decode("utf-8")
    p = write_jpeg_dct(tmp_path / "a.jpg", Y, Cb, Cr, qt, xmp=text if kind == "str" else text.encode("utf-8"))
    assert extract_xmp(p.read_bytes()) == text.encode("utf-8")


def test_xmp_segment_at_the_largest_size_and_one_byte_over():
    buf = io.BytesIO()
    Image.new("RGB", (16, 8)).save(buf, "JPEG")
    room = 0xFFFF - 2 - len(XMP_APP1_HEADER)        # the APP1 length field counts itself
    out = insert_xmp(buf.getvalue(), b"x" * room)
    i = out.index(b"\xff\xe1")
    assert int.from_bytes(out[i + 2:i + 4], "big") == 0xFFFF
    assert out[i + 4:i + 4 + len(XMP_APP1_HEADER)] == XMP_APP1_HEADER
    with Image.open(io.BytesIO(out)) as im:
        im.load()
    with pytest.raises(ValueError, match="too large"):
        insert_xmp(buf.getvalue(), b"x" * (room + 1))


def test_unreadable_coefficients_are_bad_input(tmp_path):
    """A file with JPEG's first and last markers but garbage between: one BadInput line."""
    p = tmp_path / "g.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9")
    with pytest.raises(BadInput, match="cannot read JPEG coefficients"):
        read_jpeg_dct(p)


@pytest.mark.parametrize("quality,ok", [(1, True), (100, True), (0.99, False), (100.01, False), (0, False)])
def test_pixel_quality_on_both_sides_of_the_range(quality, ok):
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    if ok:
        data = encode_jpeg_pixels(rgb, quality)
        with Image.open(io.BytesIO(data)) as im:
            assert im.size == (16, 16)
    else:
        with pytest.raises(ValueError, match="1..100"):
            encode_jpeg_pixels(rgb, quality)


@pytest.mark.parametrize("arr", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8),
                                 np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3), np.uint16)])
def test_pixel_arrays_other_than_uint8_rgb_are_refused(arr):
    with pytest.raises(ValueError, match=r"^expected uint8 \(H, W, 3\)"):
        encode_jpeg_pixels(arr, 90)


def test_pixel_jpegs_are_baseline_sequential():
    """SOF0 and one scan, never progressive (SOF2), whichever Huffman path is taken."""
    rgb = np.random.default_rng(1).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    data = encode_jpeg_pixels(rgb, 75)
    assert b"\xff\xc0" in data and b"\xff\xc2" not in data and data.count(b"\xff\xda") == 1


# the standard tables of the JPEG spec (ITU-T T.81 Annex K), natural order, written out here
_K1 = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
       14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
       49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_K2 = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
       47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32


@pytest.mark.parametrize("quality", [37.5, 62.25, 90.0])
def test_a_fractional_quality_scales_the_standard_tables_without_rounding_the_quality(quality):
    """IJG's scaling at the quality as given (37.5 is not 37 or 38): the file's tables, read by
    Pillow, equal floor((K * s + 50) / 100) clipped to 1..255, s = 5000/q below 50, else 200 - 2q."""
    s = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    want = [np.clip(np.floor((np.array(k, np.float64) * s + 50) / 100), 1, 255).reshape(8, 8) for k in (_K1, _K2)]
    rgb = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    with Image.open(io.BytesIO(encode_jpeg_pixels(rgb, quality))) as im:
        got = [np.array(im.quantization[i]).reshape(8, 8) for i in (0, 1)]  # natural order (see above)
    for g, w in zip(got, want):
        assert np.array_equal(g, w)
    if quality != int(quality):
        with Image.open(io.BytesIO(encode_jpeg_pixels(rgb, int(quality)))) as im:
            assert not np.array_equal(np.array(im.quantization[0]).reshape(8, 8), want[0])


def test_pixel_jpegs_are_what_libjpeg_writes_with_optimised_huffman_tables():
    """The bytes equal Pillow's own 4:4:4, optimised, sequential encode at that quality."""
    rgb = np.random.default_rng(3).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=80, subsampling=0, optimize=True)
    assert encode_jpeg_pixels(rgb, 80) == buf.getvalue()


@pytest.mark.parametrize("which", ["Cb", "Cr"])
def test_one_chroma_plane_of_another_size_is_refused(tmp_path, which):
    Y, Cb, Cr, qt = _blocks(2, 4)
    small = np.zeros((2, 2, 8, 8), np.int16)
    args = (Y, small, Cr) if which == "Cb" else (Y, Cb, small)
    with pytest.raises(ValueError, match="one shape"):
        write_jpeg_dct(tmp_path / "a.jpg", *args, qt)


def test_inserting_xmp_keeps_other_app1_segments_and_replaces_an_old_packet():
    """An Exif APP1 stays; a previous XMP APP1 is dropped; the new packet follows SOI and APP0."""
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "a description"
    Image.new("RGB", (16, 8)).save(buf, "JPEG", exif=exif.tobytes())
    once = insert_xmp(buf.getvalue(), b"<old/>")
    twice = insert_xmp(once, b"<new/>")
    assert extract_xmp(twice) == b"<new/>" and b"<old/>" not in twice
    with Image.open(io.BytesIO(twice)) as im:
        assert im.getexif()[0x010E] == "a description"
    assert twice[2:4] == b"\xff\xe0"                              # JFIF APP0 first
    app0_len = int.from_bytes(twice[4:6], "big")
    at = 4 + app0_len                                               # then our XMP APP1
    assert twice[at:at + 2] == b"\xff\xe1" and twice[at + 4:at + 4 + len(XMP_APP1_HEADER)] == XMP_APP1_HEADER
