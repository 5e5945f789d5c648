"""``resvr bench --quick`` end to end with tiny random weights: the report files exist and hold
every table row. No timing assertions (docs/design.md: speed is measured by the bench, not tested)."""
from __future__ import annotations

import json

import pytest

from resvr.core.bench import METHODS, QUICK
from resvr.core.cli import main
from tests.helpers import TINY_HT, TINY_RESVR, save_tiny_checkpoint
from tests.test_dinn360 import TINY_DINN


def test_quick_bench_writes_markdown_and_json(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    # amp and hidden width 32: the smallest VR module the whole-view AMX kernel takes
    cfg = {**TINY_RESVR, "vr": {**TINY_RESVR["vr"], "amp": 32, "hidden": 32}}
    rw = save_tiny_checkpoint(tmp_path / "resvr.pt", cfg, seed=1)
    hw = save_tiny_checkpoint(tmp_path / "ht.pt", TINY_HT, seed=2)
    dw = save_tiny_checkpoint(tmp_path / "dinn.pt", TINY_DINN, seed=3)
    out = tmp_path / "report"
    rc = main(["--threads", "1", "-q", "bench", "--quick", "-o", str(out), "--device", "cpu",
               "--resvr-weights", str(rw), "--ht-weights", str(hw), "--dinn-weights", str(dw)])
    assert rc == 0
    md = (out / "bench.md").read_text()
    rep = json.loads((out / "bench.json").read_text())

    for key in ("cpu", "cores", "torch", "numpy", "device"):
        assert rep["machine"][key] is not None, key
    assert rep["machine"]["device"] == "cpu"
    # viewport latency: every method measured at every size
    for m in METHODS:
        r = rep["viewports"][m]
        assert "error" not in r, (m, r.get("error"), r.get("traceback"))
        assert [tuple(v["size"]) for v in r["views"]] == [tuple(s) for s in QUICK["view_sizes"]]
        for v in r["views"]:
            assert v["median_s"] > 0 and v["memory"]["cpu_peak_mb"] >= 0
    for w, h in QUICK["view_sizes"]:
        assert f"| {w}x{h} |" in md
    # one-off costs, arithmetic, encode
    assert rep["viewports"]["resvr"]["one_off"]["encoder_table_s"] > 0
    assert rep["viewports"]["hyperthumbnail"]["one_off"]["ht_full_decode_s"] > 0
    ar = rep["viewports"]["resvr"]["resvr_arith"]
    # the query paths compared in one run: the default, and the torch fallback beside a faster default
    from resvr.core.models import vr_fast

    qp = rep["viewports"]["resvr"]["query_paths"]
    best = vr_fast.view_isa() or ("fused" if vr_fast.available() else "torch")
    assert rep["viewports"]["resvr"]["query_path"] == best
    assert set(qp["median_s"]) == ({best, "fused", "torch"} if vr_fast.view_isa() else
                                   {"fused": {"fused", "torch"}, "torch": {"torch"}}[best])
    assert all(t > 0 for t in qp["median_s"].values()) and "Query paths" in md
    assert ar["macs_per_pixel"] == 4 * ar["macs_per_neighbour"] and ar["gemm_gflops"] > 0
    assert "kFLOP per viewport pixel" in md and "share of the GEMM bound" in md
    # the CUDA section: measured by itself where torch sees a CUDA device, else said to be unmeasured
    import torch

    if torch.cuda.is_available():
        assert rep["cuda"]["status"] == "measured" and rep["cuda"]["median_ms"] > 0
    else:
        assert rep["cuda"]["status"].startswith("unmeasured") and "## CUDA (ResVR, fp16)" in md and "Unmeasured" in md
    assert rep["viewports"]["resvr"]["fast_vs_fp32_psnr_db"] >= 45
    for m in ("resvr", "hyperthumbnail", "dinn360"):
        assert rep["encode"][m]["encode_s"] > 0, rep["encode"][m]
    assert rep["lr_files"]["dinn360"] == "learned encode" and "prepare() is the full-ERP reverse upscaling" in md
    assert "## Encode" in md
    # first view / further views for each panorama size, ResVR (both table modes) and HT
    for e in rep["nerv"]:
        assert "error" not in e, e
        assert [tuple(r["hr_size"]) for r in e["runs"]] == [tuple(s) for s in QUICK["nerv_sizes"]]
    for w, h in QUICK["nerv_sizes"]:
        for name in ("ResVR (lazy table)", "ResVR (whole table)", "HyperThumbnail + bicubic"):
            assert f"| {w}x{h} | {name} |" in md
    assert len(rep["summary"]["nerv"]) == len(QUICK["nerv_sizes"])
    # render --views through the CLI, whole processes: the per-view figure is the difference of the two
    cli = rep["cli_views"]
    assert cli["views"] == 6 and cli["size"] == list(QUICK["first_view"])
    for m in ("resvr", "hyperthumbnail"):
        c = cli[m]
        assert "error" not in c, c
        assert c["one_view_s"] > 0 and c["n_views_s"] > 0
        assert c["per_further_view_s"] == pytest.approx((c["n_views_s"] - c["one_view_s"]) / 5, abs=2e-3)
        ratio = rep["summary"]["cli_over_bench"][m]
        assert ratio == pytest.approx(c["per_further_view_s"] / next(
            v["median_s"] for v in rep["viewports"][m]["views"] if v["size"] == cli["size"]), rel=0.02, abs=0.01)
    assert "## Through the CLI: `render --views`" in md and "cli_views_over_bench" in md
    # GL pane without a display
    assert rep["gl"]["status"] == "no display" and "no display" in md
    assert "## Targets" in md


def test_the_report_shows_weights_without_the_machines_absolute_paths(tmp_path, monkeypatch):
    """bench.md names the shipped weights by their place in the package, a file under the working
    folder relative to it, and any other file by its name: no machine's absolute path."""
    from resvr.core.bench.report import _shown_path
    from resvr.core.models.weights import default_weights_path

    shipped = default_weights_path("resvr")
    assert _shown_path(shipped) == f"shipped `weights/{shipped.name}`"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert _shown_path(tmp_path / "runs" / "w.pt") == "`runs/w.pt`"
    elsewhere = tmp_path.parent / "x" / "other.pt"
    assert _shown_path(elsewhere) == "`other.pt`"
