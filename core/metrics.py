"""Image quality metrics: PSNR, WS-PSNR (ERP), SSIM (kornia), LPIPS (lazy), bpp.

Inputs: torch tensors in [0, 1] shaped (C, H, W) or (B, C, H, W), or numpy arrays (H, W, 3)
(uint8 is scaled by 1/255, float is taken as [0, 1]). The data range is 1.

Return type: a Python float for an unbatched input ((C, H, W) tensor or (H, W, C) array) and a
(B,) float64 tensor for a batched (B, C, H, W) input.

* PSNR = 10 log10(1 / MSE), MSE over all channels and pixels (computed in float64); inf when equal.
* WS-PSNR (Sun et al. 2017) weights ERP row v by cos(lat) of its centre,
  lat = (1/2 - (v + 1/2)/H) * pi (docs/design.md geometry convention); it equals PSNR when the error
  is the same on every row.
* SSIM: ``kornia.metrics.ssim`` with an 11x11 Gaussian window (sigma 1.5), ``padding='valid'``
  (no border artefacts, as in the reference implementation), on RGB, averaged over channels
  and pixels.
* LPIPS: :class:`LPIPSMetric` loads ``lpips.LPIPS(net='alex')`` lazily on first use. The AlexNet
  ImageNet weights are downloaded by torchvision on the first use on a machine with internet; when
  that fails (offline) the metric reports itself unavailable with the reason and returns None,
  never raising. A ready module (e.g. ``lpips.LPIPS(pnet_rand=True, pretrained=False)``, random
  weights, for plumbing tests) can be injected.
* bpp = file bytes * 8 / (HR width * HR height).
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import warnings

import numpy as np
import torch

from .device import pick_device

__all__ = ["psnr", "ws_psnr", "ws_psnr_u8", "ssim", "bpp", "erp_row_weights", "LPIPSMetric", "lpips_distance", "as_batch"]


def as_batch(x) -> tuple[torch.Tensor, bool]:
    """-> ((B, C, H, W) float tensor in [0, 1], was_batched)."""
    if isinstance(x, np.ndarray):
        if x.ndim == 2:
            x = x[..., None]
        if x.ndim != 3:
            raise ValueError(f"numpy images must be (H, W[, C]), got {x.shape}")
        a = np.ascontiguousarray(x)
        if not a.flags.writeable:  # a shared, read-only result (the viewer's result cache): torch
            a = a.copy()           # warns on, and must not wrap, a buffer it cannot write
        t = torch.from_numpy(a)
        t = t.double() / 255.0 if x.dtype == np.uint8 else (t if t.is_floating_point() else t.double())
        return t.permute(2, 0, 1)[None], False
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a numpy array or a torch tensor, got {type(x).__name__}")
    t = x.float() / 255.0 if x.dtype == torch.uint8 else x
    if not t.is_floating_point():
        t = t.float()
    if t.dim() == 3:
        return t[None], False
    if t.dim() == 4:
        return t, True
    raise ValueError(f"tensors must be (C, H, W) or (B, C, H, W), got {tuple(t.shape)}")


def _pair(a, b):
    ta, ba = as_batch(a)
    tb, bb = as_batch(b)
    if ta.shape != tb.shape:
        raise ValueError(f"images differ in shape: {tuple(ta.shape)} vs {tuple(tb.shape)}")
    tb = tb.to(ta.device)
    return ta, tb, ba or bb


def _out(v: torch.Tensor, batched: bool):
    return v if batched else float(v[0])


def _mse_to_psnr(mse: torch.Tensor) -> torch.Tensor:
    return torch.where(mse > 0, 10.0 * torch.log10(1.0 / mse.clamp_min(1e-300)), torch.full_like(mse, math.inf))


def psnr(a, b):
    """PSNR in dB for data range 1 (float, or a (B,) tensor for batched input)."""
    ta, tb, batched = _pair(a, b)
    mse = ((ta.double() - tb.double()) ** 2).flatten(1).mean(1)
    return _out(_mse_to_psnr(mse), batched)


def erp_row_weights(H: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """cos(latitude of each ERP row centre), shape (H,)."""
    v = torch.arange(H, dtype=dtype, device=device)
    return torch.cos((0.5 - (v + 0.5) / H) * math.pi)


def ws_psnr(a, b):
    """WS-PSNR in dB of two ERP images (rows weighted by cos(latitude))."""
    ta, tb, batched = _pair(a, b)
    w = erp_row_weights(ta.shape[-2], device=ta.device)[:, None]  # (H, 1)
    err = (ta.double() - tb.double()) ** 2  # (B, C, H, W)
    wmse = (err * w).sum(dim=(1, 2, 3)) / (w.sum() * ta.shape[1] * ta.shape[-1])
    return _out(_mse_to_psnr(wmse), batched)


def ws_psnr_u8(a: torch.Tensor, b: torch.Tensor, band: int = 256) -> float:
    """WS-PSNR (dB) of two uint8 (3, H, W) ERPs, accumulated in row bands (no full float copy).
    Equals :func:`ws_psnr` on the same images (for full-size panoramas: no float copy of them)."""
    H, W = a.shape[-2:]
    w = erp_row_weights(H)
    num = 0.0
    for r0 in range(0, H, band):
        r1 = min(H, r0 + band)
        d = a[:, r0:r1].double() - b[:, r0:r1].double().to(a.device)
        num += float(((d / 255.0) ** 2).sum(dim=(0, 2)).cpu() @ w[r0:r1])
    wmse = num / (float(w.sum()) * a.shape[0] * W)
    return math.inf if wmse == 0 else 10.0 * math.log10(1.0 / wmse)


def ssim(a, b, window_size: int = 11):
    """SSIM (kornia, Gaussian window 11, sigma 1.5, valid padding), mean over channels and pixels."""
    import kornia

    ta, tb, batched = _pair(a, b)
    if min(ta.shape[-2:]) < window_size:
        raise ValueError(f"SSIM needs images of at least {window_size}x{window_size} pixels")
    m = kornia.metrics.ssim(ta.float(), tb.float(), window_size, max_val=1.0, padding="valid")
    return _out(m.flatten(1).mean(1).double(), batched)


def bpp(path, hr_w: int, hr_h: int) -> float:
    """Bits per HR pixel: file bytes * 8 / (hr_w * hr_h)."""
    if hr_w <= 0 or hr_h <= 0:
        raise ValueError(f"HR size must be positive, got {hr_w}x{hr_h}")
    return os.path.getsize(path) * 8.0 / (int(hr_w) * int(hr_h))


class LPIPSMetric:
    """Lazily loaded LPIPS (AlexNet). ``available`` / ``reason`` say whether it can run here.

    ``LPIPSMetric(model=lpips.LPIPS(pnet_rand=True, pretrained=False))`` injects a ready module
    (no loading at all). Calling it returns a float (or (B,) tensor), or None when unavailable.
    """

    def __init__(self, net: str = "alex", device=None, model: torch.nn.Module | None = None):
        self.net = net
        self.device = pick_device(device) if device is not None else torch.device("cpu")
        self._model = model
        self._tried = model is not None
        self.reason: str | None = None
        if model is not None:
            self._model = model.to(self.device).eval()

    def _load(self) -> None:
        self._tried = True
        try:
            import lpips

            # torchvision prints a download line and lpips/torchvision warn about deprecated args:
            # keep the user's stderr to the one line we report.
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), \
                    contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                model = lpips.LPIPS(net=self.net, verbose=False)
            self._model = model.to(self.device).eval()
        except Exception as e:  # noqa: BLE001 - offline, missing package, broken cache ...
            msg = " ".join(str(e).split()) or type(e).__name__
            self.reason = (f"LPIPS unavailable: could not load the {self.net} ImageNet weights "
                           f"({type(e).__name__}: {msg[:200]}); they are downloaded on first use and need internet")
            self._model = None

    @property
    def available(self) -> bool:
        if not self._tried:
            self._load()
        return self._model is not None

    def __call__(self, a, b):
        if not self.available:
            return None
        ta, tb, batched = _pair(a, b)
        with torch.no_grad():
            d = self._model(ta.float().to(self.device), tb.float().to(self.device), normalize=True)
        return _out(d.flatten(1).mean(1).double().cpu(), batched)


_DEFAULT: LPIPSMetric | None = None


def lpips_distance(a, b, metric: LPIPSMetric | None = None):
    """LPIPS distance with a shared lazily-loaded default metric; None when unavailable."""
    global _DEFAULT
    if metric is None:
        if _DEFAULT is None:
            _DEFAULT = LPIPSMetric()
        metric = _DEFAULT
    return metric(a, b)
