"""Lightning plug-ins: atomic checkpoints, CSV / MLflow logs that a resumed run appends to, the report's
plots into the loggers, a lock that keeps a second run out of a run directory, and the heads' warm-up
of a pretrained backbone."""
from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import BaseFinetuning
from pytorch_lightning.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from siamese.atomic import atomic_save
from siamese.checks import at_least


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file beside the target, fsync'd, then renamed over it: a
    full disk or a kill mid-write leaves the previous ``last.ckpt`` whole, so ``ckpt_path=last`` works."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_save(Path(path), lambda f: torch.save(checkpoint, f))


class AppendingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is kept and appended to (its
    header read back), where Lightning's deletes it: a resumed run keeps its earlier rows."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                header = f.readline().strip()
            self.metrics_keys = sorted(header.split(",")) if header else []


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` writing ``<save_dir>/<name>/metrics.csv`` through ``AppendingExperimentWriter``."""

    @property
    def experiment(self) -> AppendingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment


class RunDirectoryLock:
    """An exclusive lock on ``run_dir/.lock`` for the life of a run (``with RunDirectoryLock(d): ...``).

    A second run into the same directory fails at once, naming the holder (pid, host, command,
    start time). The lock is the kernel's (``flock``): it goes when the holder exits or dies, so a
    killed run never leaves the directory locked.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self._file = None

    def __enter__(self) -> RunDirectoryLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise RuntimeError(f"the run directory {str(self.path.parent)!r} is in use by {holder}; wait for "
                               "that run to end or give this one another hydra.run.dir") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')} "
                f"({' '.join(sys.argv)[:200]})\n")
        f.flush()
        self._file = f
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


class HeadWarmup(BaseFinetuning):
    """Lightning's fine-tuning hook: the tower's backbone frozen (BatchNorm in eval mode) for the first
    ``epochs`` epochs, so the fresh embedding heads settle before they move pretrained weights; then
    the backbone is trained too, less the stages ``model.freeze_stages`` keeps frozen."""

    def __init__(self, epochs: int = 1):
        super().__init__()
        self.epochs = at_least("callbacks.head_warmup.epochs", epochs, 0)

    def freeze_before_training(self, pl_module) -> None:
        if self.epochs > 0:
            pl_module.net.set_backbone_trainable(False)

    def finetune_function(self, pl_module, epoch: int, optimizer) -> None:
        if epoch == self.epochs:
            pl_module.net.set_backbone_trainable(True)


class ResumableMLFlowLogger(MLFlowLogger):
    """Lightning's ``MLFlowLogger`` that keeps its run id in ``<run_dir>/logs/mlflow_run_id``: a run
    resumed into the same directory (``ckpt_path=last``) logs into the same MLflow run."""

    def __init__(self, run_dir: str, **kwargs):
        self.id_file = Path(run_dir) / "logs" / "mlflow_run_id"
        known = self.id_file.read_text().strip() if self.id_file.is_file() else None
        self._id_kept = known is not None
        super().__init__(run_id=known, **kwargs)

    @property
    def experiment(self):
        client = super().experiment
        if not self._id_kept and self._run_id:      # once: the property is read at every logging call
            self.id_file.parent.mkdir(parents=True, exist_ok=True)
            self.id_file.write_text(self._run_id + "\n")
            self._id_kept = True
        return client


def log_report_images(loggers, run_dir: Path, names: tuple[str, ...] = ("roc.png", "distances.png")) -> None:
    """The report's plots into the loggers that hold images: TensorBoard (``add_image``), MLflow (artifacts)."""
    import numpy as np
    from PIL import Image

    for logger in loggers:
        for name in names:
            path = Path(run_dir) / name
            if isinstance(logger, TensorBoardLogger):
                image = np.asarray(Image.open(path).convert("RGB"))
                logger.experiment.add_image(f"report/{path.stem}", image, dataformats="HWC")
                logger.experiment.flush()
            elif isinstance(logger, MLFlowLogger):
                logger.experiment.log_artifact(logger.run_id, str(path))
