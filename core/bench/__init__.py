"""``resvr bench``: speed and memory of every method, measured in one run, written as a table.

    resvr bench [--threads N] [-o REPORT_DIR] [--device auto|cpu|cuda] [--quick]
                [--resvr-weights PT] [--ht-weights PT] [--photos DIR] [--repeats N] [--compile]

Without any learned weights (defaults: the shipped core/assets/weights/*.pt) it stops with exit code 1. Run it
under ``xvfb-run -a`` on a machine without a display to get the GL pane's frame rate.

What it measures (docs/design.md "Measuring"; issue 6):

* **Viewport latency** for 512x512, 1024x768, 1024x1024 and 2048x1536 (field of view 120x90) from
  a 2048x1024 panorama, per method (bilinear, bicubic, hyperthumbnail, dinn360, resvr): the median wall
  time of ``render`` over a drag sweep of views after a warm-up, and the peak memory that the
  renders add (CPU: peak RSS over the RSS before, read from the kernel's high-water mark
  ``VmHWM``, reset through ``/proc/self/clear_refs``; elsewhere a sampling thread; CUDA:
  ``max_memory_allocated``). Each method runs in a fresh subprocess.
* **One-off cost per image**: JPEG decode, ResVR's encoder table (all tiles), HyperThumbnail's
  DCT read and full-ERP decode.
* **ResVR arithmetic**: MACs per viewport pixel from ``VRModule.macs_per_neighbour`` (4
  neighbours), the resulting GFLOP per view, the throughput the renders reach and that of a bf16
  (CPU) / fp16 (CUDA) GEMM of the MLP's shape on this machine, and the fast-vs-fp32 PSNR.
* **GL pane fps** via ``resvr.viewer.fps.measure_gl_fps`` in a subprocess under ``$DISPLAY``
  ("no display" otherwise).
* **Encode time** of a 2048x1024 panorama with the learned encoders (0.3 bpp).
* **The NeRV360 argument**: time to the first 1024x768 view (per-image work included), each
  further view of a drag, and peak memory, ResVR against HyperThumbnail, for 2048x1024,
  4096x2048 and 8192x4096 panoramas, one fresh subprocess per method and size. ResVR is measured
  with its lazily built table (the default) and with the whole table built up front.

Panoramas are synthesised (procedural texture, or cube maps of the photographs in ``--photos``
through ``train.data.synth_cubemap_erp``), so the bench needs no data folder. The 2048x1024
panorama is encoded with the learned encoders; for the NeRV360 sizes the LR file (a quarter of the
HR size) is synthesised directly as a standard 4:4:4 JPEG: decoding cost does not depend on how
the LR image was made, and the 8192x4096 HR original is never needed.

Writes REPORT_DIR/bench.json (everything) and REPORT_DIR/bench.md (tables, ratios, targets).
Absolute CPU times depend on what else runs: the load average is recorded and flagged.

Modules: ``settings`` (sizes, targets), ``measure`` (timing, peak memory, synthetic inputs),
``jobs`` (the worker side: one method per fresh process), ``run`` (the driver: writes bench.json),
``report`` (bench.json -> bench.md).
"""
from __future__ import annotations

from .run import bench_main, run_bench
from .settings import FULL, METHODS, QUICK

__all__ = ["FULL", "METHODS", "QUICK", "bench_main", "run_bench"]
