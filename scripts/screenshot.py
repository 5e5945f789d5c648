#!/usr/bin/env python
"""Take docs/screenshot.png (and one screenshot per mode) from the real app, under Xvfb.

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshot.py [BUNDLE] [--modes all]

Opens BUNDLE (default: the bundled sample, core/assets/sample/; without it a synthetic fixture bundle
is made in a temporary folder) at 1600x1000, waits until every pane has rendered the view
(learned methods without weights show 'unavailable') and saves the window: ``-o`` (default
docs/screenshot.png) for the first mode, docs/screenshot_<mode>.png for each of ``--modes``
(grid, wipe, heat, planet; ``all`` = every one).
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def fixture_bundle(folder: Path) -> Path:
    from PIL import Image

    from resvr.core.bundle import write_bundle_yaml

    folder.mkdir(parents=True, exist_ok=True)
    W, H = 2048, 1024
    u = (np.arange(W) + 0.5) / W * 2 * math.pi
    v = (np.arange(H) + 0.5) / H * math.pi
    U, V = np.meshgrid(u, v)
    sky = np.stack([0.35 + 0.2 * np.cos(V), 0.55 + 0.2 * np.cos(V), 0.9 + 0 * V], -1)
    ground = np.stack([0.35 + 0.1 * np.sin(40 * U) * np.sin(40 * V), 0.5 + 0 * U, 0.25 + 0 * U], -1)
    img = np.where((V > math.pi / 2)[..., None], ground, sky)
    for k in range(12):  # buildings
        c = k * 2 * math.pi / 12
        m = (np.abs(np.angle(np.exp(1j * (U - c)))) < 0.18) & (V > math.pi / 2 - 0.25 - 0.1 * (k % 3)) & (V < math.pi / 2)
        win = (np.sin(60 * U) > 0.3) & (np.sin(80 * V) > 0.2)
        img[m] = np.where(win[m][:, None], [0.95, 0.9, 0.6], [0.55 + 0.03 * k, 0.4, 0.35])
    hr = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    lr = np.asarray(Image.fromarray(hr).resize((W // 4, H // 4), Image.Resampling.BICUBIC))
    Image.fromarray(hr).save(folder / "fixture.png")
    for suffix, q in ((".jpeg.jpg", 60), (".resvr.jpg", 70), (".ht.jpg", 65)):
        Image.fromarray(lr).save(folder / f"fixture{suffix}", quality=q)
    write_bundle_yaml(folder, "fixture", (W, H), 4, {"jpeg": "fixture.jpeg.jpg", "resvr": "fixture.resvr.jpg",
                                                     "hyperthumbnail": "fixture.ht.jpg"},
                      reference="fixture.png", overwrite=True)
    return folder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", nargs="?")
    ap.add_argument("-o", "--output", default=str(Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"))
    ap.add_argument("--size", default="1600x1000")
    ap.add_argument("--yaw", type=float, default=30.0)
    ap.add_argument("--pitch", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--modes", default="grid", help="comma-separated: grid, wipe, heat, planet, or all")
    ap.add_argument("--compass", action="store_true", help="show the compass and horizon overlay")
    args = ap.parse_args(argv)
    modes = ["grid", "wipe", "heat", "planet"] if args.modes == "all" else args.modes.split(",")

    from resvr.viewer.qtsetup import configure_qt

    configure_qt()
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    app.setApplicationName("resvr-viewer")
    from resvr.viewer.main_window import MainWindow, sample_bundle_path
    from resvr.viewer.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="resvr-shot-"))
    bundle = args.bundle or sample_bundle_path() or fixture_bundle(tmp / "bundle")
    win = MainWindow(settings=Settings(path=tmp / "settings.yaml"))
    w, h = (int(x) for x in args.size.lower().split("x"))
    win.resize(w, h)
    win.show()
    if not win.open_path(bundle):
        print(f"cannot open {bundle}: {win.last_error}", file=sys.stderr)
        return 1
    win.set_compass(args.compass, save=False)
    out0 = Path(args.output)
    for i, mode in enumerate(modes):
        win.set_projection("rectilinear", save=False)
        win.set_mode("wipe" if mode == "wipe" else "grid")
        if win.act_heat.isChecked() != (mode == "heat"):
            win.act_heat.trigger()
        if mode == "planet":
            win.set_projection("stereographic", save=False)
            win.camera.set_view(yaw=args.yaw)
        else:
            win.camera.set_view(yaw=args.yaw, pitch=args.pitch)
        time.sleep(0.3)
        t_end = time.monotonic() + args.timeout
        while time.monotonic() < t_end:
            app.processEvents()
            if not win.camera.moving and win.view.all_settled() and not win.progress.isVisible():
                break
            time.sleep(0.02)
        else:
            print("warning: timed out waiting for renders", file=sys.stderr)
        for _ in range(10):
            app.processEvents()
            time.sleep(0.02)
        img = win.grab()  # composes the GL panes (QOpenGLWidget renders into the grab)
        outs = ([out0] if i == 0 else []) + ([out0.with_name(f"screenshot_{mode}.png")] if args.modes != "grid" else [])
        for out in outs:
            out.parent.mkdir(parents=True, exist_ok=True)
            img.save(str(out))
            print(f"wrote {out} ({img.width()}x{img.height()}) {mode} from {bundle}")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
