"""Match query images against an exported index, or verify one pair: see conf/match.yaml.

    python scripts/match.py index_dir=<index dir> query=<image or folder> [k=5] [format=json]
    python scripts/match.py index_dir=<index dir> pair=[<image1>,<image2>]
"""
import sys

import hydra
from omegaconf import DictConfig

from siamese.config import check_cli_arguments
from siamese.matching import match


@hydra.main(version_base="1.3", config_path="../conf", config_name="match")
def main(cfg: DictConfig) -> None:
    try:
        match(cfg)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    check_cli_arguments(sys.argv[1:])
    main()
