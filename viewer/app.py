"""``resvr-viewer [FILE_OR_BUNDLE]``: the desktop viewer's entry point."""
from __future__ import annotations

import argparse
import sys

from resvr.core.device import DEVICE_CHOICES


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="resvr-viewer", description="360° panorama viewer for ResVR LR JPEGs")
    ap.add_argument("path", nargs="?", help="panorama file or comparison bundle folder (default: the bundled sample)")
    ap.add_argument("--reference", help="HR original, for PSNR / SSIM / LPIPS")
    ap.add_argument("--mode", choices=("single", "grid", "wipe"), default=None)
    ap.add_argument("--device", choices=DEVICE_CHOICES, default=None)
    args = ap.parse_args(argv)

    from .qtsetup import configure_qt

    configure_qt()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("resvr-viewer")
    app.setOrganizationName("resvr")
    app.setApplicationDisplayName("ResVR viewer")

    import torch

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))

    from .main_window import MainWindow, sample_bundle_path

    win = MainWindow()
    if args.device:
        win.set_device(args.device)
    win.resize(1400, 900)
    # the last session: window geometry, mode, wipe pair; the last file and view unless a path is given
    win.restore_session(open_last=not args.path)
    win.show()
    if args.path:
        win.open_path(args.path)
    elif win.document is None:
        sample = sample_bundle_path()
        if sample:
            win.open_path(sample, remember=False)   # the sample never pushes itself to the top of Recent
        else:
            win.statusBar().showMessage("No sample bundle found: open a panorama with File → Open (Ctrl+O).")
    if args.reference:
        win.open_reference(args.reference)
    if args.mode:
        win.set_mode(args.mode)
    elif win.document is not None and len(win.document.panes) == 1:
        win.set_mode("single")
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
