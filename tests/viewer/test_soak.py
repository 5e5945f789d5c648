"""A short soak of the render path (scripts/soak.py): 200 view changes through the render
service's request processing, bilinear panes plus four learned ones (tiny weights), with RSS
sampled: after the warm-up (every method created and prepared) memory stays bounded."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_soak_keeps_memory_bounded(tmp_path, monkeypatch, qtbot):
    import resvr.core.models.weights as weights
    from tests.helpers import TINY_HT, TINY_RESVR, save_tiny_checkpoint

    (tmp_path / "assets" / "weights").mkdir(parents=True)
    save_tiny_checkpoint(tmp_path / "assets" / "weights" / "resvr.pt", TINY_RESVR)
    save_tiny_checkpoint(tmp_path / "assets" / "weights" / "hyperthumbnail.pt", TINY_HT)
    monkeypatch.setattr(weights, "ASSETS", tmp_path / "assets")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import soak
    finally:
        sys.path.pop(0)
    (tmp_path / "w").mkdir()
    r = soak.soak(200, learned_every=50, sample=20, work=tmp_path / "w")
    assert r["errors"] == {} and r["learned_views"] == 4 and r["warmup_changes"] == 101
    assert [c for c, _ in r["curve"]] == list(range(20, 201, 20))
    # 100 changes after the warm-up: a leak of one 320x240 float32 view per change would be 88 MiB
    # (the full soak, 2,000 changes: 8.8 MiB after its warm-up; docs/reliability.md)
    assert r["growth_mib"] < 40, r
