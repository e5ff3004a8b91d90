"""Export into shards: each image once across processes, a killed export resumed, the index from the shards."""
import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from helpers import compose_config, make_image_tree, run_script
from siamese.export import export
from siamese.index_store import GalleryPaths, gallery_labels, load_index
from siamese.pipeline import train
from siamese.shards import ShardStore

SMALL = ["trainer=debug", "data.train_pairs=64", "data.val_pairs=100", "data.test_pairs=100", "evaluation.trials=20"]


@pytest.fixture(scope="module")
def run_and_images(tmp_path_factory):
    """A run trained for a few steps and a 21-image collection (3 classes × 7: an odd count)."""
    root = tmp_path_factory.mktemp("export")
    cfg = compose_config("train", [*SMALL, f"run_dir={root / 'run'}"])
    (root / "run" / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, root / "run" / ".hydra" / "config.yaml")      # what Hydra writes for scripts/train.py
    train(cfg)
    return root / "run", make_image_tree(root / "images", per_class=7, size=10)


def exported(out, vectors=True):
    """``{path: (label, vector)}`` of an index directory (vectors: a flat index's; else None)."""
    index, meta = load_index(out)
    paths = GalleryPaths(out, meta)
    return {paths[i]: (int(label), index.reconstruct(i) if vectors else None)
            for i, label in enumerate(gallery_labels(out, meta))}


def test_a_killed_export_resumes_from_its_finished_shards_to_the_same_index(run_and_images, tmp_path, monkeypatch):
    run_dir, images = run_and_images
    common = [f"run_dir={run_dir}", f"images={images}", "index=flat", "shard_size=5", "batch_size=2"]
    export(compose_config("export", [*common, f"out={tmp_path / 'straight'}"]))

    written, real_write = [], ShardStore.write

    def killed_after_two(self, shard, *args):
        if len(written) == 2:
            raise OSError("disk full")                   # the export dies while shard 3 is due
        written.append(shard)
        real_write(self, shard, *args)

    monkeypatch.setattr(ShardStore, "write", killed_after_two)
    out = tmp_path / "resumed"
    with pytest.raises(OSError, match="disk full"):
        export(compose_config("export", [*common, f"out={out}"]))
    assert written == [0, 1] and not (out / "index.json").exists()
    finished = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("part-*")}

    written.clear()
    monkeypatch.setattr(ShardStore, "write", lambda self, shard, *args: (written.append(shard),
                                                                          real_write(self, shard, *args)))
    meta = export(compose_config("export", [*common, f"out={out}", "resume=true", "keep_shards=true"]))
    assert written == [2, 3, 4]                          # 21 images in shards of 5: only the unfinished ones
    assert all((out / "shards" / name).stat().st_mtime_ns == t for name, t in finished.items())
    assert meta["count"] == 21
    straight, resumed = exported(tmp_path / "straight"), exported(out)
    assert straight.keys() == resumed.keys()
    for path, (label, vector) in straight.items():
        assert resumed[path][0] == label and np.allclose(resumed[path][1], vector, atol=1e-6)

    with pytest.raises(ValueError, match=r"resume=true: .*shards of another export \(shard_size differ"):
        export(compose_config("export", [*common, f"out={out}", "resume=true", "shard_size=4"]))


def test_a_two_process_export_embeds_each_image_exactly_once(run_and_images, tmp_path):
    run_dir, images = run_and_images
    out = tmp_path / "out"
    proc = run_script("export.py", f"run_dir={run_dir}", f"images={images}", f"out={out}", "trainer=ddp_debug",
                      "shard_size=4", "index=ivf", "index.nlist=2", "keep_shards=true", "num_workers=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "index.json").read_text())
    assert meta["processes"] == 2 and meta["count"] == 21
    ids = np.concatenate([np.load(p) for p in sorted((out / "shards").glob("part-*.ids.npy"))])
    assert sorted(ids.tolist()) == list(range(21))       # 6 shards dealt 3 + 3: each image once, no padding
    names = {f"{c}/{i}.png" for c in ("cat", "dog", "eel") for i in range(7)}
    assert "ivfdata" in meta["files"] and exported(out, vectors=False).keys() == names


def test_an_index_that_cannot_fit_max_memory_is_refused_before_anything_is_embedded(run_and_images, tmp_path):
    run_dir, images = run_and_images
    with pytest.raises(MemoryError, match=r"index=flat: holding 21 × 192 vectors in memory needs about 16\.1 kB but "
                                          r"index\.max_memory=1\.0 kB; raise it, or use index=ivf"):
        export(compose_config("export", [f"run_dir={run_dir}", f"images={images}", f"out={tmp_path / 'out'}",
                                         "index=flat", "index.max_memory=1KB"]))
    assert not (tmp_path / "out").exists()
