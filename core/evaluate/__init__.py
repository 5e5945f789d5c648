"""``resvr eval``: rendered-viewport quality in the ResVR paper's Table 1 layout.

* ``run``: measures (encode every codec at the target bpp, render the fixed view directions with
  every method row and the ground truth, PSNR/SSIM/LPIPS/WS-PSNR from ``core.metrics``) and
  writes ``OUT/run.json``;
* ``summary``, ``report``, ``plots``: turn that data into ``summary.json``, ``results.csv``,
  ``rd.csv``, the plots and ``report.md``; ``resvr eval --report-only RUN.json`` reruns only these;
* ``rows``: the codecs and method rows, from ``core.registry``; ``views``: the view directions;
* ``main``: the command.

Rows (the paper's "Down & Compression & Up & Render"), weakest first as in the paper:
Bicubic & JPEG & Bilinear, Bicubic & JPEG & Bicubic, HyperThumbnail & Bilinear,
HyperThumbnail & Bicubic, DINN360 & Bicubic, ResVR, then one "ResVR (NAME)" row per ablation weight file.
"""
from __future__ import annotations

from .main import eval_main, evaluate
from .rows import BASE_ROWS, ROW_KEYS
from .views import VIEW_DIRECTIONS, view_directions, view_groups

__all__ = ["BASE_ROWS", "ROW_KEYS", "VIEW_DIRECTIONS", "eval_main", "evaluate", "view_directions", "view_groups"]
