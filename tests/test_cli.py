"""CLI: reference check against an independent numpy renderer, --views CSV, encode jpeg at a bpp,
bad input (exit 1, one stderr line, no output), no silent overwrite."""
import io
import math
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from resvr.core.cli import main

# ----------------------------------------------------------------------------- fixtures


def textured(h=128, w=256, seed=0):
    """Synthetic 2:1 panorama: smooth colour waves plus mild noise (uint8)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    base = np.stack([np.sin(2 * np.pi * (3 * xx + 2 * yy)), np.cos(2 * np.pi * 5 * xx) * np.sin(4 * np.pi * yy),
                     np.sin(2 * np.pi * (7 * xx * yy + xx))], -1)
    img = 0.5 + 0.3 * base + rng.normal(0, 0.06, (h, w, 3))
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


@pytest.fixture
def hr_png(tmp_path):
    p = tmp_path / "hr.png"
    Image.fromarray(textured()).save(p)
    return p


def run(argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ----------------------------------------------------------------------------- independent renderer


def _cubic(t, a=-0.75):
    t = np.abs(t)
    return np.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                    np.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))


def np_reference_view(erp_u8, yaw, pitch, fov_h, fov_v, w, h):
    """The docs/design.md convention from scratch: camera rays, pitch about x then yaw about y,
    lon = atan2(x, z), lat = asin(y/|d|), ERP pixel-centre coordinates, bicubic a = -0.75 with
    wrap-around in longitude and, past a pole, the row mirrored with a 180-degree shift."""
    erp = erp_u8.astype(np.float64) / 255.0
    H, W = erp.shape[:2]
    fx = (w / 2) / math.tan(math.radians(fov_h) / 2)
    fy = (h / 2) / math.tan(math.radians(fov_v) / 2)
    jj, ii = np.meshgrid(np.arange(w), np.arange(h))
    d = np.stack([(jj + 0.5 - w / 2) / fx, -(ii + 0.5 - h / 2) / fy, np.ones((h, w))], -1)
    p, y = math.radians(pitch), math.radians(yaw)
    rot_pitch = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    rot_yaw = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    d = np.einsum("ij,hwj->hwi", rot_yaw @ rot_pitch, d)
    lon = np.arctan2(d[..., 0], d[..., 2])
    lat = np.arcsin(d[..., 1] / np.linalg.norm(d, axis=-1))
    # continuous texel index: texel u has its centre at index u (i.e. at x = u + 1/2)
    fx_ = (lon / (2 * np.pi) + 0.5) * W - 0.5
    fy_ = (0.5 - lat / np.pi) * H - 0.5
    x0, y0 = np.floor(fx_).astype(int), np.floor(fy_).astype(int)
    tx, ty = fx_ - x0, fy_ - y0
    out = np.zeros((h, w, 3))
    for m in range(-1, 3):
        wy = _cubic(ty - m)
        rows = y0 + m
        shift = np.where((rows < 0) | (rows >= H), W // 2, 0)
        rows = np.where(rows < 0, -1 - rows, np.where(rows >= H, 2 * H - 1 - rows, rows))
        for n in range(-1, 3):
            wx = _cubic(tx - n)
            cols = np.mod(x0 + n + shift, W)
            out += (wy * wx)[..., None] * erp[rows, cols]
    return np.clip(out, 0, 1)


def psnr_db(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


@pytest.mark.parametrize("yaw,pitch", [(30.0, 10.0), (180.0, -20.0), (-100.0, 60.0), (45.0, -90.0)])
def test_reference_check_against_independent_renderer(tmp_path, capsys, hr_png, yaw, pitch):
    out = tmp_path / "view.png"
    rc, _, err = run(["render", hr_png, "-o", out, "--method", "reference", "--yaw", yaw, "--pitch", pitch,
                      "--fov", "120x90", "--size", "160x120", "--device", "cpu"], capsys)
    assert rc == 0, err
    with Image.open(out) as im:
        got = np.asarray(im.convert("RGB")).astype(np.float64) / 255.0
        assert im.text["method"] == "reference" and float(im.text["yaw"]) == yaw
        assert float(im.text["pitch"]) == pitch and im.text["fov_h"] == "120" and im.text["height"] == "120"
    want = np_reference_view(np.asarray(Image.open(hr_png).convert("RGB")), yaw, pitch, 120, 90, 160, 120)
    assert got.shape == want.shape == (120, 160, 3)
    # the PNG holds the render rounded to uint8: every pixel within one uint8 step of the truth, and
    # no column worse than the rest (a whole-view PSNR would hide a two-column error at the seam)
    assert np.abs(got - want).max() <= 1.0 / 255
    col_psnr = [psnr_db(got[:, j], want[:, j]) for j in range(got.shape[1])]
    assert min(col_psnr) >= 55.0, (int(np.argmin(col_psnr)), min(col_psnr))


def test_render_views_csv_in_row_order(tmp_path, capsys, hr_png):
    csv = tmp_path / "views.csv"
    rows = [(0, 0, 90, 60, 40, 30), (120, 20, 100, 80, 48, 32), (-60, -45, 60, 60, 24, 24)]
    csv.write_text("yaw,pitch,fov_h,fov_v,width,height\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    out_dir = tmp_path / "views"
    rc, _, err = run(["render", hr_png, "-o", out_dir, "--views", csv, "--method", "bicubic", "-q"], capsys)
    assert rc == 0, err
    assert sorted(os.listdir(out_dir)) == ["view_000.png", "view_001.png", "view_002.png"]
    for k, r in enumerate(rows):
        with Image.open(out_dir / f"view_{k:03d}.png") as im:
            assert im.size == (r[4], r[5])
            assert float(im.text["yaw"]) == r[0] and float(im.text["pitch"]) == r[1]
    # row 1 equals the same view rendered on its own
    single = tmp_path / "single.png"
    rc, _, _ = run(["render", hr_png, "-o", single, "--method", "bicubic", "--yaw", 120, "--pitch", 20,
                    "--fov", "100x80", "--size", "48x32"], capsys)
    assert rc == 0
    assert np.array_equal(np.asarray(Image.open(single)), np.asarray(Image.open(out_dir / "view_001.png")))
    # existing outputs are not overwritten ...
    before = (out_dir / "view_000.png").read_bytes()
    rc, _, err = run(["render", hr_png, "-o", out_dir, "--views", csv, "--method", "bilinear"], capsys)
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "exists" in err
    assert (out_dir / "view_000.png").read_bytes() == before
    # ... unless asked
    rc, _, _ = run(["render", hr_png, "-o", out_dir, "--views", csv, "--method", "bilinear", "--overwrite", "-q"], capsys)
    assert rc == 0 and (out_dir / "view_000.png").read_bytes() != before


def test_views_csv_errors(tmp_path, capsys, hr_png):
    csv = tmp_path / "bad.csv"
    csv.write_text("0,0,90,60,40,30\n10,0,200,60,40,30\n")  # fov 200 is invalid
    rc, _, err = run(["render", hr_png, "-o", tmp_path / "o", "--views", csv, "--method", "bicubic"], capsys)
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "bad.csv:2" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("target", [0.3, 0.45])
def test_encode_jpeg_hits_bpp(tmp_path, capsys, hr_png, target):
    out = tmp_path / "lr.jpg"
    rc, _, err = run(["encode", hr_png, "-o", out, "--method", "jpeg", "--bpp", target, "-q"], capsys)
    assert rc == 0, err
    assert err == ""
    bpp = out.stat().st_size * 8 / (256 * 128)
    assert abs(bpp - target) <= 0.01, bpp
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.size == (64, 32)
        assert [s[1:3] for s in im.layer] == [(1, 1)] * 3  # 4:4:4
        im.load()
    from resvr.core.jpeg.markers import read_xmp

    meta = read_xmp(out)
    assert meta["resvr"]["Method"] == "jpeg" and meta["resvr"]["Scale"] == 4
    assert (meta["resvr"]["HRWidth"], meta["resvr"]["HRHeight"]) == (256, 128)
    assert meta["GPano"]["ProjectionType"] == "equirectangular" and meta["GPano"]["FullPanoWidthPixels"] == 64
    # refuses to overwrite; --quality path works with --overwrite
    rc, _, err = run(["encode", hr_png, "-o", out, "--method", "jpeg", "--quality", 90], capsys)
    assert rc == 1 and "exists" in err and out.stat().st_size * 8 / (256 * 128) == bpp
    rc, _, _ = run(["encode", hr_png, "-o", out, "--method", "jpeg", "--quality", 90, "--overwrite", "-q"], capsys)
    assert rc == 0 and read_xmp(out)["resvr"]["Quality"] == 90


def test_encode_unreachable_bpp_warns_and_keeps_closest(tmp_path, capsys, hr_png):
    out = tmp_path / "lr.jpg"
    rc, _, err = run(["encode", hr_png, "-o", out, "--method", "jpeg", "--bpp", 0.01, "-q"], capsys)
    assert rc == 0 and "not reachable" in err and "quality 1" in err
    assert out.exists()


def test_downscale_wraps_and_bands_match():
    from resvr.core.encode import downscale_bicubic

    hr = textured(64, 128, 3)
    a = downscale_bicubic(hr, 4)
    assert a.shape == (16, 32, 3)
    assert np.array_equal(a, downscale_bicubic(hr, 4, band_rows=3))  # banded == whole
    rolled = downscale_bicubic(np.roll(hr, 32, axis=1), 4)  # seam-free: rolling commutes
    assert np.array_equal(np.roll(a, 8, axis=1), rolled)


def test_unavailable_methods_and_usage(tmp_path, capsys, hr_png, monkeypatch):
    import resvr.core.models.weights as weights

    monkeypatch.setattr(weights, "ASSETS", tmp_path / "no-assets")  # no shipped weights
    rc, _, err = run(["encode", hr_png, "-o", tmp_path / "x.jpg", "--method", "all"], capsys)
    assert rc == 1 and len(err.strip().splitlines()) == 1
    rc, _, err = run(["render", hr_png, "-o", tmp_path / "v.png", "--method", "bicubic", "--yaw", 0,
                      "--pitch", 0, "--fov", "banana"], capsys)
    assert rc == 2
    rc, _, err = run(["render", hr_png, "-o", tmp_path / "v.png", "--method", "bicubic", "--yaw", 0,
                      "--pitch", 95], capsys)
    assert rc == 1 and "pitch" in err
    rc, _, err = run(["render", hr_png, "-o", tmp_path / "v.png", "--method", "bicubic", "--yaw", 0,
                      "--pitch", 0, "--fov", "190x90"], capsys)
    assert rc == 1 and len(err.strip().splitlines()) == 1
    rc, _, err = run(["bench", "--quick", "-o", tmp_path / "b", "--resvr-weights", tmp_path / "none.pt"], capsys)
    assert rc == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(p.name for p in tmp_path.iterdir()) == ["hr.png"]


# ----------------------------------------------------------------------------- bad input


def _png_header_only(path, w, h):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _make_bad(tmp_path, case):
    p = tmp_path / f"in_{case}.jpg"
    if case == "missing":
        pass
    elif case == "non_image":
        p.write_text("this is a text file, not a panorama\n")
    elif case == "truncated_jpeg":
        buf = io.BytesIO()
        Image.fromarray(textured()).save(buf, "JPEG", quality=90)
        p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    elif case == "zero_size":
        p = tmp_path / "in_zero.png"
        _png_header_only(p, 0, 0)
    elif case == "too_large":
        p = tmp_path / "in_huge.png"
        _png_header_only(p, 100000, 50000)  # 5 Gpx claimed; refused from the header
    return p


BAD = ["missing", "non_image", "truncated_jpeg", "zero_size", "too_large"]


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("cmd", ["render", "encode"])
def test_bad_input_exit_1_one_line_no_output(tmp_path, capsys, case, cmd):
    src = _make_bad(tmp_path, case)
    before = set(os.listdir(tmp_path))
    if cmd == "render":
        out = tmp_path / "view.png"
        argv = ["render", src, "-o", out, "--method", "reference", "--yaw", 0, "--pitch", 0, "--size", "32x24"]
    else:
        out = tmp_path / "lr.jpg"
        argv = ["encode", src, "-o", out, "--method", "jpeg", "--bpp", 0.3]
    rc, stdout, err = run(argv, capsys)
    assert rc == 1
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("resvr: error: ") and str(src) in lines[0], err
    assert not out.exists()
    assert set(os.listdir(tmp_path)) == before  # nothing written, no temp files
    if case == "too_large":
        assert "limit" in err


def test_bad_input_in_a_real_process(tmp_path):
    """The console entry point: exit code 1, exactly one stderr line, no output file."""
    src = _make_bad(tmp_path, "truncated_jpeg")
    out = tmp_path / "v.png"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "resvr.core.cli", "render", str(src), "-o", str(out), "--method",
                        "bilinear", "--yaw", "0", "--pitch", "0"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("resvr: error: ")
    assert not out.exists()


def test_existing_output_not_overwritten(tmp_path, capsys, hr_png):
    out = tmp_path / "v.png"
    out.write_bytes(b"precious")
    argv = ["render", hr_png, "-o", out, "--method", "bilinear", "--yaw", 0, "--pitch", 0, "--size", "32x24"]
    rc, _, err = run(argv, capsys)
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "--overwrite" in err
    assert out.read_bytes() == b"precious"
    rc, _, _ = run(argv + ["--overwrite"], capsys)
    assert rc == 0
    with Image.open(out) as im:
        assert im.size == (32, 24)


def test_non_2to1_input_renders_with_one_warning_line(tmp_path, capsys):
    src = tmp_path / "wide.png"
    Image.fromarray(textured(100, 256)).save(src)
    out = tmp_path / "v.png"
    rc, _, err = run(["render", src, "-o", out, "--method", "bilinear", "--yaw", 0, "--pitch", 0, "--size", "32x24"], capsys)
    assert rc == 0 and out.exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("resvr: warning: ") and "2.560" in lines[0]


def test_common_options_before_or_after_the_command():
    from resvr.core.cli import build_parser

    p = build_parser()
    for argv in (["--threads", "1", "-q", "bench"], ["bench", "--threads", "1", "-q"]):
        a = p.parse_args(argv)
        assert (a.threads if a.threads is not None else a.threads_top) == 1 and (a.quiet or a.quiet_top)


def test_render_reads_the_right_file_of_a_bundle_folder(tmp_path, capsys, hr_png):
    from resvr.core.bundle import bundle_file_name, write_bundle_yaml

    folder = tmp_path / "bundle"
    folder.mkdir()
    jpg = folder / bundle_file_name("pano", "jpeg")
    assert run(["encode", hr_png, "-o", jpg, "--method", "jpeg", "--bpp", 0.5, "-q"], capsys)[0] == 0
    (folder / "pano.png").write_bytes(hr_png.read_bytes())
    write_bundle_yaml(folder, "pano", (256, 128), 4, {"jpeg": jpg.name}, reference="pano.png")
    view = ["--yaw", 40, "--pitch", 20, "--size", "96x72", "--device", "cpu"]

    def pixels(src, method, name):
        out = tmp_path / name
        rc, _, err = run(["render", src, "-o", out, "--method", method, *view], capsys)
        assert rc == 0, err
        with Image.open(out) as im:
            return np.asarray(im.convert("RGB")), im.text["source"]

    for method, direct, name in (("bicubic", jpg, jpg.name), ("bilinear", jpg, jpg.name),
                                 ("reference", hr_png, "pano.png")):
        got, source = pixels(folder, method, f"b_{method}.png")
        want, _ = pixels(direct, method, f"d_{method}.png")
        assert np.array_equal(got, want) and source == name
    # bicubic and reference differ, so the test above could tell the files apart
    assert not np.array_equal(pixels(folder, "bicubic", "x.png")[0], pixels(folder, "reference", "y.png")[0])
    rc, _, err = run(["render", folder, "-o", tmp_path / "ht.png", "--method", "hyperthumbnail", *view], capsys)
    assert rc == 1 and "no 'hyperthumbnail' entry" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "ht.png").exists()
    plain = tmp_path / "plain"
    plain.mkdir()
    rc, _, err = run(["render", plain, "-o", tmp_path / "p.png", "--method", "bicubic", *view], capsys)
    assert rc == 1 and "not a comparison bundle" in err
