"""Training loop for ResVR, HyperThumbnail and DINN360 (``resvr train CONFIG.yaml``).

Adam with a cosine schedule, autocast (bf16 on the CPU, fp16 on CUDA) for the networks (the
JPEG arithmetic stays float32), gradient clipping, compressai's auxiliary loss on its own
optimiser, checkpoints (latest + best on the held-out validation set) with resume, a CSV log,
tqdm progress and deterministic seeds. Under ``torchrun`` it wraps the model in
DistributedDataParallel (one process per GPU, each with its own data seed). DINN360 brings its
own loss graph (``DINN360.training_losses``: Algorithm 1 with the JPEG simulation; one process)
and its batches carry the latitude of each crop row; its log's bpp/aux columns are zloss/jpeg_q.
"""
from __future__ import annotations

import csv
import math
import os
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from tqdm import tqdm

from ..device import pick_device
from ..models.downsampler import bicubic_down
from ..models.pipelines import build_model, count_params
from ..models.weights import safe_load
from .data import ERPPool, build_pool, crop_wrap, list_images, load_rgb, load_split, synth_cubemap_erp
from .dps import collate, dps_sample


def load_config(path) -> dict:
    with open(path) as f:
        cfg = yaml.safe_load(f)
    if not isinstance(cfg, dict) or "model" not in cfg or "train" not in cfg:
        raise ValueError(f"{path}: a training config needs 'model' and 'train' sections")
    return cfg


def make_batch(pool: ERPPool, tc: dict, shape_kind: str, rng: random.Random, lat: bool = False) -> dict:
    """A batch of DPS samples; with ``lat`` also the latitude of each crop row ("lat", (B, p)),
    which the latitude-aware DINN360 needs (the samples and the random draws are the same)."""
    p, n = tc["patch"], tc["points"]
    samples, lats = [], []
    for _ in range(tc["batch"]):
        erp = pool.pick()
        a, b = pool.crop_origin(erp, p)
        samples.append(dps_sample(erp, a, b, p, n, rng, shape_kind=shape_kind))
        if lat:
            lats.append((0.5 - (torch.arange(b, b + p, dtype=torch.float32) + 0.5) / erp.shape[-2]) * math.pi)
    batch = collate(samples, n)
    if lat:
        batch["lat"] = torch.stack(lats)
    return batch


def val_batches(cfg: dict, root: Path, shape_kind: str, lat: bool = False) -> list[dict]:
    """Fixed held-out batches: synthetic panoramas from the validation photos + real val panoramas."""
    split = load_split()
    dc, tc = cfg["data"], cfg["train"]
    rng = random.Random(1234)
    erps = []
    if dc.get("photos"):
        photos = [load_rgb(p, 1280) for p in list_images(root / dc["photos"], include=split["val_photos"])]
        if len(photos) >= 6:
            erps += [synth_cubemap_erp(photos, h, rng) for h in (512, 1024)]
    if dc.get("erp_folder"):
        for p in list_images(root / dc["erp_folder"], include=split["val_panoramas"]):
            img = load_rgb(p)
            if img.shape[-2] >= 512:
                erps.append(img)
    if not erps:
        return []
    pool = ERPPool(erps, [], 0, seed=4321)
    return [make_batch(pool, tc, shape_kind, rng, lat) for _ in range(tc.get("val_batches", 4))]


def own_losses(model) -> bool:
    """Does the model bring its own loss graph (``training_losses``: DINN360's Algorithm 1 with
    the JPEG simulation; its batches carry latitudes, its log's bpp/aux columns are zloss/jpeg_q)?"""
    return hasattr(model, "training_losses")


def losses(model, batch: dict, tc: dict, it: int = 0) -> dict:
    """The training losses of a batch: the model's own (``own_losses``), else the pixel loss (on
    the DPS points where the model predicts them, ResVR; else on its HR output), the guide loss
    of its LR image and the entropy models' bpp."""
    if own_losses(model):
        return model.training_losses(batch, tc, it)
    out = model(batch)
    hr = batch["hr"]
    guide = F.mse_loss(out["lr_hat"], bicubic_down(hr, model.codec.scale))
    if "pred" in out:   # the values at the DPS points (ResVR's VR module)
        m = batch["mask"][..., None].float()
        pix = ((out["pred"] - batch["gt"]).abs() * m).sum() / (m.sum() * 3).clamp_min(1)
    else:
        pix = F.l1_loss(out["hr_hat"].float(), hr)
    total = pix + tc.get("lambda_guide", 0.6) * guide + tc.get("lambda_bpp", 0.01) * out["bpp"]
    return {"loss": total, "pix": pix, "guide": guide, "bpp": out["bpp"], "out": out}


@torch.no_grad()
def validate(model, batches: list[dict], device, amp_dtype) -> dict:
    """PSNR on the DPS points of the held-out batches, and the entropy-model bpp."""
    model.eval()
    se, cnt, bpp = 0.0, 0, 0.0
    for b in batches:
        b = {k: v.to(device) for k, v in b.items()}
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model(b)
        if "pred" in out:   # the values at the DPS points (ResVR's VR module)
            pred = out["pred"].float()
        else:
            g = b["coords"][:, None]                                        # (B, 1, N, 2)
            pred = F.grid_sample(out["hr_hat"].float(), g, mode="bicubic", align_corners=False)[:, :, 0].transpose(1, 2)
        m = b["mask"]
        se += float(((pred.clamp(0, 1) - b["gt"].clamp(0, 1)) ** 2).sum(-1)[m].sum())
        cnt += int(m.sum()) * 3
        bpp += float(out["bpp"])
    model.train()
    mse = se / max(cnt, 1)
    return {"val_psnr": 10 * math.log10(1.0 / max(mse, 1e-12)), "val_bpp": bpp / max(len(batches), 1)}


def lr_schedule(tc: dict):
    """Learning-rate factor of iteration i, planned for the whole campaign: linear warm-up, then
    one cosine from ``schedule_start`` (0, or the iteration a continued run starts from) to
    ``iters``, down to 5 % of the peak. Segments resume inside it; it never restarts."""
    iters, warm, s0 = int(tc["iters"]), int(tc.get("warmup", 200)), int(tc.get("schedule_start", 0))
    span = max(1, iters - s0)

    def f(i: int) -> float:
        j = max(0, i - s0)
        return min(1.0, (j + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(j, span) / span)))
    return f


def _rng_state(state):
    """random.Random state after a weights_only load (tuples may come back as lists)."""
    v, internal, gauss = state
    return (v, tuple(internal), gauss)


def _out_of_time(t0: float, max_hours: float | None, world: int) -> bool:
    """Has this segment used its wall-clock budget? Every rank takes rank 0's answer."""
    if max_hours is None:
        return False
    late = time.time() - t0 > max_hours * 3600
    if world == 1:
        return late
    import torch.distributed as dist

    flag = torch.tensor([float(late)])
    dist.broadcast(flag, 0)
    return bool(flag.item())


def _ddp():
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        import torch.distributed as dist

        if not dist.is_initialized():  # (a second train() in the same processes reuses the group)
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train(cfg: dict, resume: str | None = None, device: str | None = None, max_iters: int | None = None,
          root: Path | None = None, progress: bool = True, max_hours: float | None = None) -> Path:
    root = Path(root or ".")
    tc, mc = cfg["train"], cfg["model"]
    rank, world = _ddp()
    dev = pick_device(device)
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
    if dev.type == "cpu" and tc.get("threads"):
        torch.set_num_threads(int(tc["threads"]))
    seed = int(tc.get("seed", 0)) + rank
    torch.manual_seed(seed)
    rng = random.Random(seed)
    amp_dtype = (torch.bfloat16 if dev.type == "cpu" else torch.float16) if tc.get("amp", True) else None

    model = build_model(mc).to(dev)
    dinn = own_losses(model)
    if dinn and world > 1:
        raise ValueError(f"{mc['type']} trains in one process (its loss graph bypasses DistributedDataParallel)")
    # Staged ResVR (two-stage schedule): the codec starts from a trained rescaling stage
    # (init_codec), stays frozen for the first ``codec_freeze_iters`` iterations (VR warm-up),
    # then trains jointly at ``lr * codec_lr_mult``.
    freeze_until = int(tc.get("codec_freeze_iters", 0)) if hasattr(model, "freeze_codec") else 0
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    eb_params = [p for n, p in trainable if n.endswith("quantiles")]
    main = [(n, p) for n, p in trainable if not n.endswith("quantiles")]
    main_params = [p for _, p in main]
    staged = bool(freeze_until)   # the codec gets its own parameter group (lower lr, zero while frozen)
    groups = [{"params": [p for n, p in main if not (staged and n.startswith("codec."))]}]
    if staged:
        groups.append({"params": [p for n, p in main if n.startswith("codec.")],
                       "lr": tc.get("lr", 2e-4) * float(tc.get("codec_lr_mult", 0.1))})
    opt = torch.optim.Adam(groups, lr=tc.get("lr", 2e-4), betas=(0.9, 0.99))
    aux_opt = torch.optim.Adam(eb_params or [torch.zeros(1, requires_grad=True)], lr=tc.get("lr_aux", 1e-3))
    iters = int(tc["iters"])
    lr_fn = lr_schedule(tc)
    lambdas = [lr_fn] + ([lambda i: 0.0 if i < freeze_until else lr_fn(i) * min(1.0, (i + 1 - freeze_until) /
                                                                                   int(tc.get("warmup", 200)))]
                         if staged else [])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambdas)
    scaler = torch.amp.GradScaler("cuda", enabled=dev.type == "cuda" and amp_dtype == torch.float16)

    out_dir = root / tc.get("out", f"runs/{cfg.get('name', mc['type'])}")
    out_dir.mkdir(parents=True, exist_ok=True)
    start, best = 0, -1.0
    init = mc.get("init_codec")
    if init and not resume:
        sd = safe_load(root / init)
        sd = sd.get("model", sd.get("state_dict", sd))   # a training checkpoint or an exported weight file
        codec = {k[len("codec."):]: v.float() for k, v in sd.items() if k.startswith("codec.")}
        if not codec:
            raise ValueError(f"{init}: holds no codec weights")
        missing = model.codec.load_state_dict(codec, strict=False)
        print(f"initialised the codec from {init} ({missing})")
    if resume:
        ck = safe_load(resume)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        aux_opt.load_state_dict(ck["aux_opt"])
        start, best = ck["iter"], ck.get("best", -1.0)
        sched.last_epoch = start - 1   # the schedule is a function of the iteration: the config's, not the file's
        sched.step()
        rng.setstate(_rng_state(ck["rng"])) if "rng" in ck else None
        print(f"resumed from {resume} at iteration {start}")
        if start >= iters:
            print(f"{cfg.get('name', mc['type'])}: already at iteration {start} of train.iters={iters}, nothing to "
                  "train; to fine-tune further, raise train.iters in a copy of the config")
            return out_dir

    def set_frozen(it):
        frozen = it < freeze_until
        if staged and model.freeze_codec != frozen:
            model.freeze_codec = frozen
            model.codec.requires_grad_(not frozen)
            model.train()
            print(f"iteration {it}: codec {'frozen (VR warm-up)' if frozen else 'joint training'}")
    net = model
    if world > 1:
        # find_unused_parameters always: the entropy models' quantiles (trained by the aux loss only,
        # outside DDP) get no gradient from the main loss, so without it the bucket that holds them
        # (with the VR module, the QPM, the entropy models and the codec's tail) was never reduced
        # before the step, and the ranks' weights drifted apart (60 of 98 tensors after one step)
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None,
                                                      find_unused_parameters=True)
        net.codec = model.codec

    pool = build_pool(cfg["data"], root, seed)
    vbatches = val_batches(cfg, root, mc.get("shape", "ssr"), dinn) if rank == 0 else []
    if rank == 0:
        print(f"{cfg.get('name')}: {count_params(model) / 1e6:.2f}M parameters, pool {len(pool.synth)} synthetic + "
              f"{len(pool.real)} real panoramas, {len(vbatches)} validation batches, device {dev}")
    log_path = out_dir / "log.csv"
    new_log = not log_path.exists() or start == 0
    logf = open(log_path, "w" if new_log else "a", newline="")
    log = csv.writer(logf)
    if new_log:
        log.writerow(["iter", "time_s", "lr", "loss", "pix", "guide"] + (["zloss", "jpeg_q"] if dinn else ["bpp", "aux"])
                     + ["val_psnr", "val_bpp"])

    def save(name, it):
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "aux_opt": aux_opt.state_dict(),
                    "sched": sched.state_dict(), "iter": it, "best": best, "cfg": cfg, "rng": rng.getstate()},
                   out_dir / (name + ".tmp"))
        os.replace(out_dir / (name + ".tmp"), out_dir / name)

    end = min(iters, start + max_iters) if max_iters else iters
    t0 = time.time()
    bar = tqdm(range(start, end), initial=start, total=end, disable=not progress or rank != 0, mininterval=5)
    acc = {}
    qrange = tc.get("qscale_jitter", [1.0, 1.0])
    model.train()
    for it in bar:
        set_frozen(it)
        if cfg["data"].get("refresh_every") and it % cfg["data"]["refresh_every"] == 0 and it > start:
            pool.refresh(1)
        batch = {k: v.to(dev) for k, v in make_batch(pool, tc, mc.get("shape", "ssr"), rng, dinn).items()}
        batch["hr"] = batch["hr"].contiguous(memory_format=torch.channels_last)
        qscale = math.exp(rng.uniform(math.log(qrange[0]), math.log(qrange[1])))
        if not dinn:
            model.codec.train_qscale = qscale
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            L = losses(net, batch, tc, it)
        opt.zero_grad(set_to_none=True)
        scaler.scale(L["loss"]).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(main_params, tc.get("clip", 5.0))
        scaler.step(opt)
        scaler.update()
        sched.step()
        aux = L["aux"] if dinn else model.codec.aux_loss()
        if eb_params and not getattr(model, "freeze_codec", False):   # a frozen codec keeps its entropy model as it is
            aux_opt.zero_grad(set_to_none=True)
            aux.backward()
            aux_opt.step()
        for k in ("loss", "pix", "guide", "bpp"):
            acc[k] = acc.get(k, 0.0) + float(L[k])
        acc["aux"] = acc.get("aux", 0.0) + float(aux)
        acc["n"] = acc.get("n", 0) + 1
        done = it + 1
        out_of_time = _out_of_time(t0, max_hours, world)
        if rank != 0:
            if out_of_time:
                break
            continue
        val = {}
        if vbatches and (done % tc.get("val_every", 500) == 0 or done == end):
            val = validate(model, vbatches, dev, amp_dtype)
            if val["val_psnr"] > best:
                best = val["val_psnr"]
                save("best.pt", done)
        if done % tc.get("log_every", 20) == 0 or val or out_of_time:
            n = acc.pop("n")
            row = [done, round(time.time() - t0, 1), f"{sched.get_last_lr()[0]:.3g}"] + \
                  [f"{acc[k] / n:.5f}" for k in ("loss", "pix", "guide", "bpp", "aux")] + \
                  [f"{val['val_psnr']:.3f}" if val else "", f"{val['val_bpp']:.4f}" if val else ""]
            log.writerow(row)
            logf.flush()
            bar.set_postfix(loss=row[3], pix=row[4], bpp=row[6], val=row[8] or "-")
            acc = {}
        if done % tc.get("ckpt_every", 250) == 0 or done == end or out_of_time:
            save("latest.pt", done)
        if out_of_time:
            print(f"segment time limit ({max_hours} h) reached at iteration {done}; resume with --resume "
                  f"{out_dir / 'latest.pt'}")
            break
    logf.close()
    return out_dir


def train_main(args) -> int:
    from ..errors import BadInput

    try:
        cfg = load_config(args.config)
    except FileNotFoundError:
        raise BadInput(f"{args.config}: no such config file") from None
    except yaml.YAMLError as e:
        raise BadInput(f"{args.config}: not valid YAML ({type(e).__name__})") from None
    out = train(cfg, resume=args.resume, device=args.device, max_iters=getattr(args, "max_iters", None),
                max_hours=getattr(args, "max_hours", None))
    print(f"checkpoints in {out}")
    return 0
