"""ResVR's inference path: a VR module renders viewports straight from one LR image.

:class:`VRRenderer` owns everything inference needs beyond ``vr.VRModule`` (which keeps the
training graph ``features``/``query``): the per-LR-pixel table built lazily in tiles, the fused
head (h_a and h_f as one convolution), the view loop, and the choice of query path (the fused C
kernel of ``vr_fast``, ``torch.compile``, or eager torch through ``VRModule.decode_neighbours``).

``fast`` (default) uses bf16 autocast on the CPU / fp16 on CUDA, channels_last convolutions and a
table in that dtype; ``fast=False`` is the fp32 reference path. Either way the phase and its
cos/sin are computed in float32 and the bilinear skip uses the exact decoded colours.

The table (amplitudes and frequencies, 2 x amp values per LR pixel) is built in tiles of ``tile``
LR pixels, each computed on its region plus the encoder's receptive field, cut from the same
padded input as ``VRModule.features`` (so a tile equals that region of ``features`` up to
rounding). With ``lazy`` (default) a tile is built the first time a view needs it: the first view
of a large panorama pays, in time and memory, only for the part of the sphere it shows (on the
CPU the pages of unbuilt tiles are never touched); :meth:`VRRenderer.prefetch` builds the rest.

A view: one float64 back-map per block of ``chunk`` viewport pixels (padded by a pixel) gives both
the lookup coordinates and the pixel shapes (``shape.padded_lonlat``). On the CPU in fast mode, on
a machine with AMX tiles, the whole view is one call of ``vr_fast.FusedView`` (geometry, chain and
MLP in C; ``amx=False`` turns it off); else the queries run through the fused kernel + bf16 GEMMs
(``query_path`` says which path renders;
``fused=False`` or no C compiler gives the torch path, VR queries of ``query_chunk`` points whose
temporaries stay in cache). ``compile`` runs the torch query through ``torch.compile``; any
failure falls back to eager mode with a warning.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from ..device import autocast, fast_dtype, pick_device
from ..errors import BadInput
from ..geometry import View, erp_reflect, lonlat_to_erp
from ..shape import padded_lonlat, shape_from_lonlat
from .vr import VRModule, neighbours


class VRRenderer:
    chunk = 1 << 15          # viewport pixels per geometry block
    query_chunk = 1 << 11    # query points per VR call (temporaries stay in cache)
    tile = (16, 32)          # LR rows x columns per lazily built table tile (a fine grain: fewer pages
    max_run = 8              # of table built that a view does not read); regions of up to group_rows x
    group_rows = 2           # max_run tiles per encoder call (32 x 256 LR pixels). 4 rows (less halo)
    #                          made the first view of an 8192x4096 panorama 14% faster but its peak
    #                          memory 14% higher (226 against 197 MB: the encoder's activations)
    prefetch_block = (8, 16)  # tiles per encoder call when the whole table is built (128 x 512 LR pixels)
    #: the largest feature table an image may ask for, in bytes; None: the device's memory (the
    #: machine's RAM on the CPU), since looking all around a panorama builds the whole table
    max_table_bytes: int | None = None

    def __init__(self, vr: VRModule, device: torch.device, shape_kind: str = "ssr", fast: bool = True,
                 lazy: bool = True, compile: bool = False, fused: bool = True, amx: bool = True):
        self.vr, self.device, self.shape_kind = vr, pick_device(device), shape_kind
        self.fast, self.lazy, self.compile, self.fused_enabled = fast, lazy, bool(compile), fused
        self.amx_enabled = amx
        self._compiled = None
        self._fused = None
        self._view = None
        self.feats: dict = {}
        if self.device.type == "cuda":   # few large launches instead of many small ones
            self.chunk, self.query_chunk, self.tile, self.max_run = 1 << 21, 1 << 18, (64, 256), 8
            self.group_rows, self.prefetch_block = 1, (4, 8)
        if fast:
            self.vr.encoder.to(memory_format=torch.channels_last)

    @property
    def dtype(self) -> torch.dtype:
        return fast_dtype(self.device, self.fast)

    @torch.no_grad()
    def _fuse_head(self) -> None:
        """h_a and h_f as one convolution, frequencies reordered from (dy, dx) pairs to [dy | dx]
        (an inference-side copy; the module's parameters are untouched)."""
        a = self.vr.amp
        perm = torch.cat((torch.arange(0, a, 2), torch.arange(1, a, 2))).to(self.device)
        self._head_w = torch.cat((self.vr.h_a.weight, self.vr.h_f.weight[perm])).contiguous(
            memory_format=torch.channels_last if self.fast else torch.contiguous_format)
        self._head_b = torch.cat((self.vr.h_a.bias, self.vr.h_f.bias[perm]))

    def table_bytes(self, h: int, w: int) -> int:
        """Bytes of the feature table of an h x w LR image (2 x amp values per pixel)."""
        return h * w * 2 * self.vr.amp * (torch.finfo(self.dtype).bits // 8)

    def _table_limit(self) -> int:
        if self.max_table_bytes is not None:
            return int(self.max_table_bytes)
        if self.device.type == "cuda":
            return int(torch.cuda.get_device_properties(self.device).total_memory)
        try:
            return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):  # no sysconf: only the allocation decides
            return 1 << 62

    def _alloc_table(self, n: int) -> torch.Tensor:
        return torch.empty(1, n, 2 * self.vr.amp, dtype=self.dtype, device=self.device)

    def set_image(self, img: np.ndarray, lazy: bool | None = None) -> None:
        """Start a new image: ``img`` (h, w, 3) uint8, the decoded LR panorama. BadInput (one line)
        when its feature table would not fit (:attr:`max_table_bytes`) or cannot be allocated."""
        h, w = img.shape[:2]
        need, limit = self.table_bytes(h, w), self._table_limit()
        if need > limit:
            raise BadInput(f"a {w}x{h} LR image needs a {need / 2**30:.1f} GiB ResVR feature table, more than "
                           f"the {limit / 2**30:.1f} GiB of {'device' if self.device.type == 'cuda' else 'machine'} "
                           "memory")
        try:
            table = self._alloc_table(h * w)
        except (MemoryError, RuntimeError) as e:  # torch reports a failed allocation as RuntimeError
            if isinstance(e, RuntimeError) and "alloc" not in str(e) and "out of memory" not in str(e):
                raise
            raise BadInput(f"a {w}x{h} LR image: not enough memory for its {need / 2**30:.1f} GiB ResVR "
                           "feature table") from None
        self._fuse_head()
        self._lr8 = torch.from_numpy(img).to(self.device)                        # (h, w, 3) uint8
        self._R = self.vr.receptive_radius()
        self._ntiles = (-(-h // self.tile[0]), -(-w // self.tile[1]))
        self._done = torch.zeros(self._ntiles, dtype=torch.bool)
        # [amplitudes | frequencies dy | frequencies dx] per LR pixel in the compute dtype; on the
        # CPU the pages of tiles never built are never touched, so they take no memory
        self.feats = {"table": table,
                      "rgb": self._lr8.view(1, h * w, 3),                          # exact uint8 skip colours
                      "h": h, "w": w, "wrap": True, "freq_split": True}
        if not (self.lazy if lazy is None else lazy):
            self.prefetch()

    def release(self) -> None:
        """Drop the per-image table (the renderer needs :meth:`set_image` again)."""
        self.feats = {}

    # ------------------------------------------------------------------ the per-LR-pixel table
    def _input(self, ya: int, yb: int, xa: int, xb: int) -> torch.Tensor:
        """Rows [ya, yb) x columns [xa, xb) of the encoder input of ``VRModule.features``: the LR
        image normalised to [-1, 1], reflected across the poles (``geometry.erp_reflect``) and
        padded circularly by ``pad``, in its padded coordinates; (1, 3, rows, cols)."""
        h, w = self.feats["h"], self.feats["w"]
        p, d = self.vr.pad, self.device
        r = torch.arange(ya - p, yb - p, device=d)[:, None]
        c = torch.arange(xa - p, xb - p, device=d)[None, :]
        src_r, src_c = erp_reflect(r, c, h, w)
        x = self._lr8[src_r, src_c]                                             # (rows, cols, 3) uint8
        x = x.permute(2, 0, 1)[None].float().div(255)
        return (x - 0.5) / 0.5

    @torch.no_grad()
    def _build(self, r0: int, r1: int, c0: int, c1: int) -> None:
        """Table rows for LR pixels [r0, r1) x [c0, c1): encoder + (h_a, h_f) on the region plus
        its receptive-field halo, cut from the padded input exactly as ``features`` sees it (the
        window is clipped where the padded image ends, where ``features`` zero-pads too)."""
        h, w, p, R = self.feats["h"], self.feats["w"], self.vr.pad, self._R
        ya, yb = max(0, r0 + p - R), min(h + 2 * p, r1 + p + R)
        xa, xb = max(0, c0 + p - R), min(w + 2 * p, c1 + p + R)
        x = self._input(ya, yb, xa, xb)
        if self.fast:
            x = x.contiguous(memory_format=torch.channels_last)
        oy, ox = r0 + p - ya, c0 + p - xa
        with autocast(self.device, self.fast):
            z = self.vr.encoder(x)
            del x
            # the head (48 -> 2 amp channels, a third of the MACs) only where the table keeps it: on
            # the region and the ring of z around it (the window reaches min(pad, R) >= 1 beyond the
            # region on every side, so the ring is inside it)
            f = F.conv2d(z[:, :, oy - 1:oy + r1 - r0 + 1, ox - 1:ox + c1 - c0 + 1], self._head_w, self._head_b)
        del z
        self.feats["table"].view(h, w, -1)[r0:r1, c0:c1] = f[0].permute(1, 2, 0)

    def _build_tiles(self, need: torch.Tensor) -> None:
        """Build the tiles marked in ``need`` (bool (rows, cols)) that are not built yet. Tile rows
        go in groups of ``group_rows`` and runs of adjacent columns (up to ``max_run``) that any of
        them needs are built as one region (less receptive-field halo per tile built)."""
        todo = (need & ~self._done).numpy()
        if not todo.any():
            return
        h, w = self.feats["h"], self.feats["w"]
        TR, TC = self.tile
        G = self.group_rows
        for ty0 in range(0, todo.shape[0], G):
            blk = todo[ty0:ty0 + G]
            cols = blk.any(0)
            tx = 0
            while tx < todo.shape[1]:
                if not cols[tx]:
                    tx += 1
                    continue
                t0 = tx
                while tx < todo.shape[1] and cols[tx] and tx - t0 < self.max_run:
                    tx += 1
                rows = np.nonzero(blk[:, t0:tx].any(1))[0]
                a, b = ty0 + int(rows[0]), ty0 + int(rows[-1]) + 1
                self._build(a * TR, min(h, b * TR), t0 * TC, min(w, tx * TC))
                self._done[a:b, t0:tx] = True

    def _ensure(self, idx: torch.Tensor) -> None:
        """Build the tiles that hold the flat LR indices ``idx`` (the neighbours of a query)."""
        if bool(self._done.all()):
            return
        w = self.feats["w"]
        TR, TC = self.tile
        nty, ntx = self._ntiles
        tid = (torch.div(idx, w, rounding_mode="floor") // TR) * ntx + torch.remainder(idx, w) // TC
        need = torch.zeros(nty * ntx, dtype=torch.bool, device=idx.device)
        need[tid.flatten()] = True
        self._build_tiles(need.view(nty, ntx).cpu())

    #: build_for builds the whole table (in prefetch blocks, the least halo) when the views' union
    #: covers more than this fraction of it: the union's smaller regions carry more halo, about
    #: 1.4x the whole table's time per tile (6 views 10 degrees apart of a 512x256 LR image: 28 %
    #: of the tiles in 0.095 s, the whole table in 0.24 s; 2 cores)
    whole_above = 0.7

    def build_for(self, views, whole: bool = True) -> None:
        """Build the tiles that any of ``views`` touches: the union, built as one set of regions,
        or (if ``whole``) the whole table when the union covers more than :attr:`whole_above` of it."""
        fv = self._view_kernel()
        if not self.feats or bool(self._done.all()):
            return
        if fv is None:   # no cheap tile check: the whole table, or the query paths' tiles as they render
            if whole:
                self.prefetch()
            return
        h, w = self.feats["h"], self.feats["w"]
        need = torch.zeros(self._ntiles, dtype=torch.bool)
        for v in views:
            need |= fv.needed_tiles(v, h, w, self.shape_kind, self.tile, self._ntiles)
        if whole and float((need | self._done).float().mean()) > self.whole_above:
            self.prefetch()
        else:
            self._build_tiles(need)

    def prefetch(self) -> None:
        """Build every tile not built yet (the whole table), in blocks of ``prefetch_block`` tiles
        (less halo than tile by tile)."""
        while self.prefetch_step(self.prefetch_block):
            pass

    #: the idle prefetch's block (tiles): 64 x 256 LR pixels, tens of ms on a CPU core
    idle_block = (4, 8)

    def prefetch_step(self, block: tuple[int, int] | None = None) -> bool:
        """Build the first block (``block`` tiles, default :attr:`idle_block`) that has tiles not
        built yet; False when the whole table is built (nothing done). A caller with idle time
        builds the table a block at a time and stays free to answer a new view between blocks."""
        if not self.feats or bool(self._done.all()):
            return False
        h, w = self.feats["h"], self.feats["w"]
        TR, TC = self.tile
        nty, ntx = self._ntiles
        by, bx = block or self.idle_block
        for ty0 in range(0, nty, by):
            for tx0 in range(0, ntx, bx):
                ty1, tx1 = min(nty, ty0 + by), min(ntx, tx0 + bx)
                part = self._done[ty0:ty1, tx0:tx1]
                if bool(part.all()):
                    continue
                if bool(part.any()):
                    need = torch.zeros(self._ntiles, dtype=torch.bool)
                    need[ty0:ty1, tx0:tx1] = True
                    self._build_tiles(need)
                else:
                    self._build(ty0 * TR, min(h, ty1 * TR), tx0 * TC, min(w, tx1 * TC))
                    part[...] = True
                return True
        return False

    def tiles_built(self) -> float:
        """Fraction of the table built so far."""
        return float(self._done.float().mean()) if self.feats else 0.0

    # ------------------------------------------------------------------ query paths
    def _decoder(self):
        """VRModule.decode_neighbours, compiled when asked (once; any failure -> eager)."""
        if self.compile and self._compiled is None:
            try:
                self._compiled = torch.compile(self.vr.decode_neighbours, dynamic=False)
            except Exception as e:  # noqa: BLE001
                self._compile_failed(e)
        return self._compiled if self.compile else self.vr.decode_neighbours

    def _compile_failed(self, e: Exception) -> None:
        warnings.warn(f"torch.compile unavailable ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                      "using eager mode")
        self.compile = False
        self._compiled = None

    def _query(self, x, y, s):
        """x, y (1, n) LR coords, s (1, n, 10) -> RGB (1, n, 3); builds missing table tiles first."""
        idx, rel, wts = neighbours(x, y, self.feats["h"], self.feats["w"], True)
        self._ensure(idx)
        dec = self._decoder()
        n, m = x.shape[1], self.query_chunk
        if self.compile and n < m:   # one static shape for the compiled graph: pad the last chunk
            pad = (0, 0, 0, m - n)
            idx, rel = F.pad(idx, pad), F.pad(rel, (0, 0) + pad)
            wts, s = F.pad(wts, pad), F.pad(s, pad)
        if self.compile:
            try:
                return dec(self.feats, idx, rel, wts, s)[:, :n]
            except Exception as e:  # noqa: BLE001
                self._compile_failed(e)
                idx, rel, wts, s = idx[:, :n], rel[:, :n], wts[:, :n], s[:, :n]
        return self.vr.decode_neighbours(self.feats, idx, rel, wts, s)

    def _fused_query(self):
        """The fused C kernel + bf16 GEMM query path (CPU, fast mode), or None (torch path)."""
        if self._fused is None:
            self._fused = False
            if self.device.type == "cpu" and self.fast and self.fused_enabled and not self.compile:
                from . import vr_fast

                if vr_fast.available():
                    self._fused = vr_fast.FusedQuery(self.vr)
        return self._fused or None

    def _view_kernel(self):
        """The whole-view kernel (``vr_fast.FusedView``: geometry, chain and bf16 MLP in one C call;
        CPU, fast mode, AVX512-BF16 machines, AMX where present), or None."""
        if self._view is None:
            self._view = False
            if (self.device.type == "cpu" and self.fast and self.fused_enabled and self.amx_enabled
                    and not self.compile):
                from . import vr_fast

                if vr_fast.FusedView.supports(self.vr):
                    self._view = vr_fast.FusedView(self.vr)
        return self._view or None

    @property
    def query_path(self) -> str:
        """Which query path renders: 'amx' or 'avx512-bf16' (the whole view in one C call, its bf16
        MLP on AMX tiles or AVX512-BF16 dot products), 'fused' (C kernel + oneDNN bf16 GEMMs),
        'compiled' or 'torch'."""
        if self._view_kernel():
            from . import vr_fast

            return vr_fast.view_isa()
        return "fused" if self._fused_query() else ("compiled" if self.compile else "torch")

    # ------------------------------------------------------------------ views
    @torch.no_grad()
    def render(self, view: View) -> np.ndarray:
        """The view (h, w, 3) float32 in [0, 1] of the image given to :meth:`set_image`."""
        if not self.feats:
            raise RuntimeError("set_image() before render()")
        h, w = self.feats["h"], self.feats["w"]
        fv = self._view_kernel()
        if fv is not None:
            if not bool(self._done.all()):
                self._build_tiles(fv.needed_tiles(view, h, w, self.shape_kind, self.tile, self._ntiles))
            return fv.render(self.feats["table"][0], self.feats["rgb"][0], h, w, view, self.shape_kind).numpy()
        d = self.device
        fused = self._fused_query()
        out = torch.empty(view.height * view.width, 3, device=d)
        rows = max(1, self.chunk // view.width)
        qc = max(1, self.query_chunk)
        for r0 in range(0, view.height, rows):
            r1 = min(view.height, r0 + rows)
            # one float64 back-map of the rows (padded by a pixel): lookup coordinates and pixel shapes
            lon, lat = padded_lonlat(view, (r0, r1), device=d)
            x, y = lonlat_to_erp(lon[1:-1, 1:-1], lat[1:-1, 1:-1], h, w)
            x, y = x.flatten()[None].float(), y.flatten()[None].float()
            s = shape_from_lonlat(lon, lat, h, self.shape_kind).flatten(0, 1)[None]
            del lon, lat
            base, n = r0 * view.width, x.shape[1]
            if fused is not None:
                if not bool(self._done.all()):
                    self._ensure(neighbours(x, y, h, w, True)[0])
                fused(self.feats["table"][0], self.feats["rgb"][0], h, w, x[0], y[0], s[0], out[base:base + n])
                continue
            with autocast(d, self.fast):
                for q0 in range(0, n, qc):
                    q1 = min(n, q0 + qc)
                    out[base + q0:base + q1] = self._query(x[:, q0:q1], y[:, q0:q1], s[:, q0:q1])[0]
        return out.view(view.height, view.width, 3).clamp_(0, 1).cpu().numpy()
