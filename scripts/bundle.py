"""Write a deployment bundle (ONNX model, index, manifest) of a run: see conf/bundle.yaml and siamese/bundle.py."""
import hydra
from omegaconf import DictConfig

from siamese.bundle import write_bundle


@hydra.main(version_base="1.3", config_path="../conf", config_name="bundle")
def main(cfg: DictConfig) -> None:
    write_bundle(cfg)


if __name__ == "__main__":
    main()
