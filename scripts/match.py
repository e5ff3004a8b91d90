"""Match query images against an exported index, or verify one pair: see conf/match.yaml.

    python scripts/match.py index=<index dir> query=<image or folder> [k=5] [format=json]
    python scripts/match.py index=<index dir> pair=<image1>,<image2>

Arguments are ``key=value`` over conf/match.yaml, parsed by OmegaConf rather than Hydra: ``index``
here is a directory, while Hydra would take ``index=`` for the index-type group of conf/index.
"""
import sys
from pathlib import Path

from omegaconf import OmegaConf

from siamese.matching import match

CONF = Path(__file__).resolve().parents[1] / "conf" / "match.yaml"


def main(argv: list[str]) -> None:
    cfg = OmegaConf.merge(OmegaConf.load(CONF), OmegaConf.from_cli(argv))
    missing = OmegaConf.missing_keys(cfg)
    if missing:
        sys.exit(f"missing required argument(s): {', '.join(sorted(missing))}=...")
    try:
        match(cfg)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main(sys.argv[1:])
