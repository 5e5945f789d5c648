"""CLI with the learned methods: train a tiny config, encode with its checkpoint, render."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from resvr.core.cli import main
from resvr.core.jpeg.markers import read_xmp
from tests.helpers import TINY_HT, TINY_RESVR, save_tiny_checkpoint, textured_erp


@pytest.fixture
def hr_png(tmp_path):
    p = tmp_path / "pano.png"
    Image.fromarray(textured_erp(128, 256, seed=7)).save(p)
    return p


# (HR, LR) floors in dB: an 8-iteration or untrained tiny model at 0.3-0.4 bpp stays close to a plain
# upsampling of its LR file (measured 36.5 and 48.6 dB) and is a blurred HR view (27.6 and 20.6 dB;
# the HT view looks down at -80 degrees); a view of the wrong direction scores 11-15 dB
RESVR_FLOOR_DB = (24.0, 32.0)
HT_FLOOR_DB = (18.0, 42.0)


def _check_view(px, hr_png, lr_jpg, yaw, pitch, fov_h, fov_v, w, h, floor_db):
    """The rendered view shows the right part of the panorama: close to an independent numpy render
    of the HR image for that view (tests/test_cli.py) and to one of the decoded LR file, and much
    further from the views 90 degrees to the side and from the flipped direction."""
    from tests.test_cli import np_reference_view, psnr_db

    got = px.astype(np.float64) / 255.0
    hr = np.asarray(Image.open(hr_png).convert("RGB"))
    lr = np.asarray(Image.open(lr_jpg).convert("RGB"))
    want_hr = np_reference_view(hr, yaw, pitch, fov_h, fov_v, w, h)
    want_lr = np_reference_view(lr, yaw, pitch, fov_h, fov_v, w, h)
    side = np_reference_view(hr, yaw + 90.0, pitch, fov_h, fov_v, w, h)
    flip = np_reference_view(hr, yaw, -pitch, fov_h, fov_v, w, h)
    assert psnr_db(got, want_hr) >= floor_db[0] and psnr_db(got, want_lr) >= floor_db[1]
    assert psnr_db(got, side) < psnr_db(got, want_hr) - 3 and psnr_db(got, flip) < psnr_db(got, want_hr) - 3


def test_train_from_cli_then_encode_and_render_with_the_checkpoint(tmp_path, hr_png, capsys):
    data = tmp_path / "erps"
    data.mkdir()
    for i in range(2):
        Image.fromarray(textured_erp(128, 256, seed=i)).save(data / f"e{i}.png")
    cfg = {"name": "tiny", "model": TINY_RESVR,
           "data": {"erp_folder": str(data), "min_erp_height": 64, "synth_count": 0},
           "train": {"iters": 6, "batch": 2, "patch": 64, "points": 128, "lr": 1e-3, "threads": 1, "amp": True,
                     "log_every": 2, "ckpt_every": 3, "val_every": 1000, "out": str(tmp_path / "run")}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "cfg.yaml")]) == 0
    ck = tmp_path / "run" / "latest.pt"
    assert ck.is_file()
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert log[0].startswith("iter,") and len(log) == 1 + 3
    # resume continues from the checkpoint up to the configured total
    cfg["train"]["iters"] = 8
    (tmp_path / "cfg8.yaml").write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert main(["train", str(tmp_path / "cfg8.yaml"), "--resume", str(ck)]) == 0
    assert "resumed from" in capsys.readouterr().out
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in log[1:]] == [2, 4, 6, 8]  # appended, not restarted
    # a finished schedule says so and trains nothing
    assert main(["train", str(tmp_path / "cfg8.yaml"), "--resume", str(ck)]) == 0
    assert "already at iteration 8 of train.iters=8, nothing to train" in capsys.readouterr().out
    assert (tmp_path / "run" / "log.csv").read_text().splitlines() == log

    lr = tmp_path / "pano.resvr.jpg"
    assert main(["encode", str(hr_png), "-o", str(lr), "--method", "resvr", "--bpp", "0.4", "--weights", str(ck)]) == 0
    assert abs(lr.stat().st_size * 8 / (256 * 128) - 0.4) <= 0.01
    x = read_xmp(lr)
    assert x["GPano"]["ProjectionType"] == "equirectangular" and x["resvr"]["Method"] == "resvr"
    assert int(x["resvr"]["HRWidth"]) == 256
    view = tmp_path / "v.png"
    assert main(["render", str(lr), "-o", str(view), "--method", "resvr", "--weights", str(ck),
                 "--yaw", "180", "--pitch", "10", "--fov", "90x90", "--size", "48x40"]) == 0
    with Image.open(view) as im:
        assert im.size == (48, 40)
        assert im.text["method"] == "resvr" and float(im.text["yaw"]) == 180.0 and float(im.text["pitch"]) == 10.0
        px = np.asarray(im.convert("RGB"))
    _check_view(px, hr_png, lr, 180.0, 10.0, 90, 90, 48, 40, floor_db=RESVR_FLOOR_DB)


def test_hyperthumbnail_encode_render_and_missing_weights(tmp_path, hr_png, capsys):
    w = save_tiny_checkpoint(tmp_path / "ht.pt", TINY_HT)
    lr = tmp_path / "p.ht.jpg"
    assert main(["encode", str(hr_png), "-o", str(lr), "--method", "hyperthumbnail", "--bpp", "0.3", "--weights", str(w)]) == 0
    assert main(["render", str(lr), "-o", str(tmp_path / "v.png"), "--method", "hyperthumbnail", "--weights", str(w),
                 "--yaw", "0", "--pitch", "-80", "--fov", "100x80", "--size", "40x32"]) == 0
    with Image.open(tmp_path / "v.png") as im:
        assert im.size == (40, 32) and im.text["method"] == "hyperthumbnail" and float(im.text["pitch"]) == -80.0
        px = np.asarray(im.convert("RGB"))
    _check_view(px, hr_png, lr, 0.0, -80.0, 100, 80, 40, 32, floor_db=HT_FLOOR_DB)
    capsys.readouterr()
    assert main(["render", str(lr), "-o", str(tmp_path / "v2.png"), "--method", "resvr",
                 "--weights", str(tmp_path / "nope.pt"), "--yaw", "0", "--pitch", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "weights not found" in err[0]
    assert not (tmp_path / "v2.png").exists()
    # a resvr checkpoint is refused as hyperthumbnail weights
    r = save_tiny_checkpoint(tmp_path / "r.pt", TINY_RESVR)
    assert main(["render", str(lr), "-o", str(tmp_path / "v3.png"), "--method", "hyperthumbnail", "--weights", str(r),
                 "--yaw", "0", "--pitch", "0"]) == 1


def test_encode_all_writes_a_bundle_the_loader_accepts(tmp_path, hr_png, monkeypatch):
    from resvr.core import encode as enc
    from resvr.core.bundle import load_bundle

    from tests.test_dinn360 import TINY_DINN

    w = {"resvr": save_tiny_checkpoint(tmp_path / "r.pt", TINY_RESVR),
         "hyperthumbnail": save_tiny_checkpoint(tmp_path / "h.pt", TINY_HT),
         "dinn360": save_tiny_checkpoint(tmp_path / "d.pt", TINY_DINN)}
    out = tmp_path / "bundle"
    res = enc.encode_bundle(hr_png, out, bpp=0.35, weights=w)
    b = load_bundle(out)
    assert b.hr_size == (256, 128) and b.reference.name == "pano.png"
    assert b.entries["dinn360"].file.name == "pano.dinn.jpg"
    for m in ("resvr", "hyperthumbnail", "dinn360", "jpeg"):
        assert abs(b.entries[m].bpp - 0.35) <= 0.01, (m, b.entries[m].bpp)
        assert b.entries[m].bpp == pytest.approx(res[m]["bpp"], abs=1e-5)
        with Image.open(b.entries[m].file) as im:
            assert im.size == (64, 32)
    with pytest.raises(Exception, match="already exist"):
        enc.encode_bundle(hr_png, out, bpp=0.35, weights=w)


def test_hyperthumbnail_refuses_a_chroma_subsampled_jpeg_with_one_line(tmp_path, capsys):
    w = save_tiny_checkpoint(tmp_path / "ht.pt", TINY_HT)
    Image.fromarray(textured_erp(64, 128)).save(tmp_path / "plain.jpg", quality=90, subsampling=2)  # 4:2:0
    rc = main(["render", str(tmp_path / "plain.jpg"), "-o", str(tmp_path / "v.png"), "--method", "hyperthumbnail",
               "--weights", str(w), "--yaw", "0", "--pitch", "0", "--size", "32x24"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "4:4:4" in err[0]
    assert not (tmp_path / "v.png").exists()


def test_case1_trains_only_the_vr_module_on_a_frozen_pretrained_codec(tmp_path):
    """freeze_codec + init_codec (ablation Case #1): the codec equals the HyperThumbnail weights it
    was initialised from after training, the VR module has moved, and a finished run resumes."""
    import torch

    from resvr.core.models.pipelines import build_model
    from resvr.core.models.weights import export_weights, safe_load
    from resvr.core.train.loop import train

    data = tmp_path / "erps"
    data.mkdir()
    for i in range(2):
        Image.fromarray(textured_erp(128, 256, seed=i)).save(data / f"e{i}.png")
    ht_ck = save_tiny_checkpoint(tmp_path / "ht_ck.pt", TINY_HT, seed=3)
    ht_w = export_weights(ht_ck, tmp_path / "ht.pt", name="tiny-ht")          # fp16 weight file
    want = {k[len("codec."):]: v.float() for k, v in safe_load(ht_w)["state_dict"].items()
            if k.startswith("codec.")}
    model_cfg = dict(TINY_RESVR, shape="2d", separate=True, freeze_codec=True, init_codec=str(ht_w))
    cfg = {"name": "case1", "model": model_cfg,
           "data": {"erp_folder": str(data), "min_erp_height": 64, "synth_count": 0},
           "train": {"iters": 4, "batch": 2, "patch": 64, "points": 128, "lr": 1e-3, "threads": 1, "amp": True,
                     "log_every": 2, "ckpt_every": 2, "val_every": 1000, "out": str(tmp_path / "run")}}
    torch.manual_seed(0)
    before = {k: v.clone() for k, v in build_model(model_cfg).vr.state_dict().items()}  # train() seeds 0 too
    out = train(cfg, root=tmp_path, progress=False)
    sd = safe_load(out / "latest.pt")["model"]
    codec = {k[len("codec."):]: v for k, v in sd.items() if k.startswith("codec.")}
    assert set(want) <= set(codec)
    for k, v in want.items():
        assert torch.equal(codec[k].float(), v), k                       # frozen: bit-identical
    moved = [k for k, v in before.items() if not torch.equal(sd["vr." + k], v)]
    assert moved, "the VR module did not train"
    bad = tmp_path / "nocodec.pt"
    torch.save({"model": {"vr.x": torch.zeros(1)}}, bad)
    with pytest.raises(ValueError, match="no codec weights"):
        train(dict(cfg, model=dict(model_cfg, init_codec=str(bad))), root=tmp_path, progress=False)


def test_train_and_the_encoders_resolve_devices_through_the_one_resolver(tmp_path, capsys, monkeypatch):
    """``core.device.pick_device`` decides for training and the encoders too: ``--device cuda``
    without CUDA is its one line (exit 1, nothing written), and ``auto`` is the CPU there."""
    import torch

    from resvr.core.device import pick_device
    from resvr.core.encode import make_encoder
    from resvr.core.errors import MethodUnavailable

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(MethodUnavailable) as e:
        pick_device("cuda")
    cfg = {"name": "tiny", "model": TINY_RESVR, "data": {"erp_folder": str(tmp_path), "synth_count": 0},
           "train": {"iters": 1, "batch": 1, "patch": 32, "points": 16, "out": str(tmp_path / "run")}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert main(["train", str(tmp_path / "cfg.yaml"), "--device", "cuda"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"resvr: error: {e.value}"]
    assert not (tmp_path / "run").exists()
    from tests.test_dinn360 import TINY_DINN

    for method, tiny in (("resvr", TINY_RESVR), ("dinn360", TINY_DINN)):   # both encoder classes
        w = save_tiny_checkpoint(tmp_path / f"{method}.pt", tiny)
        assert make_encoder(method, w, "auto").device == torch.device("cpu")
