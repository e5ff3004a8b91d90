"""Re-evaluate a training run: report.json, report.md, roc.png, distances.png. See conf/evaluate.yaml."""
import hydra
from omegaconf import DictConfig

from siamese.pipeline import evaluate


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
