"""DINN360 (Guo, Xu, Jiang, Sigal, Chen, CVPR 2023): a deformable invertible network for
latitude-aware 360-degree image rescaling, re-implemented at a size one CPU core can train.

There is no public code; the poster (``../shared/papers/dinn360_cvpr2023_poster.txt``) and its
base IRN (Xiao et al., ECCV 2020) are all there is. What the poster states is implemented as
stated; everything else is an assumption, listed here.

Pipeline (poster, "Method"):

1. **Deformable downscaling** ``I_D``: x -> [y; h]. Two stages, each a Haar transform (IRN's fixed
   2x2 grouped convolution, /4, so the first three channels are the box average) followed by
   ``blocks`` invertible deformable (ID) blocks. ID block = IRN's affine coupling
   (``y1 = x1 + F(x2)``, ``y2 = x2 * exp(clamp * (2 sigmoid(H(y1)) - 1)) + G(y1)``, split 3 / rest,
   clamp 1) whose functions F, G, H are residual sub-networks built from a 3x3 convolution, a
   deformable 3x3 convolution (``torchvision.ops.deform_conv2d``, offsets from a zero-initialised
   3x3 convolution, so an untrained block is a plain convolution) and, in the second stage, a
   deformable attention module. After both stages the first 3 channels are the LR image y, the
   other 45 the high-frequency part h.
2. **Latitude-aware HF projection** ``I_P``: [y; h] -> z, invertible in h given a condition
   ``c = [c_con, c_lat] = G_SC(y)``: a content head (two 3x3 convolutions on y) and a latitude
   head (an MLP of (sin, cos) of each LR row's latitude, broadcast along the row, plus the
   content features modulated by it). ``I_P`` is ``proj_blocks`` conditional affine couplings on
   h split in two halves, each function seeing its half and c.
3. **Reverse upscaling**: ``h~ = I_P^-1(z~, c)``, ``x = I_D^-1([y; h~])``, the exact inverses.

Deformable attention (poster, "DST module", assumption at CPU size): one head, no Swin windows.
Each pixel has K = 4 reference points (its 2x2 neighbourhood offsets (+-1, +-1) LR pixels); a
scale head (per pixel, exp of a zero-initialised 1x1 convolution) scales them and an offset head
(zero-initialised 1x1 convolution, 2K channels) shifts them; keys and values are bilinearly
sampled at the deformed points, weighted by softmax(q . k / sqrt(d)) over the K points,
projected and added to the input (a residual whose output projection starts at zero).

Backflow training (poster, Algorithm 1), as far as it is stated: ``y, h = I_D(x^)``,
``c = G_SC(y)``; while ``step < backflow_iters``: ``h = alpha * I_P^-1(z~, c) + (1 - alpha) * h``;
``z = I_P(h, c)``; ``h~ = I_P^-1(z~, c)``; ``x = I_D^-1(y, h~)``; loss
``lambda_H l1(x, x^) + lambda_L l2(y, y^) + lambda_z l2(z, z~)`` with y^ the bicubic LR.
Assumptions: the poster names ``I_D(h, c)`` in step 9, which we read as ``I_P(h, c)`` (the
projection; I_D takes no condition). z~ ~ N(0, z_std^2) per iteration (IRN's Gaussian latent),
z~ = 0 at inference (its mode). IRN's z_std = 1 assumes unit-scale HF channels; ours keep the
Haar /4 scale (HF std ~0.01-0.03) and the projection's couplings can shrink by e^-2 at most, so
the config uses z_std = 0.01 (with 1.0 the first iterations' HR L1 was ~3). alpha (the "feedback ratio") and the number of backflow steps
are not given; they are config values (``train.backflow_alpha``, ``train.backflow_iters``).
Losses are means (IRN's sums divide out to lambda_H = lambda_L = 1 in mean terms).

**JPEG in the loop** (this project, not the poster): the LR image is stored as a real baseline
JPEG at the target bpp (4:4:4, IJG tables, quality by bisection; :mod:`core.encode`). Training
therefore decodes ``x`` from a simulated JPEG of y: y rounded to 8 bits, the project's
differentiable JPEG (:mod:`core.jpeg.transforms`: JFIF colour, 8x8 DCT, IJG tables at a quality
drawn uniformly from ``train.jpeg_quality``, coefficients rounded with a straight-through
estimator, so the forward pass is the real quantisation), decoded and rounded to 8 bits again.
With probability ``train.nojpeg_prob`` an iteration skips the JPEG (8-bit rounding only), so the
same weights also serve the plain rescaling task the poster evaluates. The condition c is
computed from the decoded LR, as the decoder sees it.

CPU size (assumption): 2 + 2 ID blocks with 16-channel sub-networks (deformable attention in
stage 2 only, 16 channels), 2 projection blocks with 24-channel functions, 16-channel condition;
~0.1 M parameters against the paper's IRN-sized network. Everything runs in float32 (an INN
inverts to float precision only without reduced-precision autocast).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..jpeg.tables import quality_tables
from ..jpeg.transforms import coeff_maps, maps_to_rgb, ste_round, to_zigzag
from .downsampler import bicubic_down


# ----------------------------------------------------------------------------- Haar
class Haar(nn.Module):
    """IRN's Haar step: (B, C, H, W) -> (B, 4C, H/2, W/2) = [averages of the C channels, then
    the three difference bands of each]; exactly invertible (:meth:`inverse`)."""

    def __init__(self, channels: int):
        super().__init__()
        w = torch.tensor([[[1.0, 1.0], [1.0, 1.0]], [[1.0, -1.0], [1.0, -1.0]],
                          [[1.0, 1.0], [-1.0, -1.0]], [[1.0, -1.0], [-1.0, 1.0]]])
        self.c = channels
        self.register_buffer("w", w[:, None].repeat(channels, 1, 1, 1), persistent=False)   # (4C, 1, 2, 2)

    def forward(self, x):
        B, C, H, W = x.shape
        o = F.conv2d(x.contiguous(), self.w, stride=2, groups=C) / 4.0        # (B, C*4, h, w) c-major
        return o.reshape(B, C, 4, H // 2, W // 2).transpose(1, 2).reshape(B, 4 * C, H // 2, W // 2)

    def inverse(self, o):
        B, C4, h, w = o.shape
        C = C4 // 4
        o = o.reshape(B, 4, C, h, w).transpose(1, 2).reshape(B, C4, h, w)
        return F.conv_transpose2d(o, self.w, stride=2, groups=C)


# ----------------------------------------------------------------------------- deformable parts
def deform_conv_sampled(x, offset, weight, bias):
    """3x3 deformable convolution (stride 1, padding 1), the arithmetic of
    ``torchvision.ops.deform_conv2d`` (offset channels (dy, dx) per kernel tap in row-major
    order; bilinear sampling, zero outside the image) written as one ``grid_sample`` of the nine
    tap positions and a matrix product. Used in training: torchvision's CPU backward takes
    ~230 ms per call at a (8, 16, 32, 32) input (measured), this one a small fraction of that."""
    B, C, H, W = x.shape
    off = offset.view(B, 9, 2, H, W)
    ky, kx = torch.meshgrid(torch.arange(-1, 2, device=x.device, dtype=x.dtype),
                            torch.arange(-1, 2, device=x.device, dtype=x.dtype), indexing="ij")
    gy = torch.arange(H, device=x.device, dtype=x.dtype).view(1, 1, H, 1)
    gx = torch.arange(W, device=x.device, dtype=x.dtype).view(1, 1, 1, W)
    py = gy + ky.reshape(1, 9, 1, 1) + off[:, :, 0]                                   # (B, 9, H, W)
    px = gx + kx.reshape(1, 9, 1, 1) + off[:, :, 1]
    grid = torch.stack((2 * px / max(W - 1, 1) - 1, 2 * py / max(H - 1, 1) - 1), -1)  # align_corners=True
    smp = F.grid_sample(x, grid.view(B, 9 * H, W, 2), mode="bilinear", padding_mode="zeros",
                        align_corners=True).view(B, C, 9, H, W)
    out = torch.einsum("bckhw,ock->bohw", smp, weight.flatten(2))
    return out + bias.view(1, -1, 1, 1)


def deform_conv_taps(x, offset, weight, bias):
    """The same arithmetic as :func:`deform_conv_sampled`, one kernel tap at a time (a
    ``grid_sample`` and a 1x1 product per tap, accumulated): for inference, where it needs a ninth
    of the memory and runs 1-3x faster than torchvision's CPU kernel (measured at (1, 16, 128, 520):
    92 ms against 318 ms, one thread)."""
    B, C, H, W = x.shape
    off = offset.view(B, 9, 2, H, W)
    gy = torch.arange(H, device=x.device, dtype=x.dtype).view(1, H, 1)
    gx = torch.arange(W, device=x.device, dtype=x.dtype).view(1, 1, W)
    sy, sx = 2 / max(H - 1, 1), 2 / max(W - 1, 1)
    out = bias.view(1, -1, 1, 1).expand(B, -1, H, W).clone()
    wt = weight.flatten(2)
    for k in range(9):
        ky, kx = k // 3 - 1, k % 3 - 1
        grid = torch.stack(((gx + kx + off[:, k, 1]) * sx - 1, (gy + ky + off[:, k, 0]) * sy - 1), -1)
        smp = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        out += torch.einsum("bchw,oc->bohw", smp, wt[:, :, k])
    return out


class DeformConv(nn.Module):
    """3x3 deformable convolution (DCNv1); its offsets come from a zero-initialised 3x3
    convolution, so at initialisation it is the plain convolution. Its arithmetic is that of
    ``torchvision.ops.deform_conv2d`` (``impl = "torchvision"`` runs it), computed by default with
    ``grid_sample``: :func:`deform_conv_sampled` in training (its backward is far faster on the CPU
    than torchvision's), :func:`deform_conv_taps` in inference (less memory, faster). Tests check
    all three agree."""

    impl = "sampled"

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.offset = nn.Conv2d(cin, 18, 3, 1, 1)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)

    def forward(self, x, offset=None):
        if offset is None:
            offset = self.offset(x)
        if self.impl == "torchvision":
            # imported here: importing torchvision costs ~2 s (it pulls in torch._dynamo), and
            # neither inference nor training needs it
            from torchvision.ops import deform_conv2d

            return deform_conv2d(x, offset, self.weight, self.bias, padding=(1, 1))
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            return deform_conv_sampled(x, offset, self.weight, self.bias)
        return deform_conv_taps(x, offset, self.weight, self.bias)


class DeformAttention(nn.Module):
    """Single-head deformable attention over K scaled-and-shifted reference points (see module doc)."""

    REF = ((-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0))

    def __init__(self, ch: int):
        super().__init__()
        k = len(self.REF)
        self.q = nn.Conv2d(ch, ch, 1)
        self.kv = nn.Conv2d(ch, 2 * ch, 1)
        self.scale_head = nn.Conv2d(ch, 1, 1)
        self.offset_head = nn.Conv2d(ch, 2 * k, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        for m in (self.scale_head, self.offset_head, self.proj):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        self.register_buffer("ref", torch.tensor(self.REF), persistent=False)   # (K, 2) (dx, dy)

    def forward(self, x):
        B, C, H, W = x.shape
        K = self.ref.shape[0]
        s = torch.exp(self.scale_head(x).clamp(-3, 3))                               # (B, 1, H, W)
        off = self.offset_head(x).view(B, K, 2, H, W)
        gy, gx = torch.meshgrid(torch.arange(H, device=x.device, dtype=x.dtype),
                                torch.arange(W, device=x.device, dtype=x.dtype), indexing="ij")
        px = gx + self.ref[:, 0].view(1, K, 1, 1) * s + off[:, :, 0]                  # (B, K, H, W)
        py = gy + self.ref[:, 1].view(1, K, 1, 1) * s + off[:, :, 1]
        grid = torch.stack(((2 * px + 1) / W - 1, (2 * py + 1) / H - 1), -1)         # align_corners=False
        kv = self.kv(x)
        smp = F.grid_sample(kv, grid.view(B, K * H, W, 2), mode="bilinear", padding_mode="border",
                            align_corners=False).view(B, 2 * C, K, H, W)
        k, v = smp[:, :C], smp[:, C:]
        q = self.q(x)
        a = torch.softmax((q[:, :, None] * k).sum(1) / math.sqrt(C), dim=1)          # (B, K, H, W)
        return x + self.proj((a[:, None] * v).sum(2))


class SubNet(nn.Module):
    """A coupling function: conv -> LReLU -> deformable conv -> LReLU (-> deformable attention)
    -> conv; the last convolution starts at zero (an untrained block is the identity)."""

    def __init__(self, cin: int, cout: int, feat: int, attention: bool):
        super().__init__()
        self.head = nn.Conv2d(cin, feat, 3, 1, 1)
        self.dconv = DeformConv(feat, feat)
        self.attn = DeformAttention(feat) if attention else None
        self.tail = nn.Conv2d(feat, cout, 3, 1, 1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x):
        f = F.leaky_relu(self.head(x), 0.2)
        f = F.leaky_relu(f + self.dconv(f), 0.2)
        if self.attn is not None:
            f = self.attn(f)
        return self.tail(f)


class IDBlock(nn.Module):
    """Invertible deformable block: IRN's affine coupling with deformable functions."""

    def __init__(self, channels: int, split: int, feat: int, attention: bool, clamp: float = 1.0):
        super().__init__()
        self.s1, self.s2, self.clamp = split, channels - split, clamp
        self.F = SubNet(self.s2, self.s1, feat, attention)
        self.G = SubNet(self.s1, self.s2, feat, attention)
        self.H = SubNet(self.s1, self.s2, feat, attention)

    def _s(self, y1):
        return self.clamp * (torch.sigmoid(self.H(y1)) * 2 - 1)

    def forward(self, x):
        x1, x2 = x[:, :self.s1], x[:, self.s1:]
        y1 = x1 + self.F(x2)
        y2 = x2 * torch.exp(self._s(y1)) + self.G(y1)
        return torch.cat((y1, y2), 1)

    def inverse(self, y):
        y1, y2 = y[:, :self.s1], y[:, self.s1:]
        x2 = (y2 - self.G(y1)) * torch.exp(-self._s(y1))
        x1 = y1 - self.F(x2)
        return torch.cat((x1, x2), 1)


# ----------------------------------------------------------------------------- latitude-aware projection
def row_latitudes(rows: torch.Tensor, erp_h: int) -> torch.Tensor:
    """Latitude (radians) of ERP pixel-row centres ``rows`` (any float tensor) of an ERP ``erp_h`` high."""
    return (0.5 - (rows + 0.5) / erp_h) * math.pi


class Condition(nn.Module):
    """G_SC: y (B, 3, h, w) and the latitude of each LR row (B, h) -> c (B, 2 * feat, h, w)
    = [c_con, c_lat]: content features, and latitude features that also modulate them."""

    def __init__(self, feat: int):
        super().__init__()
        self.content = nn.Sequential(nn.Conv2d(3, feat, 3, 1, 1), nn.LeakyReLU(0.2, True), nn.Conv2d(feat, feat, 3, 1, 1))
        self.lat = nn.Sequential(nn.Linear(2, feat), nn.LeakyReLU(0.2, True), nn.Linear(feat, 2 * feat))
        self.feat = feat

    def forward(self, y, lat):
        c_con = self.content((y - 0.5) / 0.5)
        e = self.lat(torch.stack((torch.sin(lat), torch.cos(lat)), -1))             # (B, h, 2f)
        e = e.permute(0, 2, 1)[..., None]                                            # (B, 2f, h, 1)
        gain, c_lat = e[:, :self.feat], e[:, self.feat:]
        return torch.cat((c_con * (1 + gain), c_lat.expand(-1, -1, -1, y.shape[-1])), 1)


class CondCoupling(nn.Module):
    """Conditional affine coupling on h: each half is scaled and shifted by a function of the
    other half and the condition c (IP block)."""

    def __init__(self, channels: int, cond: int, feat: int, clamp: float = 1.0):
        super().__init__()
        self.a = channels // 2
        self.b = channels - self.a
        self.clamp = clamp

        def net(cin, cout):
            m = nn.Sequential(nn.Conv2d(cin + cond, feat, 3, 1, 1), nn.LeakyReLU(0.2, True),
                              nn.Conv2d(feat, feat, 3, 1, 1), nn.LeakyReLU(0.2, True), nn.Conv2d(feat, 2 * cout, 3, 1, 1))
            nn.init.zeros_(m[-1].weight)
            nn.init.zeros_(m[-1].bias)
            return m

        self.f1, self.f2 = net(self.a, self.b), net(self.b, self.a)

    def _st(self, net, u, c):
        s, t = net(torch.cat((u, c), 1)).chunk(2, 1)
        return self.clamp * torch.tanh(s), t

    def forward(self, h, c):
        h1, h2 = h[:, :self.a], h[:, self.a:]
        s, t = self._st(self.f1, h1, c)
        h2 = h2 * torch.exp(s) + t
        s, t = self._st(self.f2, h2, c)
        h1 = h1 * torch.exp(s) + t
        return torch.cat((h1, h2), 1)

    def inverse(self, z, c):
        h1, h2 = z[:, :self.a], z[:, self.a:]
        s, t = self._st(self.f2, h2, c)
        h1 = (h1 - t) * torch.exp(-s)
        s, t = self._st(self.f1, h1, c)
        h2 = (h2 - t) * torch.exp(-s)
        return torch.cat((h1, h2), 1)


# ----------------------------------------------------------------------------- JPEG simulation
def round8(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to 8 bits (straight-through gradient)."""
    return ste_round(x.clamp(0, 1) * 255.0) / 255.0


def simulate_jpeg(y: torch.Tensor, quality) -> torch.Tensor:
    """Differentiable baseline JPEG (4:4:4, IJG tables at ``quality``, one value or one per image)
    of y (B, 3, h, w) in [0, 1], h and w multiples of 8: 8-bit input, rounded coefficients
    (straight-through), decoded, clamped and rounded to 8 bits."""
    with torch.autocast(y.device.type, enabled=False):
        y = round8(y.float())
        maps = coeff_maps(y)                                                         # (B, 3, 64, h/8, w/8)
        qs = [float(quality)] * y.shape[0] if not isinstance(quality, (list, tuple)) else list(quality)
        t = torch.stack([to_zigzag(quality_tables(q)) for q in qs]).to(y.device)      # (B, 2, 64)
        t = t[:, [0, 1, 1], :, None, None]
        return round8(maps_to_rgb(ste_round(maps / t) * t))


# ----------------------------------------------------------------------------- the network
class DINN360(nn.Module):
    kind = "dinn360"

    def __init__(self, cfg: dict, entropy: bool = True):   # (no entropy models: ``entropy`` changes nothing)
        super().__init__()
        self.cfg = cfg
        d = cfg.get("dinn", {})
        self.scale = int(cfg.get("scale", 4))
        if self.scale != 4:
            raise ValueError("DINN360 is built for x4 (two Haar stages)")
        feat, blocks = int(d.get("feat", 16)), int(d.get("blocks", 2))
        cond, pfeat = int(d.get("cond_feat", 16)), int(d.get("proj_feat", 24))
        attn = bool(d.get("attention", True))
        self.haar1, self.haar2 = Haar(3), Haar(12)
        self.stage1 = nn.ModuleList(IDBlock(12, 3, feat, False) for _ in range(blocks))
        self.stage2 = nn.ModuleList(IDBlock(48, 3, feat, attn) for _ in range(blocks))
        self.cond = Condition(cond)
        self.proj = nn.ModuleList(CondCoupling(45, 2 * cond, pfeat) for _ in range(int(d.get("proj_blocks", 2))))

    multiple = 32   # HR sides: x4 and whole 8x8 JPEG blocks of the LR image

    # I_D and its inverse
    def down(self, x: torch.Tensor):
        """HR (B, 3, H, W) -> (y (B, 3, H/4, W/4), h (B, 45, H/4, W/4))."""
        u = self.haar1(x)
        for b in self.stage1:
            u = b(u)
        u = self.haar2(u)
        for b in self.stage2:
            u = b(u)
        return u[:, :3], u[:, 3:]

    def up(self, y: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        u = torch.cat((y, h), 1)
        for b in reversed(self.stage2):
            u = b.inverse(u)
        u = self.haar2.inverse(u)
        for b in reversed(self.stage1):
            u = b.inverse(u)
        return self.haar1.inverse(u)

    # I_P and its inverse
    def project(self, h, c):
        for b in self.proj:
            h = b(h, c)
        return h

    def unproject(self, z, c):
        for b in reversed(self.proj):
            z = b.inverse(z, c)
        return z

    @staticmethod
    def lr_latitudes(lat_hr: torch.Tensor) -> torch.Tensor:
        """(B, H) HR row latitudes -> (B, H/4) LR row latitudes (the mean of each 4 rows: the LR
        row centre, latitude being linear in the row)."""
        return lat_hr.unflatten(-1, (-1, 4)).mean(-1)

    def upscale(self, y: torch.Tensor, lat_lr: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Reverse upscaling of a decoded LR image y (B, 3, h, w) with LR row latitudes (B, h);
        z defaults to 0 (the latent's mode)."""
        c = self.cond(y, lat_lr)
        if z is None:
            z = y.new_zeros(y.shape[0], 45, *y.shape[-2:])
        return self.up(y, self.unproject(z, c))

    def forward(self, batch: dict, quality: float | None = -1, z_std: float = 0.0) -> dict:
        """Evaluation graph on a batch: HR -> LR -> (JPEG at ``quality``, by default the config's
        ``dinn.eval_quality``; None: 8-bit rounding only) -> HR with z~ = 0 (or N(0, z_std^2))."""
        if quality == -1:
            quality = self.cfg.get("dinn", {}).get("eval_quality", 85)
        hr = batch["hr"].float().contiguous()
        lat = self.lr_latitudes(batch["lat"])
        y, h = self.down(hr)
        y_hat = simulate_jpeg(y, quality) if quality else round8(y)
        c = self.cond(y_hat, lat)
        z = self.project(h, c)
        zt = torch.randn_like(z) * z_std if z_std else torch.zeros_like(z)
        x = self.up(y_hat, self.unproject(zt, c))
        return {"lr": y, "lr_hat": y_hat, "z": z, "z_tilde": zt, "hr_hat": x, "bpp": hr.new_zeros(())}

    def training_losses(self, batch: dict, tc: dict, it: int) -> dict:
        """Algorithm 1 (backflow) with the JPEG simulation; keys as the loop logs them."""
        hr = batch["hr"].float().contiguous()
        lat = self.lr_latitudes(batch["lat"])
        B = hr.shape[0]
        y, h = self.down(hr)
        lo, hi = tc.get("jpeg_quality", [70, 95])
        use = torch.rand(B) >= float(tc.get("nojpeg_prob", 0.2))
        qs = (lo + (hi - lo) * torch.rand(B)).tolist()
        y_j = simulate_jpeg(y, qs)
        y_hat = torch.where(use.view(B, 1, 1, 1).to(y.device), y_j, round8(y))
        c = self.cond(y_hat, lat)
        zt = torch.randn(B, 45, *y.shape[-2:], device=y.device) * float(tc.get("z_std", 1.0))
        if it < int(tc.get("backflow_iters", 0)):
            a = float(tc.get("backflow_alpha", 0.5))
            h = a * self.unproject(zt, c) + (1 - a) * h
        z = self.project(h, c)
        x = self.up(y_hat, self.unproject(zt, c))
        pix = F.l1_loss(x, hr)
        guide = F.mse_loss(y, bicubic_down(hr, self.scale))
        zl = F.mse_loss(z, zt)
        total = tc.get("lambda_hr", 1.0) * pix + tc.get("lambda_lr", 1.0) * guide + tc.get("lambda_z", 1.0) * zl
        return {"loss": total, "pix": pix, "guide": guide, "bpp": zl.detach(),
                "aux": torch.tensor(sum(qs) / B), "out": {"hr_hat": x}}


# ----------------------------------------------------------------------------- full-ERP inference
@torch.no_grad()
def downscale_erp(model: DINN360, hr: torch.Tensor, pad: int = 32) -> torch.Tensor:
    """Full HR ERP (1, 3, H, W) in [0, 1], sides multiples of 32 -> LR (1, 3, H/4, W/4) in [0, 1]
    (float, not rounded). The ERP is padded circularly by ``pad`` HR columns in longitude so the
    seam is downscaled like any other column."""
    x = torch.cat((hr[..., -pad:], hr, hr[..., :pad]), -1)
    y, _ = model.down(x)
    p = pad // 4
    return y[..., p:y.shape[-1] - p].clamp(0, 1)


@torch.no_grad()
def upscale_erp(model: DINN360, lr: torch.Tensor, band_rows: int = 64, overlap: int = 8, pad: int = 8,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Decoded LR ERP (1, 3, h, w) in [0, 1] -> HR ERP (1, 3, 4h, 4w), in bands of ``band_rows`` LR
    rows with ``overlap`` rows of context each side (bounded memory), padded circularly by ``pad``
    LR columns in longitude; each band knows its rows' latitudes. ``dtype=torch.uint8`` stores each
    band rounded to 8 bits as it is made (a quarter of the float32 image's memory)."""
    _, _, h, w = lr.shape
    s = model.scale
    x = torch.cat((lr[..., -pad:], lr, lr[..., :pad]), -1)
    out = torch.empty(1, 3, h * s, w * s, device=lr.device, dtype=dtype)
    rows = torch.arange(h, device=lr.device, dtype=torch.float32)
    for r0 in range(0, h, band_rows):
        r1 = min(h, r0 + band_rows)
        e0, e1 = max(0, r0 - overlap), min(h, r1 + overlap)
        lat = row_latitudes(rows[e0:e1], h)[None]
        hr = model.upscale(x[..., e0:e1, :], lat)
        band = hr[..., (r0 - e0) * s:(r1 - e0) * s, pad * s:(pad + w) * s]
        if dtype == torch.uint8:
            band = band.clamp(0, 1).mul_(255).add_(0.5)
        out[..., r0 * s:r1 * s, :] = band
    return out
