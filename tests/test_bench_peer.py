"""The benchmark's peer (pytorch-metric-learning's ContrastiveLoss in place of ours) still builds from
conf/: the quality figures of docs/benchmarks.md compare against it, so a new key of the pair losses
that it does not drop would stop every peer run."""
import sys

import torch

from helpers import ROOT, compose_config
from siamese.pipeline import build

sys.path.insert(0, str(ROOT / "scripts" / "bench"))
import bench_quality  # noqa: E402  (the benchmark's folder is its import root)


def test_the_peer_builds_from_the_config_and_trains_a_step(tmp_path):
    overrides = [*bench_quality.PML_OVERRIDES, "data.split=classes", "data.train_pairs=96", f"run_dir={tmp_path}"]
    module, data = build(compose_config("train", overrides))
    assert isinstance(module.loss, bench_quality.PMLContrastivePeer)
    data.setup("fit")
    step = module.training_step(next(iter(data.train_dataloader())), 0)
    assert torch.isfinite(step) and step.requires_grad
