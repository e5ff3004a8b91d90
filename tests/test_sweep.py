"""Optuna sweeps: two worker processes share one study through a journal file; every trial has its run
and report; the sweep table, history plot and a best config that trains again are written."""
import csv
import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from helpers import ROOT, TESTS_DIR, compose_config
from siamese.pipeline import train


@pytest.mark.slow
def test_two_workers_share_one_study_and_the_best_config_trains_again(tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, str(ROOT / "scripts" / "sweep.py"), f"sweep_dir={sweep_dir}", "n_trials=1",
               "overrides=['trainer=debug','evaluation.trials=20','data.val_pairs=100','data.test_pairs=100',"
               "'data.split=classes']"]
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR)}
    workers = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]
    outputs = [w.communicate(timeout=240)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]

    rows = list(csv.DictReader(open(sweep_dir / "sweep.csv")))
    assert sorted(int(r["trial"]) for r in rows) == list(range(2)) and {r["state"] for r in rows} == {"complete"}
    for row in rows:
        assert (sweep_dir / f"trial_{int(row['trial']):04d}" / "report.json").is_file()
        assert 0 <= float(row["val_auc"]) <= 1 and float(row["value"]) == pytest.approx(float(row["val_auc"]))
    best = max(rows, key=lambda r: float(r["value"]))
    assert f"best trial {best['trial']} of sweep dcontrastive" in (sweep_dir / "best.yaml").read_text()
    assert (sweep_dir / "history.png").stat().st_size > 0
    assert "| trial | state |" in (sweep_dir / "sweep.md").read_text()

    with initialize_config_dir(config_dir=str(sweep_dir), version_base="1.3"):
        again = compose(config_name="best", overrides=[f"run_dir={tmp_path / 'again'}"])
    assert again.loss.m1 == pytest.approx(float(best["loss.m1"]))
    report = train(again)
    assert 0 <= report["verification"]["auc"] <= 1


def test_every_sweep_space_composes_with_its_training_config(tmp_path):
    for space in sorted(p.stem for p in (ROOT / "conf" / "sweep").glob("*.yaml")):
        cfg = compose_config("sweep", [f"sweep={space}", f"sweep_dir={tmp_path}"])
        values = {"float": lambda s: s.low, "int": lambda s: s.low, "categorical": lambda s: s.choices[0]}
        sampled = [f"{key}={values[spec.type](spec)}" for key, spec in cfg.sweep.params.items()]
        train_cfg = compose_config("train", [*cfg.sweep.base, *sampled, f"run_dir={tmp_path}"])
        assert not OmegaConf.missing_keys(train_cfg)
