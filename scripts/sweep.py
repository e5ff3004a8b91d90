"""Optuna sweep over training configs: see conf/sweep.yaml and siamese/sweep.py."""
import hydra
from omegaconf import DictConfig

from siamese.sweep import run_sweep


@hydra.main(version_base="1.3", config_path="../conf", config_name="sweep")
def main(cfg: DictConfig) -> None:
    run_sweep(cfg)


if __name__ == "__main__":
    main()
