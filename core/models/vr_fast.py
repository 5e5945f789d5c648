"""The fused CPU query path of ResVR's VR module (the per-view hot loop).

``VRModule.decode_neighbours`` is the reference: gather the 4 neighbours' table rows, build the
phase and its cos/sin in float32, multiply by the amplitudes, run the MLP on each neighbour and
blend with the bilinear weights. In eager torch every step is a pass over (N, 4, amp) values in
memory. Here:

1. ``vr_kernel.c`` (plain C + OpenMP, called through ctypes) does the gather, the phase, a
   polynomial sin/cos and the amplitude product per pixel and writes the first linear layer's
   bf16 input directly, plus the bilinear weights and the bilinear skip colour;
2. the hidden layers run as bf16 GEMMs (oneDNN, AMX where present) on chunks small enough for
   the working set to stay in cache;
3. the last layer is linear and the bilinear weights sum to 1, so it runs once per pixel on the
   blended hidden vector instead of once per neighbour: sum_k w_k (W h_k + b) = W (sum_k w_k h_k) + b.

On machines with AVX512-BF16 (``view_isa``: "amx" where AMX-BF16 tiles may be used, e.g. Intel
Sapphire Rapids; "avx512-bf16" otherwise, e.g. AMD Zen 4/5) :class:`FusedView` goes further: the
whole viewport in one C call (``resvr_view``), with no Python and no tensors per chunk: a float64
back-map of each pixel (lookup coordinates and 9-point pixel shape from one rolling window of
three rows), then per block of 16 pixels the chain above into a 64-row bf16 basis in L1, the hidden
layers as 32 x 32 output blocks (AMX tile products, or vdpbf16ps dot products 8 rows at a time),
bias + ReLU from a 4 KB scratch, the blend of the last hidden layer, the last layer and the skip.
``RESVR_AMX=0`` turns the whole-view kernel off (both kinds).

The kernel is compiled once per machine with ``gcc -O3 -march=native -fopenmp`` into the user's
cache folder (``build()``; ``scripts/setup.sh`` runs it) and keyed by the source, the compiler
and the CPU's flags. Without a C compiler ``available()`` is False and ResVR uses the torch path.
"""
from __future__ import annotations

import ctypes
import hashlib
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

SOURCE = Path(__file__).with_name("vr_kernel.c")
FLAGS = ["-O3", "-march=native", "-mprefer-vector-width=512", "-fno-math-errno", "-fno-trapping-math",  # lets gcc
         "-fopenmp", "-fPIC", "-shared"]                                                      # vectorise sin/cos
_lib = None
_error: str | None = None


def _cache_dir() -> Path:
    if os.environ.get("RESVR_CACHE"):
        return Path(os.environ["RESVR_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "resvr"


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return os.uname().machine


def library_path() -> Path:
    """Where the compiled kernel for this source, compiler flags and CPU lives."""
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode() + _cpu_flags().encode()).hexdigest()[:16]
    return _cache_dir() / f"vr_kernel-{key}.so"


def build(quiet: bool = True) -> Path:
    """Compile the kernel (once; a cached build is reused). Raises RuntimeError without gcc."""
    out = library_path()
    if out.exists():
        return out
    cc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if not cc:
        raise RuntimeError("no C compiler (gcc) found")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        so = Path(tmp) / out.name
        r = subprocess.run([cc, *FLAGS, str(SOURCE), "-o", str(so), "-lm"], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"compiling {SOURCE.name} failed: {r.stderr.strip().splitlines()[-1:]}")
        os.replace(so, out)
    return out


def _load():
    global _lib, _error
    if _lib is not None or _error is not None:
        return _lib
    if os.environ.get("RESVR_FUSED", "1").lower() in ("0", "false", "no", "off"):
        _error = "disabled by RESVR_FUSED=0"
        return None
    try:
        lib = ctypes.CDLL(str(build()))
        f = lib.resvr_basis
        f.restype = None
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                      ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        _lib = lib
        _init_view(lib)
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        _error = f"{type(e).__name__}: {e}"
    return _lib


_isa: int = 0     # the whole-view kernel's hidden layers: 2 AMX, 1 AVX512-BF16, 0 not available
ISA_NAMES = {2: "amx", 1: "avx512-bf16"}


def _init_view(lib) -> None:
    """ctypes signatures of the whole-view kernel; which hidden-layer kernel this process runs."""
    global _isa
    P, I = ctypes.c_void_p, ctypes.c_int
    lib.resvr_view_isa.restype = I
    lib.resvr_view.restype = I
    lib.resvr_view.argtypes = [P, I, I, I, P, P, I, I, I, P, I, I, P, P, P, P, P, I, I, I]
    lib.resvr_view_geometry.restype = None
    lib.resvr_view_geometry.argtypes = [P, I, I, I, I, I, I, I, P, P, P]
    lib.resvr_view_tiles.restype = None
    lib.resvr_view_tiles.argtypes = [P, I, I, I, I, I, I, I, I, P, I]
    off = os.environ.get("RESVR_AMX", "1").lower() in ("0", "false", "no", "off")
    _isa = 0 if off else int(lib.resvr_view_isa())


def view_isa() -> str | None:
    """The whole-view kernel's kind here: "amx", "avx512-bf16", or None (not available: no
    AVX512-BF16, no C compiler, or ``RESVR_AMX=0``)."""
    return ISA_NAMES.get(_isa) if _load() is not None else None


def available() -> bool:
    return _load() is not None


def unavailable_reason() -> str | None:
    _load()
    return _error


def _linear_relu_op():
    """oneDNN's linear with the ReLU fused into the GEMM (one pass over the activations instead
    of two) where this torch build has it and it agrees with linear + relu; else the two ops."""
    def plain(z, W, b):
        return F.linear(z, W, b).relu_()

    try:
        op = torch.ops.mkldnn._linear_pointwise
        z, W, b = (torch.randn(64, 16).bfloat16(), torch.randn(8, 16).bfloat16(), torch.randn(8).bfloat16())
        if torch.equal(op(z, W, b, "relu", [], ""), plain(z, W, b)):
            return lambda z, W, b: op(z, W, b, "relu", [], "")
    except (AttributeError, RuntimeError):
        pass
    return plain


class FusedQuery:
    """Queries of a VR module against a split table ([amp | dy | dx], bf16) on the CPU.

    ``chunk`` pixels per kernel call + GEMMs: their bf16 basis (chunk x 4 x amp) and hidden
    activations stay in the L2 cache."""

    def __init__(self, vr: nn.Module, chunk: int = 2048):
        if _load() is None:
            raise RuntimeError(f"fused ResVR kernel unavailable ({_error})")
        self.a2 = vr.amp // 2
        self.chunk = chunk
        self.wp = (vr.h_p.weight.detach().float() * math.pi).contiguous()          # (a/2, 10)
        lin = [m for m in vr.decoder if isinstance(m, nn.Linear)]
        self.hidden = [(m.weight.detach().to(torch.bfloat16).contiguous(), m.bias.detach().to(torch.bfloat16))
                       for m in lin[:-1]]
        self.last = (lin[-1].weight.detach().float(), lin[-1].bias.detach().float())
        self._buf: dict = {}
        self._linear_relu = _linear_relu_op()

    def _buffers(self, n: int):
        b = self._buf
        if b.get("n", 0) < n:
            b.update(n=n, basis=torch.empty(n * 4, 2 * self.a2, dtype=torch.bfloat16),
                     wts=torch.empty(n, 4), skip=torch.empty(n, 3))
        return b["basis"][:n * 4], b["wts"][:n], b["skip"][:n]

    @torch.no_grad()
    def __call__(self, table: torch.Tensor, rgb: torch.Tensor, h: int, w: int, x: torch.Tensor, y: torch.Tensor,
                 shape: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """table (h*w, 2*amp) bf16, rgb (h*w, 3) uint8, x/y (N,) float32 LR coords, shape (N, 10)
        float32 -> ``out`` (N, 3) float32 (not clamped)."""
        assert table.dtype == torch.bfloat16 and rgb.dtype == torch.uint8 and table.is_contiguous()
        x, y, shape = x.contiguous().float(), y.contiguous().float(), shape.contiguous().float()
        nt = torch.get_num_threads()
        f = _lib.resvr_basis
        for q0 in range(0, x.shape[0], self.chunk):
            q1 = min(x.shape[0], q0 + self.chunk)
            n = q1 - q0
            basis, wts, skip = self._buffers(n)
            f(table.data_ptr(), rgb.data_ptr(), h, w, self.a2, x[q0:].data_ptr(), y[q0:].data_ptr(),
              shape[q0:].data_ptr(), self.wp.data_ptr(), n, basis.data_ptr(), wts.data_ptr(), skip.data_ptr(), nt)
            z = basis
            for W, b in self.hidden:
                z = self._linear_relu(z, W, b)
            z = (z.view(n, 4, -1) * wts.view(n, 4, 1)).sum(1)        # sum_k w_k h_k (float32)
            torch.addmm(self.last[1], z, self.last[0].T, out=out[q0:q1])
            out[q0:q1] += skip
        return out


def pack_amx(W: torch.Tensor) -> torch.Tensor:
    """A Linear's weight (N, K) as the B operand of AMX bf16 tile products: [K/32][N/16] tiles of
    16 rows (k pairs) x 16 columns (n) x 2 (the pair), bf16 (also vdpbf16ps's operand layout)."""
    N, K = W.shape
    t = W.detach().float().T.reshape(K // 32, 16, 2, N // 16, 16)      # [kt, r, j, nt, n]
    return t.permute(0, 3, 1, 4, 2).contiguous().to(torch.bfloat16)


class FusedView:
    """A whole viewport in one call of ``resvr_view`` (vr_kernel.c): back-map, pixel shapes,
    per-neighbour chain, bf16 hidden layers (AMX or AVX512-BF16), blend, last layer, skip, clamp; no tensors
    per chunk and no Python per chunk. For VR modules whose amp and hidden width are multiples
    of 32, hidden <= 96, amp <= 256 (``supports``)."""

    band = 8    # viewport rows per work item (a thread back-maps band + 2 rows)

    @staticmethod
    def supports(vr: nn.Module) -> bool:
        lin = [m for m in vr.decoder if isinstance(m, nn.Linear)]
        hid = lin[0].out_features
        return (view_isa() is not None and vr.amp % 32 == 0 and vr.amp <= 256 and hid % 32 == 0 and hid <= 96
                and len(lin) >= 2 and all(m.out_features == hid for m in lin[:-1]) and lin[-1].out_features == 3)

    def __init__(self, vr: nn.Module):
        if not self.supports(vr):
            raise RuntimeError("the whole-view kernel does not support this VR module or machine")
        lin = [m for m in vr.decoder if isinstance(m, nn.Linear)]
        self.amp, self.hid, self.nl = vr.amp, lin[0].out_features, len(lin) - 1
        self.wpT = (vr.h_p.weight.detach().float() * math.pi).T.contiguous()          # (10, a/2)
        self.Bp = torch.cat([pack_amx(m.weight).flatten() for m in lin[:-1]])
        self.bias = torch.cat([m.bias.detach().float() for m in lin[:-1]]).contiguous()
        self.W3 = lin[-1].weight.detach().float().contiguous()
        self.b3 = lin[-1].bias.detach().float().contiguous()

    @staticmethod
    def _geo(view) -> torch.Tensor:
        from ..geometry import _rotation

        R = _rotation(view, dtype=torch.float64).flatten()
        proj = ("rectilinear", "stereographic", "fisheye").index(view.projection)
        return torch.cat((R, torch.tensor([view.fx, view.fy, proj], dtype=torch.float64))).contiguous()

    @staticmethod
    def needed_tiles(view, h: int, w: int, kind: str, tile: tuple[int, int], ntiles: tuple[int, int]) -> torch.Tensor:
        """bool (tile rows, tile cols): the table tiles whose LR pixels the view's lookups touch."""
        need = torch.zeros(ntiles, dtype=torch.uint8)
        geo = FusedView._geo(view)
        _lib.resvr_view_tiles(geo.data_ptr(), view.width, view.height, h, w, 0 if kind == "ssr" else 1,
                              tile[0], tile[1], ntiles[1], need.data_ptr(), torch.get_num_threads())
        return need.bool()

    @staticmethod
    def geometry(view, h: int, w: int, kind: str, rows: tuple[int, int] | None = None):
        """The kernel's geometry of viewport rows [r0, r1) (for tests): lookup coordinates x, y
        (r1-r0, width) float32 and pixel shapes (r1-r0, width, 10) float32."""
        r0, r1 = rows or (0, view.height)
        x, y = torch.empty(r1 - r0, view.width), torch.empty(r1 - r0, view.width)
        s = torch.empty(r1 - r0, view.width, 10)
        geo = FusedView._geo(view)
        _lib.resvr_view_geometry(geo.data_ptr(), view.width, view.height, h, w,
                                 0 if kind == "ssr" else 1, r0, r1, x.data_ptr(), y.data_ptr(), s.data_ptr())
        return x, y, s

    @torch.no_grad()
    def render(self, table: torch.Tensor, rgb: torch.Tensor, h: int, w: int, view, kind: str,
               out: torch.Tensor | None = None) -> torch.Tensor:
        """table (h*w, 2*amp) bf16 [amp | dy | dx], rgb (h*w, 3) uint8 -> (view.height, view.width,
        3) float32 in [0, 1]."""
        assert table.dtype == torch.bfloat16 and rgb.dtype == torch.uint8 and table.is_contiguous()
        assert table.shape == (h * w, 2 * self.amp) and rgb.is_contiguous()
        if out is None:
            out = torch.empty(view.height, view.width, 3)
        geo = self._geo(view)
        r = _lib.resvr_view(geo.data_ptr(), view.width, view.height, 0 if kind == "ssr" else 1, table.data_ptr(),
                            rgb.data_ptr(), h, w, self.amp, self.wpT.data_ptr(), self.nl, self.hid,
                            self.Bp.data_ptr(), self.bias.data_ptr(), self.W3.data_ptr(), self.b3.data_ptr(),
                            out.data_ptr(), self.band, torch.get_num_threads(), _isa)
        if r:
            raise RuntimeError("resvr_view: unsupported shape")
        return out
