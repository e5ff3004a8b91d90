"""FAISS export: round trip, distance conversion, metadata checks, atomic writes."""
import json
import os

import numpy as np
import pytest

from siamese import index as idx
from siamese.atomic import atomic_write_many, json_bytes


def unit_vectors(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_search_returns_euclidean_distances_of_the_true_neighbours():
    gallery, queries = unit_vectors(200, 16), unit_vectors(10, 16, seed=1)
    dist, ids = idx.search(idx.build_flat_index(gallery), queries, k=5)
    brute = np.linalg.norm(queries[:, None, :] - gallery[None, :, :], axis=2)
    assert np.array_equal(ids, np.argsort(brute, axis=1)[:, :5])
    assert np.allclose(dist, np.sort(brute, axis=1)[:, :5], atol=1e-5)


def test_leave_one_out_never_returns_the_query_itself():
    gallery = unit_vectors(50, 4, seed=3)
    gallery[7] = gallery[8]                       # a duplicate: its twin must still come back
    dist, ids = idx.search(idx.build_flat_index(gallery), gallery, k=5, exclude_ids=np.arange(50))
    assert ids.shape == (50, 5)
    assert not (ids == np.arange(50)[:, None]).any()
    assert ids[7, 0] == 8 and ids[8, 0] == 7 and dist[7, 0] == pytest.approx(0.0, abs=1e-6)
    brute = np.linalg.norm(gallery[:, None] - gallery[None], axis=2)
    np.fill_diagonal(brute, np.inf)
    assert np.allclose(dist, np.sort(brute, axis=1)[:, :5], atol=1e-5)


def test_saved_index_loads_and_answers_the_same(tmp_path):
    gallery, queries = unit_vectors(300, 8), unit_vectors(20, 8, seed=2)
    labels = np.arange(300) % 7
    index = idx.build_flat_index(gallery)
    idx.save_index(tmp_path, index, labels, checkpoint="ckpt/best.ckpt", threshold=0.7)
    loaded, meta = idx.load_index(tmp_path)
    d0, i0 = idx.search(index, queries, 10)
    d1, i1 = idx.search(loaded, queries, 10)
    assert np.array_equal(i0, i1) and np.array_equal(d0, d1)
    assert meta["labels"] == labels.tolist() and meta["dim"] == 8 and meta["count"] == 300
    assert meta["checkpoint"] == "ckpt/best.ckpt" and meta["threshold"] == 0.7


def test_metadata_that_disagrees_with_the_index_is_refused(tmp_path):
    idx.save_index(tmp_path, idx.build_flat_index(unit_vectors(5, 4)), np.zeros(5))
    meta = json.loads((tmp_path / "index.json").read_text())
    meta["count"] = 6
    (tmp_path / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"index\.[0-9a-f]{12}\.faiss holds 5 vectors of dim 4 but index\.json says "
                                         r"count=6"):
        idx.load_index(tmp_path)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"index\.json' is missing: not an index directory"):
        idx.load_index(tmp_path)
    meta = idx.save_index(tmp_path, idx.build_flat_index(unit_vectors(5, 4)), np.zeros(5))
    (tmp_path / meta["index_file"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"index\.[0-9a-f]{12}\.faiss' is missing: .*index\.json names it"):
        idx.load_index(tmp_path)


def test_a_save_killed_before_its_commit_leaves_the_previous_index_and_the_next_save_cleans_up(tmp_path, monkeypatch):
    old = unit_vectors(30, 4, seed=1)
    idx.save_index(tmp_path, idx.build_flat_index(old), np.zeros(30), threshold=0.5)
    real_write = idx.atomic_write_many

    def killed_at_commit(files):
        if any(path.name == idx.META_FILE for path in files):
            (tmp_path / ".index.json.abc123.tmp").write_text("{half")    # what a kill mid-write leaves
            raise KeyboardInterrupt
        real_write(files)

    monkeypatch.setattr(idx, "atomic_write_many", killed_at_commit)
    with pytest.raises(KeyboardInterrupt):
        idx.save_index(tmp_path, idx.build_flat_index(unit_vectors(40, 4, seed=2)), np.ones(40), threshold=0.9)
    loaded, meta = idx.load_index(tmp_path)                    # the previous index, whole
    assert loaded.ntotal == 30 and meta["threshold"] == 0.5
    np.testing.assert_array_equal(loaded.reconstruct_n(0, 30), old)

    monkeypatch.setattr(idx, "atomic_write_many", real_write)
    meta = idx.save_index(tmp_path, idx.build_flat_index(unit_vectors(40, 4, seed=2)), np.ones(40))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([meta["index_file"], "index.json"])


def test_a_damaged_index_file_is_named_not_a_raw_faiss_error(tmp_path):
    meta = idx.save_index(tmp_path, idx.build_flat_index(unit_vectors(50, 8)), np.zeros(50))
    path = tmp_path / meta["index_file"]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"sha256 differs"):
        idx.load_index(tmp_path)
    del meta["index_sha256"]                                    # older directories have no sha
    (tmp_path / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"not a readable FAISS index \(truncated or damaged"):
        idx.load_index(tmp_path)


def test_label_count_must_match(tmp_path):
    with pytest.raises(ValueError, match="3 labels for an index of 5 vectors"):
        idx.save_index(tmp_path, idx.build_flat_index(unit_vectors(5, 4)), np.zeros(3))


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


SPECS = {
    "flat": lambda: idx.FlatIndex(),
    "flat-ip": lambda: idx.FlatIndex(metric="ip"),
    "ivf": lambda: idx.IVFFlatIndex(nlist=8, nprobe=4),
    "hnsw": lambda: idx.HNSWIndex(M=8, ef_construction=40, ef_search=32),
    "ivfpq": lambda: idx.IVFPQIndex(nlist=4, m=4, nbits=6, nprobe=4),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_index_type_round_trips_with_identical_results(name, tmp_path):
    gallery, queries = unit_vectors(800, 16, seed=4), unit_vectors(25, 16, seed=5)
    index = SPECS[name]().build(gallery)
    assert index.is_trained and index.ntotal == 800
    idx.save_index(tmp_path, index, np.arange(800) % 3)
    loaded, meta = idx.load_index(tmp_path)
    mapped, _ = idx.load_index(tmp_path, mmap=True)           # what a matcher opens: memory-mapped, read-only
    d0, i0 = idx.search(index, queries, 10)
    for other in (loaded, mapped):
        d1, i1 = idx.search(other, queries, 10)
        assert np.array_equal(i0, i1) and np.array_equal(d0, d1)
    assert meta["metric"] == ("ip" if name == "flat-ip" else "l2")


def test_inner_product_distances_are_converted_to_euclidean():
    gallery, queries = unit_vectors(100, 8), unit_vectors(5, 8, seed=1)
    d_ip, i_ip = idx.search(idx.FlatIndex(metric="ip").build(gallery), queries, 4)
    d_l2, i_l2 = idx.search(idx.FlatIndex().build(gallery), queries, 4)
    assert np.array_equal(i_ip, i_l2) and np.allclose(d_ip, d_l2, atol=1e-5)


def test_trained_indexes_are_trained_on_a_sample_before_adding():
    spec = idx.IVFFlatIndex(nlist=4, nprobe=2, train_size=200)
    index = spec.build(unit_vectors(600, 8))
    assert index.is_trained and index.ntotal == 600 and spec.params["train_size"] == 200


def test_small_gallery_lowers_nlist_with_a_warning_or_fails_when_pinned():
    x = unit_vectors(400, 8)
    spec = idx.IVFFlatIndex(nlist=64, nprobe=16)
    with pytest.warns(UserWarning, match=r"lowering nlist from 64 to 10"):
        spec.build(x)
    assert spec.params["nlist"] == 10 and spec.params["nprobe"] == 10
    with pytest.raises(ValueError, match=r"index\.nlist=64 needs ~2496 training vectors .* but 400 are available"):
        idx.IVFFlatIndex(nlist=64, pin_nlist=True).build(x)
    with pytest.raises(ValueError, match=r"nbits=8 needs at least 256 training vectors, got 100"):
        idx.IVFPQIndex(nlist=1, m=4, nbits=8).build(x[:100])
    with pytest.raises(ValueError, match=r"index\.m=3 must divide the embedding dimension 8"):
        idx.IVFPQIndex(nlist=1, m=3, nbits=4).build(x)


def test_measured_recall_equals_a_hand_count():
    """Two clusters far apart; an IVF probing 1 of 2 cells finds all true neighbours of each point."""
    x = np.concatenate([unit_vectors(60, 4, seed=1) * 0.01 + [1, 0, 0, 0],
                        unit_vectors(60, 4, seed=2) * 0.01 - [1, 0, 0, 0]]).astype(np.float32)
    ivf = idx.IVFFlatIndex(nlist=2, nprobe=1).build(x)
    assert idx.measure_recall(ivf, x, k=5, sample=120) == 1.0

    class HalfWrong:
        """Returns the exact top-k with its second half replaced by ids that are never neighbours."""
        metric_type = ivf.metric_type

        def search(self, q, k):
            exact = idx.FlatIndex().build(x)
            dist, ids = exact.search(q, k)
            ids[:, k // 2:] = np.where(ids[:, :1] < 60, 119, 0)  # a point of the other cluster
            return dist, ids

    # k = 4: slots 1-2 stay true neighbours, slots 3-4 hold an other-cluster id → 2 of 4 found
    assert idx.measure_recall(HalfWrong(), x, k=4, sample=120) == 0.5


def test_no_result_ids_never_get_a_label():
    assert idx.labels_of(np.array([[2, -1]]), np.array([7, 8, 9])).tolist() == [[9, -1]]


def test_failed_index_write_leaves_both_previous_files(tmp_path, monkeypatch):
    idx.save_index(tmp_path, idx.FlatIndex().build(unit_vectors(5, 4)), np.zeros(5))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(src, dst):
        raise KeyboardInterrupt  # Ctrl-C while renaming

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        idx.save_index(tmp_path, idx.FlatIndex().build(unit_vectors(7, 4)), np.zeros(7))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_empty_gallery_is_a_clear_error():
    with pytest.raises(ValueError, match=r"embeddings must be a non-empty \(N, D\) array"):
        idx.FlatIndex().build(np.zeros((0, 4), dtype=np.float32))


def test_recall_below_the_floor_is_warned(tmp_path):
    x = unit_vectors(2000, 16)            # uniform points: the hard case for IVF with one probe
    spec = idx.IVFFlatIndex(nlist=32, nprobe=1)
    index = spec.build(x)
    with pytest.warns(UserWarning, match=r"index=ivf: recall@10 against exact search is 0\.\d+, "
                                         r"below recall_check\.floor=0\.99"):
        meta = idx.index_description(spec, x, index, k=10, sample=200, floor=0.99)
    assert meta["recall_at_10"] < 0.99 and meta["index_params"]["nprobe"] == 1


def clustered(n, d, identities, seed=0):
    """Embedding-like vectors: identities' centres on the sphere, members spread around them, unit norm."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, d))
    x = centres[rng.integers(0, identities, n)] + 0.35 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_auto_index_falls_back_to_flat_when_tiny_and_meets_its_recall_target_when_large():
    tiny = idx.AutoIndex(flat_below=1000)
    assert isinstance(tiny.build(unit_vectors(300, 8)), idx.faiss.IndexFlat) and tiny.params["layout"] == "flat"

    x = clustered(20000, 16, identities=200)
    spec = idx.AutoIndex(flat_below=5000, target_recall=0.95, queries=300)
    index = spec.build(x)
    assert spec.params["layout"] == "ivf" and spec.params["nlist"] == 512      # 4·√20000 ≈ 566 → 2^9
    assert spec.params["recall"] >= 0.95 and 1 <= spec.params["nprobe"] < spec.params["nlist"]
    assert idx.measure_recall(index, x, k=10, sample=500, seed=1) >= 0.93    # on other queries too
    with pytest.raises(ValueError, match=r"index\.target_recall must be in \(0, 1\], got 1\.5"):
        idx.AutoIndex(target_recall=1.5)
