"""Index directories: round trip, metadata checks, sidecars read lazily, older layouts, atomic writes."""
import json
import os
import shutil

import faiss
import numpy as np
import pytest

from helpers import unit_vectors
from siamese import index as idx
from siamese import index_store as store
from siamese.atomic import atomic_write_many, json_bytes


def test_saved_index_loads_and_answers_the_same_with_labels_and_paths_outside_index_json(tmp_path):
    gallery, queries = unit_vectors(300, 8), unit_vectors(20, 8, seed=2)
    labels, paths = np.arange(300) % 7, [f"cls{i % 7}/ä{i}.png" for i in range(300)]
    index = idx.build_flat_index(gallery)
    store.save_index(tmp_path, index, labels, paths=paths, checkpoint="ckpt/best.ckpt", threshold=0.7)
    loaded, meta = store.load_index(tmp_path)
    d0, i0 = idx.search(index, queries, 10)
    d1, i1 = idx.search(loaded, queries, 10)
    assert np.array_equal(i0, i1) and np.array_equal(d0, d1)
    assert "labels" not in meta and "paths" not in meta and meta["dim"] == 8 and meta["count"] == 300
    assert meta["checkpoint"] == "ckpt/best.ckpt" and meta["threshold"] == 0.7
    mapped = store.gallery_labels(tmp_path, meta)
    assert isinstance(mapped, np.memmap) and mapped.tolist() == labels.tolist()       # read lazily
    gallery_paths = store.GalleryPaths(tmp_path, meta)
    assert gallery_paths[123] == "cls4/ä123.png" and gallery_paths[0] == "cls0/ä0.png"
    for entry in meta["files"].values():
        assert entry["sha256"] == store.sha256_file(tmp_path / entry["name"])       # hashed while written


def test_a_directory_of_the_previous_layout_still_loads(tmp_path):
    """index.json with the labels and paths as lists and index_file / index_sha256 (before sidecars)."""
    gallery = unit_vectors(30, 4)
    data = faiss.serialize_index(idx.build_flat_index(gallery)).tobytes()
    digest = store.hashlib.sha256(data).hexdigest()
    (tmp_path / f"index.{digest[:12]}.faiss").write_bytes(data)
    (tmp_path / "index.json").write_text(json.dumps({
        "dim": 4, "count": 30, "metric": "l2", "labels": [i % 3 for i in range(30)],
        "paths": [f"{i}.png" for i in range(30)], "index_file": f"index.{digest[:12]}.faiss",
        "index_sha256": digest}))
    index, meta = store.load_index(tmp_path)
    assert index.ntotal == 30 and store.gallery_labels(tmp_path, meta).tolist()[:4] == [0, 1, 2, 0]
    assert store.GalleryPaths(tmp_path, meta)[5] == "5.png"
    (tmp_path / f"index.{digest[:12]}.faiss").write_bytes(data[:-4] + b"\0\0\0\0")
    with pytest.raises(ValueError, match=r"sha256 differs"):                    # old directories: always hashed
        store.load_index(tmp_path)


def test_metadata_that_disagrees_with_the_index_is_refused(tmp_path):
    store.save_index(tmp_path, idx.build_flat_index(unit_vectors(5, 4)), np.zeros(5))
    meta = json.loads((tmp_path / "index.json").read_text())
    meta["count"] = 6
    (tmp_path / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"index\.[0-9a-f]{12}\.faiss holds 5 vectors of dim 4 but index\.json says "
                                         r"count=6"):
        store.load_index(tmp_path)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"index\.json' is missing: not an index directory"):
        store.load_index(tmp_path)
    meta = store.save_index(tmp_path, idx.build_flat_index(unit_vectors(5, 4)), np.zeros(5))
    (tmp_path / meta["files"]["labels"]["name"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"labels\.[0-9a-f]{12}\.npy' is missing: .*index\.json names it"):
        store.load_index(tmp_path)


def test_a_damaged_index_file_is_named_not_a_raw_faiss_error(tmp_path):
    meta = store.save_index(tmp_path, idx.build_flat_index(unit_vectors(50, 8)), np.zeros(50))
    path = store.index_file(tmp_path, meta)
    good = path.read_bytes()
    path.write_bytes(good[:100])
    with pytest.raises(ValueError, match=r"is not the file index\.json describes \(size differs\)"):
        store.load_index(tmp_path)
    path.write_bytes(good[:-8] + b"\x7f" * 8)                          # same size, other bytes
    store.load_index(tmp_path)                                         # a matcher checks sizes only...
    with pytest.raises(ValueError, match=r"sha256 differs"):
        store.load_index(tmp_path, verify=True)                        # ...verify reads every byte
    del meta["files"]["index"]["bytes"]
    path.write_bytes(good[:100])
    (tmp_path / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"not a readable FAISS index \(truncated or damaged"):
        store.load_index(tmp_path)


def test_label_and_path_counts_must_match(tmp_path):
    with pytest.raises(ValueError, match="3 labels for an index of 5 vectors"):
        store.save_index(tmp_path, idx.build_flat_index(unit_vectors(5, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="4 paths for an index of 5 vectors"):
        store.save_index(tmp_path, idx.build_flat_index(unit_vectors(5, 4)), np.zeros(5), paths=["a"] * 4)


def test_a_save_killed_before_its_commit_leaves_the_previous_index_and_the_next_save_cleans_up(tmp_path, monkeypatch):
    old = unit_vectors(30, 4, seed=1)
    store.save_index(tmp_path, idx.build_flat_index(old), np.zeros(30), threshold=0.5)
    real_write = store.atomic_write_many

    def killed_at_commit(files):
        if any(path.name == store.META_FILE for path in files):
            (tmp_path / ".index.json.abc123.tmp").write_text("{half")    # what a kill mid-write leaves
            raise KeyboardInterrupt
        real_write(files)

    monkeypatch.setattr(store, "atomic_write_many", killed_at_commit)
    with pytest.raises(KeyboardInterrupt):
        store.save_index(tmp_path, idx.build_flat_index(unit_vectors(40, 4, seed=2)), np.ones(40), threshold=0.9)
    loaded, meta = store.load_index(tmp_path)                    # the previous index, whole
    assert loaded.ntotal == 30 and meta["threshold"] == 0.5
    np.testing.assert_array_equal(loaded.reconstruct_n(0, 30), old)

    monkeypatch.setattr(store, "atomic_write_many", real_write)
    meta = store.save_index(tmp_path, idx.build_flat_index(unit_vectors(40, 4, seed=2)), np.ones(40))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([e["name"] for e in meta["files"].values()]
                                                                + ["index.json"])


def test_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    atomic_write_many({target: json_bytes({"version": 1})})

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_many({target: json_bytes({"version": 2})})
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_failed_index_write_leaves_the_previous_files(tmp_path, monkeypatch):
    store.save_index(tmp_path, idx.FlatIndex().build(unit_vectors(5, 4)), np.zeros(5))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(src, dst):
        raise KeyboardInterrupt  # Ctrl-C while renaming

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.save_index(tmp_path, idx.FlatIndex().build(unit_vectors(7, 4)), np.zeros(7))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_moved_directory_with_on_disk_lists_loads_and_answers_the_same(tmp_path):
    x, queries = unit_vectors(3000, 8), unit_vectors(20, 8, seed=9)
    first = tmp_path / "first"
    first.mkdir()
    ivfdata = first / "index.0123456789ab.ivfdata"
    index = idx.IVFFlatIndex(nlist=16, nprobe=4).build_on_disk(x, ivfdata)
    meta = store.save_index(first, index, np.zeros(3000), ivfdata=ivfdata)
    assert meta["files"]["ivfdata"]["name"] == ivfdata.name
    expected = idx.search(store.load_index(first)[0], queries, 5)
    shutil.move(first, tmp_path / "moved")
    for mmap in (False, True):
        got = idx.search(store.load_index(tmp_path / "moved", mmap=mmap)[0], queries, 5)
        assert np.array_equal(got[1], expected[1]) and np.allclose(got[0], expected[0])
