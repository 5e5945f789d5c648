"""``resvr eval`` on a tiny synthetic panorama with tiny untrained weights (no ../shared data):
report files, CSV rows, and the CSV numbers against an independent recomputation."""
from __future__ import annotations

import csv
import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resvr.core.cli import main
from resvr.core.errors import BadInput
from resvr.core.evaluate import ROW_KEYS, evaluate, view_directions, view_groups
from resvr.core.geometry import View
from tests.helpers import TINY_HT, TINY_RESVR, save_tiny_checkpoint, textured_erp
from tests.test_dinn360 import TINY_DINN

SIZE = (64, 48)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    folder = d / "erps"
    folder.mkdir()
    Image.fromarray(textured_erp(128, 256, seed=3)).save(folder / "pano.png")
    w = {"resvr": save_tiny_checkpoint(d / "resvr.pt", TINY_RESVR, seed=0),
         "ht": save_tiny_checkpoint(d / "ht.pt", TINY_HT, seed=0),
         "2d": save_tiny_checkpoint(d / "resvr2d.pt", dict(TINY_RESVR, shape="2d"), seed=1),
         "dinn": save_tiny_checkpoint(d / "dinn.pt", TINY_DINN, seed=0)}
    out = d / "report"
    summary = evaluate(folder, out, bpp=0.3, size=SIZE, n_views=2,
                       weights={"resvr": w["resvr"], "hyperthumbnail": w["ht"], "dinn360": w["dinn"]},
                       ablations={"2-D shape": w["2d"]}, device="cpu", rd_bpps=(0.3, 0.5), rd_views=1,
                       lpips=False, progress=False, log=lambda m: None)
    return {"dir": d, "folder": folder, "out": out, "w": w, "summary": summary}


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _u8(img):
    return np.clip(np.round(np.asarray(img, np.float64) * 255.0), 0, 255).astype(np.uint8)


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def test_view_directions_cover_seam_and_high_latitudes():
    d = view_directions(10)
    assert len(d) == len(set(d)) == 10
    pitches = {p for _, p in d}
    assert {60.0, -60.0, 80.0, -80.0} <= pitches
    assert any(view_groups(y, p)["seam"] for y, p in d)
    assert view_directions(2) == d[:2] and view_groups(*d[1])["seam"]
    more = view_directions(14)
    assert more[:10] == d and all(-90 <= p <= 90 and -180 <= y <= 180 for y, p in more)


def test_report_files_and_csv_rows(setup):
    out = setup["out"]
    for name in ("report.md", "results.csv", "rd.csv", "summary.json", "psnr_per_view.png", "rd_curve.png",
                 "compare.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    rows = _rows(out / "results.csv")
    methods = list(ROW_KEYS) + ["resvr-2-d-shape"]
    assert len(rows) == 1 * len(methods) * 2
    assert {(r["method"], r["view"]) for r in rows} == {(m, str(v)) for m in methods for v in (0, 1)}
    assert all(r["image"] == "pano.png" and r["lpips"] == "n/a" for r in rows)
    assert {r["label"] for r in rows} >= {"Bicubic & JPEG & Bicubic", "HyperThumbnail & Bicubic", "ResVR",
                                          "ResVR (2-D shape)"}
    assert all(r["ws_psnr"] == "n/a" for r in rows if r["method"].startswith("resvr"))
    assert all(float(r["ws_psnr"]) > 10 for r in rows if not r["method"].startswith("resvr"))
    report = (out / "report.md").read_text()
    for text in ("| Down & Compression & Up & Render | bpp↓ | WS-PSNR↑ | PSNR↑ | SSIM↑ | LPIPS↓ |",
                 "PSNR(ResVR) − PSNR(HyperThumbnail & Bicubic)",
                 "PSNR(HyperThumbnail & Bicubic) − PSNR(Bicubic & JPEG",
                 "| ResVR (2-D shape) |", "| DINN360 & Bicubic |", "Rate–distortion", "high latitude"):
        assert text in report
    rd = _rows(out / "rd.csv")  # RD rows: bic-jpeg-bic, ht-bic, dinn-bic, resvr, the ablation x 2 targets x 1 view
    assert len(rd) == 5 * 2 and {r["target_bpp"] for r in rd} == {"0.3", "0.5"}
    s = setup["summary"]
    assert s["checks"]["margin_resvr_ht"] == pytest.approx(s["table"]["resvr"]["psnr"] - s["table"]["ht-bic"]["psnr"])


def _keys(t, a=-0.75):
    t = np.abs(t)
    return np.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                    np.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))


def np_bicubic_upsample(lr_u8, s):
    """uint8 (h, w, 3) -> uint8 (h*s, w*s, 3): separable Keys bicubic (a = -0.75), pixel centres
    aligned, columns wrapping round the sphere, rows clamped at the poles."""
    h, w = lr_u8.shape[:2]

    def matrix(n_out, n_in, wrap):
        u = (np.arange(n_out) + 0.5) / s - 0.5
        base = np.floor(u).astype(int)
        m = np.zeros((n_out, n_in))
        for k in range(-1, 3):
            idx = base + k
            idx = idx % n_in if wrap else idx.clip(0, n_in - 1)
            np.add.at(m, (np.arange(n_out), idx), _keys(u - (base + k)))
        return m

    my, mx = matrix(h * s, h, False), matrix(w * s, w, True)
    out = np.einsum("Yy,yxc,Xx->YXc", my, lr_u8.astype(np.float64) / 255.0, mx)
    return np.floor(out.clip(0, 1) * 255.0 + 0.5).astype(np.uint8)


def np_ws_psnr(a_u8, b_u8):
    """WS-PSNR of two uint8 ERPs (H, W, 3): squared errors weighted by cos(latitude of the row centre)."""
    H = a_u8.shape[0]
    wts = np.cos((0.5 - (np.arange(H) + 0.5) / H) * np.pi)[:, None, None]
    err = ((a_u8.astype(np.float64) - b_u8.astype(np.float64)) / 255.0) ** 2
    return 10 * np.log10(1.0 / ((err * wts).sum() / (wts.sum() * a_u8.shape[1] * a_u8.shape[2])))


def np_bilinear_view(erp_u8, yaw, pitch, fov_h, fov_v, w, h):
    """Bilinear viewport of an ERP from the convention alone: rays (tests/test_geometry.py), texel
    centres at +1/2, longitude wrapping, rows past a pole mirrored with a 180-degree shift."""
    from tests.test_geometry import np_rays_lonlat

    erp = erp_u8.astype(np.float64) / 255.0
    H, W = erp.shape[:2]
    lon, lat = np_rays_lonlat(yaw, pitch, fov_h, fov_v, w, h)
    x = (lon / (2 * np.pi) + 0.5) * W - 0.5
    y = (0.5 - lat / np.pi) * H - 0.5
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    out = np.zeros((h, w, 3))
    for dy in (0, 1):
        for dx in (0, 1):
            wt = (1 - np.abs(x - (x0 + dx))) * (1 - np.abs(y - (y0 + dy)))
            r, c = y0 + dy, x0 + dx
            past = (r < 0) | (r >= H)
            c = np.where(past, c + W // 2, c) % W
            r = np.where(r < 0, -1 - r, np.where(r >= H, 2 * H - 1 - r, r))
            out += wt[..., None] * erp[r, c]
    return out


def test_csv_numbers_match_an_independent_computation(setup):
    """The CSV's numbers recomputed with numpy renderers, metrics and upsampling written here; only
    the learned decoders (HyperThumbnail's HR ERP, ResVR's view) come from the project."""
    from resvr.core.methods import HyperThumbnailMethod, ResVRMethod
    from tests.test_cli import np_reference_view

    out, folder, w = setup["out"], setup["folder"], setup["w"]
    rows = {(r["method"], int(r["view"])): r for r in _rows(out / "results.csv")}
    hr = np.array(Image.open(folder / "pano.png").convert("RGB"))
    yaw, pitch = view_directions(2)[1]
    gt = _u8(np_reference_view(hr, yaw, pitch, 120.0, 90.0, *SIZE))     # ground truth: bicubic HR view
    view = View(yaw, pitch, 120.0, 90.0, *SIZE)
    tol = 0.05  # dB: float32 against float64 renders may round a few pixels to the other uint8 level

    r = rows[("ht-bic", 1)]
    f = out / "files" / r["file"]
    assert float(r["bpp"]) == pytest.approx(os.path.getsize(f) * 8 / hr.shape[0] / hr.shape[1], abs=1e-6)
    ht = HyperThumbnailMethod(device="cpu", weights=w["ht"])
    ht.prepare(f)
    ht_hr = ht.hr.permute(1, 2, 0).numpy()
    assert float(r["ws_psnr"]) == pytest.approx(np_ws_psnr(ht_hr, hr), abs=1e-3)
    assert float(r["psnr"]) == pytest.approx(_psnr(_u8(np_reference_view(ht_hr, yaw, pitch, 120.0, 90.0, *SIZE)), gt),
                                             abs=tol)

    lr = np.array(Image.open(out / "files" / rows[("bic-jpeg-bil", 1)]["file"]).convert("RGB"))
    r = rows[("bic-jpeg-bic", 1)]
    assert float(r["ws_psnr"]) == pytest.approx(np_ws_psnr(np_bicubic_upsample(lr, 4), hr), abs=0.02)
    r = rows[("bic-jpeg-bil", 1)]
    assert float(r["psnr"]) == pytest.approx(_psnr(_u8(np_bilinear_view(lr, yaw, pitch, 120.0, 90.0, *SIZE)), gt),
                                             abs=tol)
    assert math.isfinite(float(r["ssim"])) and -1 <= float(r["ssim"]) <= 1

    r = rows[("resvr", 1)]
    rv = ResVRMethod(device="cpu", weights=w["resvr"])
    rv.prepare(out / "files" / r["file"])
    assert float(r["psnr"]) == pytest.approx(_psnr(_u8(rv.render(view)), gt), abs=tol)


def test_rerun_reuses_encoded_files_and_cli_contract(setup, capsys):
    out, w = setup["out"], setup["w"]
    files = sorted((out / "files").glob("*.jpg"))
    stamps = {p: p.stat().st_mtime_ns for p in files}
    with pytest.raises(BadInput):
        evaluate(setup["folder"], out, size=SIZE, n_views=2, progress=False, log=lambda m: None)
    rc = main(["eval", str(setup["folder"]), "-o", str(out), "--size", "64x48", "--views", "2", "--device", "cpu",
               "--resvr-weights", str(w["resvr"]), "--ht-weights", str(w["ht"]),
               "--methods", "bic-jpeg-bic,ht-bic,resvr",
               "--rd-bpps", "none", "--no-lpips", "--overwrite", "-q"])
    assert rc == 0
    assert {p: p.stat().st_mtime_ns for p in files} == stamps  # nothing encoded again
    rows = _rows(out / "results.csv")
    assert len(rows) == 3 * 2 and not _rows(out / "rd.csv") and not (out / "rd_curve.png").exists()
    assert main(["eval", str(setup["folder"]), "-o", str(out), "--ablation", "no-equals-sign"]) == 2
    assert main(["eval", str(setup["dir"] / "missing"), "-o", str(out), "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "resvr: error:" in err


def test_report_only_never_overwrites_silently(setup, tmp_path, capsys):
    """``--report-only``: a report folder that holds report files is refused with one line and
    left as it was, unless --overwrite; a fresh folder gets the whole report, as the run wrote it."""
    import json

    run = tmp_path / "run"
    run.mkdir()
    data = json.loads((setup["out"] / "run.json").read_text())
    (run / "run.json").write_text(json.dumps(data))
    fresh = tmp_path / "fresh"
    assert main(["eval", "--report-only", str(run / "run.json"), "-o", str(fresh), "-q"]) == 0
    names = ("report.md", "summary.json", "results.csv", "rd.csv", "psnr_per_view.png")
    assert all((fresh / n).is_file() for n in names)
    capsys.readouterr()
    (run / "report.md").write_text("precious")
    (fresh / "results.csv").write_text("precious")
    for argv in (["--report-only", str(run / "run.json")],                       # the run's own folder
                 ["--report-only", str(run / "run.json"), "-o", str(fresh)]):   # a report folder
        before = {p.name: p.read_bytes() for p in (run, fresh)[len(argv) > 2].iterdir() if p.is_file()}
        assert main(["eval", *argv]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("resvr: error: ") and "--overwrite" in err[0], err
        assert {p.name: p.read_bytes() for p in (run, fresh)[len(argv) > 2].iterdir() if p.is_file()} == before
    assert main(["eval", "--report-only", str(run / "run.json"), "--overwrite", "-q"]) == 0
    assert (run / "report.md").read_text() == (fresh / "report.md").read_text()   # the same report, rebuilt


def test_make_val_set_builds_from_the_split(tmp_path):
    from resvr.core.train.data import load_split

    spec = importlib.util.spec_from_file_location("make_val_set", REPO / "scripts" / "make_val_set.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    split = load_split()
    data = tmp_path / "data"
    (data / "photos").mkdir(parents=True)
    (data / "panoramas").mkdir()
    rng = np.random.default_rng(0)
    for name in split["val_photos"] + ["train_only.jpg"]:
        Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(data / "photos" / name)
    big, small = split["val_panoramas"][0], split["val_panoramas"][-1]
    Image.fromarray(textured_erp(512, 1024)).save(data / "panoramas" / big)
    Image.fromarray(textured_erp(64, 128)).save(data / "panoramas" / small)
    out = tmp_path / "val"
    made = mod.build(data, out, count=2, height=32, seed=5, log=lambda m: None)
    assert sorted(p.name for p in made) == sorted(["synth_val_00.png", "synth_val_01.png", big])
    assert Image.open(out / "synth_val_00.png").size == (64, 32)
    assert not (out / small).exists()
    first = (out / "synth_val_01.png").read_bytes()
    mod.build(data, out, count=2, height=32, seed=5, overwrite=True, log=lambda m: None)
    assert (out / "synth_val_01.png").read_bytes() == first  # fixed seeds: reproducible
    assert (out / "MANIFEST.yaml").is_file()


def test_report_shows_weights_inside_the_working_folder_relative_to_it(setup, tmp_path, monkeypatch):
    """The report names the panorama folder and weight files relative to the folder it is made in when inside it
    (as it is read beside the checkout), and as given when they are elsewhere."""
    run = setup["out"] / "run.json"
    d = setup["dir"]
    monkeypatch.chdir(d)
    assert main(["eval", "--report-only", str(run), "-o", str(tmp_path / "inside"), "-q"]) == 0
    text = (tmp_path / "inside" / "report.md").read_text()
    assert "- `resvr` weights: `resvr.pt` (sha1" in text and "- `ht` weights: `ht.pt` (sha1" in text
    assert str(d) not in text.split("## ")[0]
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--report-only", str(run), "-o", str(tmp_path / "outside"), "-q"]) == 0
    text = (tmp_path / "outside" / "report.md").read_text()
    assert f"- `resvr` weights: `{d / 'resvr.pt'}` (sha1" in text
