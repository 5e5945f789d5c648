"""Run by tests/test_ddp.py under torchrun (2 CPU processes, gloo) through ``core.train.loop.train``:

1. ``CONFIG`` for its iterations; this rank's trained weights -> ``OUT/steps_rank{r}.pt``;
2. ``CONFIG`` again into ``OUT/stop`` for 10 iterations, rank 0 with a time budget already spent
   (``--max-hours`` 1e-9) and rank 1 with hours to spare: rank 1 must stop with rank 0 (the
   broadcast), after one iteration; its weights -> ``OUT/stop_rank{r}.pt``.

usage: python -m torch.distributed.run --nproc_per_node 2 tests/ddp_worker.py CONFIG OUT
"""
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import yaml

from resvr.core.train import loop

captured = {}


class _Capture(torch.nn.parallel.DistributedDataParallel):
    """DistributedDataParallel that remembers the module it wraps (this rank's model)."""

    def __init__(self, module, *a, **k):
        super().__init__(module, *a, **k)
        captured["model"] = module


def _save(path: Path) -> None:
    torch.save({k: v.detach().clone() for k, v in captured.pop("model").state_dict().items()}, path)


if __name__ == "__main__":
    torch.nn.parallel.DistributedDataParallel = _Capture
    cfg, out = yaml.safe_load(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
    rank = int(os.environ["RANK"])
    loop.train(cfg, device="cpu", progress=False)
    _save(out / f"steps_rank{rank}.pt")
    cfg["train"].update(iters=10, out=str(out / "stop"))
    loop.train(cfg, device="cpu", progress=False, max_hours=1e-9 if rank == 0 else 1000.0)
    _save(out / f"stop_rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()
