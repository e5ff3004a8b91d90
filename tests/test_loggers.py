"""Loggers: TensorBoard and MLflow (local files, no server) beside the CSV log, with the per-layer terms,
the validation figures and the report's plots; a resumed run continues the same history."""
import pytest

from helpers import SMALL, compose_config
from siamese.lightning import ResumableMLFlowLogger
from siamese.pipeline import train


def test_tensorboard_and_mlflow_receive_scalars_and_the_report_plots(tmp_path, capsys):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = compose_config("train", [*SMALL, "loss=dcontrastive", "logger=[csv,tensorboard,mlflow]",
                                   f"run_dir={tmp_path}"])
    train(cfg)
    events = EventAccumulator(str(tmp_path / "logs"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert {"train/loss", "train/layer1", "train/layer3", "val/auc", "val/p_at_1"} <= set(events.Tags()["scalars"])
    assert {"report/roc", "report/distances"} <= set(events.Tags()["images"])

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    run_id = (tmp_path / "logs" / "mlflow_run_id").read_text().strip()
    run = client.get_run(run_id)
    assert {"train/loss", "train/layer2", "val/auc"} <= set(run.data.metrics)
    assert {a.path for a in client.list_artifacts(run_id)} >= {"roc.png", "distances.png"}


def test_a_resumed_run_logs_into_the_same_mlflow_run(tmp_path):
    first = ResumableMLFlowLogger(str(tmp_path), experiment_name="x", tracking_uri=f"sqlite:///{tmp_path}/m.db")
    first.log_metrics({"a": 1.0}, step=0)
    again = ResumableMLFlowLogger(str(tmp_path), experiment_name="x", tracking_uri=f"sqlite:///{tmp_path}/m.db")
    again.log_metrics({"a": 2.0}, step=1)
    assert again.run_id == first.run_id
    history = again.experiment.get_metric_history(first.run_id, "a")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx([1.0, 2.0])
