"""Hyper-parameter sweeps with Optuna: ``run_sweep(cfg)`` behind ``scripts/sweep.py`` (``conf/sweep.yaml``).

Optuna drives the search directly (Hydra's Optuna sweeper pins an old Optuna); each trial composes the
training config with Hydra's compose API — ``base`` + the sampled ``params`` + ``overrides`` — and trains
into its own run directory ``<sweep_dir>/trial_<n>`` with its report. A Lightning callback reports the
monitored figure every epoch and prunes a trial below the median (Optuna's ``MedianPruner``).

Several processes (on one machine or many) share one study through the storage: Optuna's journal file
(``<sweep_dir>/study.journal``, no server; put ``sweep_dir`` on a shared path) or an RDB URL. When a
process has run its ``n_trials``, it writes (one process at a time, under ``<sweep_dir>/.sweep_files.lock``),
from every finished trial of the study:

    sweep.csv, sweep.md   one row a trial: number, state, params, val and test figures, seconds
    best.yaml             the best trial's whole training config: python scripts/train.py --config-path
                          <sweep_dir> --config-name best trains it again
    history.png           Optuna's optimisation history
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import time
from pathlib import Path

import optuna
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from siamese.atomic import atomic_write_many
from siamese.checks import at_least, one_of
from siamese.pipeline import train

PARAM_TYPES = ("float", "int", "categorical")
FIGURES = {"val_auc": "verification.val_auc", "auc": "verification.auc", "eer": "verification.eer",
           "p_at_1": "retrieval.p_at_1", "map_at_r": "retrieval.map_at_r"}


def suggest(trial: optuna.Trial, params: DictConfig) -> list[str]:
    """Hydra overrides ``key=value`` for one sample of the search space ``params``."""
    overrides = []
    for key, spec in params.items():
        kind = one_of(f"sweep.params.{key}.type", spec.type, PARAM_TYPES)
        if kind == "float":
            value = trial.suggest_float(key, float(spec.low), float(spec.high), log=bool(spec.get("log", False)))
        elif kind == "int":
            value = trial.suggest_int(key, int(spec.low), int(spec.high), log=bool(spec.get("log", False)))
        else:
            value = trial.suggest_categorical(key, list(spec.choices))
        overrides.append(f"{key}={value}")
    return overrides


def figure(report: dict, path: str):
    """``report["verification"]["val_auc"]`` for ``path="verification.val_auc"``; ``None`` where absent."""
    value = report
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class PruneOnPlateau(pl.Callback):
    """Reports ``monitor`` to the Optuna trial after every validation and stops the trial when the pruner says."""

    def __init__(self, trial: optuna.Trial, monitor: str):
        self.trial, self.monitor = trial, monitor

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        self.trial.report(float(trainer.callback_metrics[self.monitor]), step=trainer.current_epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"{self.monitor} below the median at epoch {trainer.current_epoch}")


def storage_of(cfg: DictConfig, sweep_dir: Path):
    if cfg.storage:
        return str(cfg.storage)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(sweep_dir / "study.journal")))


def run_sweep(cfg: DictConfig) -> optuna.Study:
    """Run ``cfg.n_trials`` trials of the study ``cfg.study_name``, then write the sweep's files."""
    from hydra import compose

    sweep = cfg.sweep
    at_least("n_trials", cfg.n_trials, 1)
    one_of("sweep.direction", sweep.direction, ("maximize", "minimize"))
    sweep_dir = Path(cfg.sweep_dir).absolute()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=str(cfg.study_name), storage=storage_of(cfg, sweep_dir), direction=str(sweep.direction),
        load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=int(cfg.seed) + os.getpid()),
        pruner=optuna.pruners.MedianPruner(n_warmup_steps=int(sweep.pruner.n_warmup_steps)))

    def objective(trial: optuna.Trial) -> float:
        run_dir = sweep_dir / f"trial_{trial.number:04d}"
        overrides = [*sweep.base, *suggest(trial, sweep.params), *cfg.overrides, f"run_dir={run_dir}"]
        train_cfg = compose(config_name="train", overrides=overrides)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(train_cfg))
        trial.set_user_attr("run_dir", str(run_dir))
        start = time.perf_counter()
        report = train(train_cfg, extra_callbacks=[PruneOnPlateau(trial, str(sweep.monitor))])
        trial.set_user_attr("seconds", time.perf_counter() - start)
        for name, path in FIGURES.items():
            trial.set_user_attr(name, figure(report, path))
        value = figure(report, str(sweep.objective))
        if value is None:
            raise ValueError(f"sweep.objective={sweep.objective} is not a figure of the report "
                             f"(e.g. {', '.join(FIGURES.values())})")
        return float(value)

    study.optimize(objective, n_trials=int(cfg.n_trials), catch=())
    # One writer at a time, each reading the study afresh inside the lock: the last process to write has
    # seen every other process's finished trials, so the files end whole (without the lock a process that
    # read the study before another's last trial ended could overwrite that one's complete table).
    with open(sweep_dir / ".sweep_files.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        write_sweep_files(study, sweep_dir)
    return study


def write_sweep_files(study: optuna.Study, sweep_dir: Path) -> None:
    """sweep.csv, sweep.md, best.yaml and history.png from every finished trial of the study."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization.matplotlib import plot_optimization_history

    finished = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE,
                                                       optuna.trial.TrialState.PRUNED)]
    params = sorted({key for t in finished for key in t.params})
    header = ["trial", "state", "value", *params, *FIGURES, "seconds"]
    rows = [[t.number, t.state.name.lower(), t.value, *(t.params.get(p) for p in params),
             *(t.user_attrs.get(f) for f in FIGURES), t.user_attrs.get("seconds")] for t in finished]
    table = io.StringIO()
    csv.writer(table).writerows([header, *rows])

    def cell(v):
        return "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = [f"# sweep {study.study_name}", "",
             f"{len(finished)} finished trials, direction {study.direction.name.lower()}.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    files = {sweep_dir / "sweep.csv": table.getvalue().encode(),
             sweep_dir / "sweep.md": ("\n".join(lines) + "\n").encode()}
    complete = [t for t in finished if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        best = study.best_trial
        best_cfg = OmegaConf.load(Path(best.user_attrs["run_dir"]) / "config.yaml")
        best_cfg.run_dir = "${hydra:runtime.output_dir}"     # a fresh run directory when it is trained again
        files[sweep_dir / "best.yaml"] = (f"# best trial {best.number} of sweep {study.study_name}: value "
                                          f"{best.value:.4f}, params {json.dumps(best.params, sort_keys=True)}\n"
                                          + OmegaConf.to_yaml(best_cfg)).encode()
        axes = plot_optimization_history(study)
        buffer = io.BytesIO()
        axes.figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(axes.figure)
        files[sweep_dir / "history.png"] = buffer.getvalue()
    atomic_write_many(files)
    print(f"sweep {study.study_name}: {len(finished)} finished trials; wrote {', '.join(p.name for p in files)} "
          f"in {sweep_dir}")
