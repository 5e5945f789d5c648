"""What ``resvr bench`` measures: sizes, repeats, targets."""
from __future__ import annotations

from .. import registry

VIEW_SIZES = ((512, 512), (1024, 768), (1024, 1024), (2048, 1536))
NERV_SIZES = ((2048, 1024), (4096, 2048), (8192, 4096))
FOV = (120.0, 90.0)
#: the render methods timed (core.registry: every one that reads an LR file)
METHODS = tuple(m for m in registry.render_ids() if m != registry.reference_id())
#: the method timed against the others (ResVR), and the one its first-view runs compare it with
PRIMARY, RIVAL = registry.PRIMARY, registry.RIVAL
QUICK = {"view_sizes": ((128, 96), (160, 128)), "nerv_sizes": ((256, 128), (512, 256)), "pano": (256, 128),
         "first_view": (128, 96), "repeats": 2, "further": 2}
FULL = {"view_sizes": VIEW_SIZES, "nerv_sizes": NERV_SIZES, "pano": (2048, 1024), "first_view": (1024, 768),
        "repeats": 5, "further": 4}
TARGET_CPU_S = 0.40     # a further 1024x768 ResVR view on the CPU (2 cores; issue 11)
TARGET_CUDA_MS = 15.0   # a 1024x1024 ResVR view on CUDA in fp16
TARGET_PSNR = 45.0      # fast path against the fp32 path
TARGET_CLI_RATIO = 1.25  # render --views per further view over the bench's further view (issue 11)
