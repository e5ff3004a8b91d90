"""Export a trained tower's embeddings of an image collection to a FAISS index: see conf/export.yaml."""
import hydra
from omegaconf import DictConfig

from siamese.export import export


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    export(cfg)


if __name__ == "__main__":
    main()
