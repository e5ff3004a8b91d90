"""Matching with a deployment bundle (``scripts/bundle.py``): onnxruntime, numpy, PIL and FAISS — torch is
never imported on this path, so a bundle runs where torch is not installed."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from siamese.atomic import sha256_file
from siamese.matching import IndexMatcher

MODEL_FILE, MANIFEST_FILE = "model.onnx", "manifest.json"
BATCH = 64          # query images per onnxruntime call


def read_manifest(bundle_dir: Path) -> dict[str, str]:
    """The bundle's ``{file: sha256}``, every file checked; a missing or changed file is refused, named."""
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} is missing: not a bundle written by scripts/bundle.py")
    files = json.loads(path.read_text())["files"]
    for name, digest in files.items():
        if not (bundle_dir / name).is_file():
            raise FileNotFoundError(f"bundle {bundle_dir}: {name} is missing (listed in {MANIFEST_FILE})")
        if sha256_file(bundle_dir / name) != digest:
            raise ValueError(f"bundle {bundle_dir}: {name} does not match its sha256 in {MANIFEST_FILE}; the "
                             "bundle was changed after it was written: write it again with scripts/bundle.py")
    return files


class BundleMatcher(IndexMatcher):
    """A bundle directory: its manifest checked, its index loaded, its ONNX model in onnxruntime (CPU)."""

    def __init__(self, bundle_dir: Path):
        try:
            import onnxruntime
        except ImportError:
            raise ImportError("matching a bundle needs onnxruntime: pip install 'siamese[deploy]'") from None
        read_manifest(bundle_dir)
        super().__init__(bundle_dir, required=("image", "model_file"))
        self.session = onnxruntime.InferenceSession(str(Path(bundle_dir) / self.meta["model_file"]),
                                                    providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.check_dimension(int(self.session.get_outputs()[0].shape[-1]))

    def embed_images(self, images: np.ndarray) -> np.ndarray:
        """``(N, C, S, S)`` float32 images -> ``(N, D)`` unit embeddings, in batches of ``BATCH``."""
        return np.concatenate([self.session.run(None, {self.input_name: images[k:k + BATCH]})[0]
                               for k in range(0, len(images), BATCH)])

    def embed(self, paths: list[Path]) -> np.ndarray:
        return self.embed_images(self.read_queries(paths))
