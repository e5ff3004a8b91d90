"""The benchmark's peer (pytorch-metric-learning's ContrastiveLoss in place of ours) still builds from
conf/: the quality figures of docs/benchmarks.md compare against it, so a new key of the pair losses
that it does not drop would stop every peer run. Also the reader of the benchmark's logs that the rounds'
tables.sh scripts rebuild those figures with."""
import json
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


def test_read_runs_selects_a_variant_and_seeds_across_logs_in_order(tmp_path):
    rows = [{"variant": v, "seed": s, "fold": 0} for v in ("a", "b") for s in range(3)]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(json.dumps(r) + "\n" for r in rows[:4]))
    second.write_text("".join(json.dumps(r) + "\n" for r in rows[4:]))
    assert bench_quality.read_runs(first, second) == rows
    assert bench_quality.read_runs(first, second, variant="b") == rows[3:]
    assert bench_quality.read_runs(first, second, variant="b", seeds=(0, 2)) == [rows[3], rows[5]]
    assert bench_quality.read_runs(second, first, seeds=(2,)) == [rows[5], rows[2]]      # the logs' order


def test_probe_runs_logs_every_variant_seed_and_fold_with_its_overrides(tmp_path, capsys):
    seen = []

    def run_one(name, overrides, run_dir):
        seen.append((name, overrides))
        return {"plain": {"map_at_r": 0.5}, "other": {"map_at_r": 0.25}}

    log = tmp_path / "probe.jsonl"
    bench_quality.probe_runs("d", "0,1", "2", str(log), ["a", "b"], ["data.split=classes"], run_one)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["variant"], r["seed"], r["fold"]) for r in rows] == [("a", 0, 2), ("b", 0, 2), ("a", 1, 2), ("b", 1, 2)]
    assert rows[0] == {"data": "d", "variant": "a", "seed": 0, "fold": 2, "plain": {"map_at_r": 0.5},
                       "other": {"map_at_r": 0.25}}
    assert seen[2] == ("a", ["data.split=classes", "data.class_folds=3", "data.class_fold=2", "seed=1"])
    assert "a 1 2 {'plain': 0.5, 'other': 0.25}" in capsys.readouterr().out


def test_probe_ways_evaluates_each_way_from_the_same_tower_and_logs_it_beside_the_plain_figures(tmp_path):
    """A way that leaves the model embedding as it is gives the plain figures; one that maps every image to
    the same point gives chance AUC; the tower's own method is back after each way."""
    seen = []

    def ways(net, datamodule):
        seen.append(net)
        def unchanged(self, stages):
            return type(self).final(self, stages)

        def one_point(self, stages):
            return torch.nn.functional.normalize(torch.ones_like(unchanged(self, stages)), dim=1)

        return {"unchanged": ("final", unchanged), "one_point": ("final", one_point)}

    log = tmp_path / "probe.jsonl"
    bench_quality.probe_ways(["d", "0", "0", str(log), "raw"], {"raw": None}, ways)
    (row,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert list(row) == ["data", "variant", "seed", "fold", "plain", "unchanged", "one_point"]
    assert row["unchanged"] == row["plain"]
    assert row["one_point"]["auc"] == 0.5 and row["plain"]["auc"] > 0.8
    assert "final" not in vars(seen[0])
