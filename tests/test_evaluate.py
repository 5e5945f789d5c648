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
         "2d": save_tiny_checkpoint(d / "resvr2d.pt", dict(TINY_RESVR, shape="2d"), seed=1)}
    out = d / "report"
    summary = evaluate(folder, out, bpp=0.3, size=SIZE, n_views=2, resvr_weights=w["resvr"], ht_weights=w["ht"],
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
                 "| ResVR (2-D shape) |", "Rate–distortion", "high latitude"):
        assert text in report
    rd = _rows(out / "rd.csv")  # RD rows: bic-jpeg-bic, ht-bic, resvr, the ablation x 2 targets x 1 view
    assert len(rd) == 4 * 2 and {r["target_bpp"] for r in rd} == {"0.3", "0.5"}
    s = setup["summary"]
    assert s["checks"]["margin_resvr_ht"] == pytest.approx(s["table"]["resvr"]["psnr"] - s["table"]["ht-bic"]["psnr"])


def test_csv_numbers_match_an_independent_computation(setup):
    from resvr.core.methods import HyperThumbnailMethod, ResVRMethod, get_method
    from resvr.core.metrics import ws_psnr

    out, folder, w = setup["out"], setup["folder"], setup["w"]
    rows = {(r["method"], int(r["view"])): r for r in _rows(out / "results.csv")}
    hr = np.array(Image.open(folder / "pano.png").convert("RGB"))
    yaw, pitch = view_directions(2)[1]
    view = View(yaw, pitch, 120.0, 90.0, *SIZE)
    ref = get_method("reference", device="cpu")
    ref.prepare(folder / "pano.png")
    gt = _u8(ref.render(view))

    r = rows[("ht-bic", 1)]
    f = out / "files" / r["file"]
    assert float(r["bpp"]) == pytest.approx(os.path.getsize(f) * 8 / hr.shape[0] / hr.shape[1], abs=1e-6)
    ht = HyperThumbnailMethod(device="cpu", weights=w["ht"])
    ht.prepare(f)
    assert float(r["psnr"]) == pytest.approx(_psnr(_u8(ht.render(view)), gt), abs=1e-4)
    assert float(r["ws_psnr"]) == pytest.approx(ws_psnr(ht.hr.permute(1, 2, 0).numpy(), hr), abs=1e-4)

    r = rows[("resvr", 1)]
    rv = ResVRMethod(device="cpu", weights=w["resvr"])
    rv.prepare(out / "files" / r["file"])
    assert float(r["psnr"]) == pytest.approx(_psnr(_u8(rv.render(view)), gt), abs=1e-4)

    r = rows[("bic-jpeg-bil", 1)]
    bl = get_method("bilinear", device="cpu")
    bl.prepare(out / "files" / r["file"])
    assert float(r["psnr"]) == pytest.approx(_psnr(_u8(bl.render(view)), gt), abs=1e-4)
    assert math.isfinite(float(r["ssim"])) and -1 <= float(r["ssim"]) <= 1


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
