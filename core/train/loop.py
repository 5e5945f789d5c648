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
from types import SimpleNamespace

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


def _process(tc: dict, device) -> tuple:
    """This process's (rank, world size, device, seed, data RNG, autocast dtype): under torchrun each
    rank its own GPU and data seed; torch's CPU threads and seed set."""
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
    return rank, world, dev, seed, rng, amp_dtype


def _optimisers(model, tc: dict, dev, amp_dtype) -> SimpleNamespace:
    """Adam on the trainable parameters, the entropy models' quantiles on their own (aux) Adam, the
    learning-rate schedule and the fp16 grad scaler.

    Staged ResVR (two-stage schedule): the codec starts from a trained rescaling stage
    (init_codec), stays frozen for the first ``codec_freeze_iters`` iterations (VR warm-up), then
    trains jointly at ``lr * codec_lr_mult`` (its own parameter group, lr zero while frozen)."""
    freeze_until = int(tc.get("codec_freeze_iters", 0)) if hasattr(model, "freeze_codec") else 0
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    eb_params = [p for n, p in trainable if n.endswith("quantiles")]
    main = [(n, p) for n, p in trainable if not n.endswith("quantiles")]
    staged = bool(freeze_until)
    groups = [{"params": [p for n, p in main if not (staged and n.startswith("codec."))]}]
    if staged:
        groups.append({"params": [p for n, p in main if n.startswith("codec.")],
                       "lr": tc.get("lr", 2e-4) * float(tc.get("codec_lr_mult", 0.1))})
    opt = torch.optim.Adam(groups, lr=tc.get("lr", 2e-4), betas=(0.9, 0.99))
    aux_opt = torch.optim.Adam(eb_params or [torch.zeros(1, requires_grad=True)], lr=tc.get("lr_aux", 1e-3))
    lr_fn = lr_schedule(tc)
    lambdas = [lr_fn] + ([lambda i: 0.0 if i < freeze_until else lr_fn(i) * min(1.0, (i + 1 - freeze_until) /
                                                                                   int(tc.get("warmup", 200)))]
                         if staged else [])
    return SimpleNamespace(
        opt=opt, aux_opt=aux_opt, sched=torch.optim.lr_scheduler.LambdaLR(opt, lambdas),
        scaler=torch.amp.GradScaler("cuda", enabled=dev.type == "cuda" and amp_dtype == torch.float16),
        main_params=[p for _, p in main], eb_params=eb_params, freeze_until=freeze_until, staged=staged)


def _start(model, o: SimpleNamespace, rng: random.Random, mc: dict, root: Path, resume) -> tuple[int, float]:
    """(first iteration, best validation PSNR so far): from the checkpoint ``resume`` (model,
    optimisers, the schedule at its iteration, the data RNG), else 0 with the codec of the config's
    ``init_codec`` when it names one."""
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
        o.opt.load_state_dict(ck["opt"])
        o.aux_opt.load_state_dict(ck["aux_opt"])
        start, best = ck["iter"], ck.get("best", -1.0)
        o.sched.last_epoch = start - 1   # the schedule is a function of the iteration: the config's, not the file's
        o.sched.step()
        rng.setstate(_rng_state(ck["rng"])) if "rng" in ck else None
        print(f"resumed from {resume} at iteration {start}")
    return start, best


def _set_frozen(model, it: int, o: SimpleNamespace) -> None:
    """The staged codec is frozen before ``o.freeze_until`` and trains from there."""
    frozen = it < o.freeze_until
    if o.staged and model.freeze_codec != frozen:
        model.freeze_codec = frozen
        model.codec.requires_grad_(not frozen)
        model.train()
        print(f"iteration {it}: codec {'frozen (VR warm-up)' if frozen else 'joint training'}")


def _wrap(model, dev, world: int):
    """The module the losses run through: under torchrun the model in DistributedDataParallel.

    find_unused_parameters always: the entropy models' quantiles (trained by the aux loss only,
    outside DDP) get no gradient from the main loss, so without it the bucket that holds them
    (with the VR module, the QPM, the entropy models and the codec's tail) was never reduced
    before the step, and the ranks' weights drifted apart (60 of 98 tensors after one step)."""
    if world == 1:
        return model
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None,
                                                    find_unused_parameters=True)
    net.codec = model.codec
    return net


def _open_log(out_dir: Path, start: int, own: bool):
    """(file, csv writer) of ``log.csv``: a new one (with its header) from iteration 0, else appended."""
    log_path = out_dir / "log.csv"
    new_log = not log_path.exists() or start == 0
    logf = open(log_path, "w" if new_log else "a", newline="")
    log = csv.writer(logf)
    if new_log:
        log.writerow(["iter", "time_s", "lr", "loss", "pix", "guide"] + (["zloss", "jpeg_q"] if own else ["bpp", "aux"])
                     + ["val_psnr", "val_bpp"])
    return logf, log


def _save(s: SimpleNamespace, name: str, it: int) -> None:
    """The checkpoint ``name`` (atomically): model, optimisers, schedule, iteration, best, config, data RNG."""
    o = s.o
    torch.save({"model": s.model.state_dict(), "opt": o.opt.state_dict(), "aux_opt": o.aux_opt.state_dict(),
                "sched": o.sched.state_dict(), "iter": it, "best": s.best, "cfg": s.cfg, "rng": s.rng.getstate()},
               s.out_dir / (name + ".tmp"))
    os.replace(s.out_dir / (name + ".tmp"), s.out_dir / name)


def _step(s: SimpleNamespace, batch: dict, it: int) -> tuple[dict, torch.Tensor]:
    """One optimisation step: the losses under autocast, the clipped (scaled) main step, the
    schedule, then the entropy models' aux step (a frozen codec keeps its entropy model as it is).
    -> (the losses, the aux loss)."""
    o, tc = s.o, s.tc
    with torch.autocast(s.dev.type, dtype=s.amp_dtype, enabled=s.amp_dtype is not None):
        L = losses(s.net, batch, tc, it)
    o.opt.zero_grad(set_to_none=True)
    o.scaler.scale(L["loss"]).backward()
    o.scaler.unscale_(o.opt)
    torch.nn.utils.clip_grad_norm_(o.main_params, tc.get("clip", 5.0))
    o.scaler.step(o.opt)
    o.scaler.update()
    o.sched.step()
    aux = L["aux"] if s.own else s.model.codec.aux_loss()
    if o.eb_params and not getattr(s.model, "freeze_codec", False):
        o.aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        o.aux_opt.step()
    return L, aux


def _record(s: SimpleNamespace, done: int, end: int, acc: dict, t0: float, out_of_time: bool, bar) -> dict:
    """Rank 0 after iteration ``done``: validation (and best.pt when it improves), a log row with
    the running means since the last one, latest.pt. -> the running means to continue."""
    tc = s.tc
    val = {}
    if s.vbatches and (done % tc.get("val_every", 500) == 0 or done == end):
        val = validate(s.model, s.vbatches, s.dev, s.amp_dtype)
        if val["val_psnr"] > s.best:
            s.best = val["val_psnr"]
            _save(s, "best.pt", done)
    if done % tc.get("log_every", 20) == 0 or val or out_of_time:
        n = acc.pop("n")
        row = [done, round(time.time() - t0, 1), f"{s.o.sched.get_last_lr()[0]:.3g}"] + \
              [f"{acc[k] / n:.5f}" for k in ("loss", "pix", "guide", "bpp", "aux")] + \
              [f"{val['val_psnr']:.3f}" if val else "", f"{val['val_bpp']:.4f}" if val else ""]
        s.log.writerow(row)
        s.logf.flush()
        bar.set_postfix(loss=row[3], pix=row[4], bpp=row[6], val=row[8] or "-")
        acc = {}
    if done % tc.get("ckpt_every", 250) == 0 or done == end or out_of_time:
        _save(s, "latest.pt", done)
    return acc


def _run(s: SimpleNamespace, start: int, end: int, progress: bool, max_hours: float | None) -> None:
    """Iterations ``start`` .. ``end`` - 1 (or until the segment's time is up)."""
    tc, mc, model = s.tc, s.mc, s.model
    t0 = time.time()
    bar = tqdm(range(start, end), initial=start, total=end, disable=not progress or s.rank != 0, mininterval=5)
    acc = {}
    qrange = tc.get("qscale_jitter", [1.0, 1.0])
    model.train()
    for it in bar:
        _set_frozen(model, it, s.o)
        if s.cfg["data"].get("refresh_every") and it % s.cfg["data"]["refresh_every"] == 0 and it > start:
            s.pool.refresh(1)
        batch = {k: v.to(s.dev) for k, v in make_batch(s.pool, tc, mc.get("shape", "ssr"), s.rng, s.own).items()}
        batch["hr"] = batch["hr"].contiguous(memory_format=torch.channels_last)
        qscale = math.exp(s.rng.uniform(math.log(qrange[0]), math.log(qrange[1])))
        if not s.own:
            model.codec.train_qscale = qscale
        L, aux = _step(s, batch, it)
        for k in ("loss", "pix", "guide", "bpp"):
            acc[k] = acc.get(k, 0.0) + float(L[k])
        acc["aux"] = acc.get("aux", 0.0) + float(aux)
        acc["n"] = acc.get("n", 0) + 1
        done = it + 1
        out_of_time = _out_of_time(t0, max_hours, s.world)
        if s.rank != 0:
            if out_of_time:
                break
            continue
        acc = _record(s, done, end, acc, t0, out_of_time, bar)
        if out_of_time:
            print(f"segment time limit ({max_hours} h) reached at iteration {done}; resume with --resume "
                  f"{s.out_dir / 'latest.pt'}")
            break


def train(cfg: dict, resume: str | None = None, device: str | None = None, max_iters: int | None = None,
          root: Path | None = None, progress: bool = True, max_hours: float | None = None) -> Path:
    """Train ``cfg`` (a segment: from scratch, or from the checkpoint ``resume``) up to its
    ``train.iters``, ``max_iters`` more or ``max_hours``; -> the run folder (latest.pt, best.pt,
    log.csv)."""
    root = Path(root or ".")
    tc, mc = cfg["train"], cfg["model"]
    rank, world, dev, seed, rng, amp_dtype = _process(tc, device)
    model = build_model(mc).to(dev)
    own = own_losses(model)
    if own and world > 1:
        raise ValueError(f"{mc['type']} trains in one process (its loss graph bypasses DistributedDataParallel)")
    o = _optimisers(model, tc, dev, amp_dtype)
    iters = int(tc["iters"])
    out_dir = root / tc.get("out", f"runs/{cfg.get('name', mc['type'])}")
    out_dir.mkdir(parents=True, exist_ok=True)
    start, best = _start(model, o, rng, mc, root, resume)
    if resume and start >= iters:
        print(f"{cfg.get('name', mc['type'])}: already at iteration {start} of train.iters={iters}, nothing to "
              "train; to fine-tune further, raise train.iters in a copy of the config")
        return out_dir
    s = SimpleNamespace(cfg=cfg, tc=tc, mc=mc, model=model, net=_wrap(model, dev, world), o=o, rng=rng, dev=dev,
                        amp_dtype=amp_dtype, own=own, rank=rank, world=world, out_dir=out_dir, best=best)
    s.pool = build_pool(cfg["data"], root, seed)
    s.vbatches = val_batches(cfg, root, mc.get("shape", "ssr"), own) if rank == 0 else []
    if rank == 0:
        print(f"{cfg.get('name')}: {count_params(model) / 1e6:.2f}M parameters, pool {len(s.pool.synth)} synthetic + "
              f"{len(s.pool.real)} real panoramas, {len(s.vbatches)} validation batches, device {dev}")
    s.logf, s.log = _open_log(out_dir, start, own)
    _run(s, start, min(iters, start + max_iters) if max_iters else iters, progress, max_hours)
    s.logf.close()
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
