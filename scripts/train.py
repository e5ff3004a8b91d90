"""Train a Siamese twin, export its gallery to FAISS and write the report: see conf/train.yaml."""
import hydra
from omegaconf import DictConfig

from siamese.pipeline import train


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
