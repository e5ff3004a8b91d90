"""FAISS indexes: search, distance conversion, every type's build and round trip, recall, index=auto,
and the on-disk build from shards."""
import numpy as np
import pytest

from helpers import clustered, unit_vectors
from siamese import index as idx
from siamese import index_store as store
from siamese.vectors import ArrayVectors, ShardVectors, exact_knn


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
    store.save_index(tmp_path, index, np.arange(800) % 3)
    loaded, meta = store.load_index(tmp_path)
    mapped, _ = store.load_index(tmp_path, mmap=True)           # what a matcher opens: memory-mapped, read-only
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


def write_shards(folder, x, parts):
    """``x`` cut into ``parts`` consecutive ``.npy`` shards (the layout an export writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, piece in enumerate(np.array_split(x, parts)):
        paths.append(folder / f"part-{k:05d}.emb.npy")
        np.save(paths[-1], piece)
    return paths


def test_an_on_disk_build_from_four_shards_answers_like_the_in_memory_index(tmp_path):
    x, queries = clustered(200_000, 16, identities=500), clustered(200, 16, identities=500, seed=3)
    shards = ShardVectors(write_shards(tmp_path / "shards", x, 4))
    assert len(shards) == 200_000 and np.array_equal(shards.take(np.array([5, 199_999, 50_000])),
                                                      x[[5, 199_999, 50_000]])
    spec = dict(nlist=256, nprobe=8, train_size=20_000)
    in_memory = idx.IVFFlatIndex(**spec).build(x)
    on_disk_spec = idx.IVFFlatIndex(**spec, max_memory="40MB")           # one block a shard (50 k rows)
    on_disk = on_disk_spec.build_on_disk(shards, tmp_path / "index.0123456789ab.ivfdata")
    assert on_disk_spec.params["on_disk"] and (tmp_path / "index.0123456789ab.ivfdata").stat().st_size > 0
    d0, i0 = idx.search(in_memory, queries, 10)
    d1, i1 = idx.search(on_disk, queries, 10)
    assert np.array_equal(i0, i1) and np.allclose(d0, d1, atol=1e-6)
    assert not list(tmp_path.glob(".blocks.*"))                          # temporary blocks removed


def test_streamed_exact_search_equals_one_flat_search(tmp_path):
    x, queries = unit_vectors(5000, 8), unit_vectors(30, 8, seed=1)
    paths = []
    for k, piece in enumerate((x[:1000], x[1000:1000], x[1000:1001], x[1001:])):       # uneven, one empty
        paths.append(tmp_path / f"part-{k}.emb.npy")
        np.save(paths[-1], piece)
    shards = ShardVectors(paths)
    assert len(shards) == 5000 and np.array_equal(np.concatenate([c for _, c in shards.chunks(700)]), x)
    for metric in ("l2", "ip"):
        expected = idx.FlatIndex(metric=metric).build(x).search(queries, 7)
        for vectors in (ArrayVectors(x), shards):
            values, rows = exact_knn(queries, vectors, 7, idx.METRICS[metric])
            assert np.array_equal(rows, expected[1]) and np.allclose(values, expected[0], atol=1e-5)


def test_max_memory_picks_ivfpq_for_auto_and_refuses_an_in_memory_build_that_cannot_fit():
    x = clustered(3000, 16, identities=30)
    auto = idx.AutoIndex(flat_below=1000, max_memory="100KB", queries=100, target_recall=0.5)
    assert isinstance(auto.choose(*x.shape), idx.IVFPQIndex)     # 3000 × 16 × 4 = 192 KB > 100 KB
    assert isinstance(idx.AutoIndex(flat_below=1000, max_memory="1MB").choose(*x.shape), idx.IVFFlatIndex)
    with pytest.raises(MemoryError, match=r"index=flat: holding 3,000 × 16 vectors in memory needs about 192\.0 kB "
                                          r"but index\.max_memory=100\.0 kB"):
        idx.FlatIndex(max_memory="100KB").build(x)
    with pytest.raises(ValueError, match=r"index\.max_memory must be a size like 2GB, 512MiB .* got '2 bananas'"):
        idx.FlatIndex(max_memory="2 bananas")
    assert idx.parse_bytes("k", "1.5GiB") == 3 * 2 ** 29 and idx.parse_bytes("k", 1000) == 1000


def test_auto_with_a_target_out_of_reach_warns_and_takes_the_fastest_nprobe_near_the_best_recall():
    x = clustered(20000, 16, identities=200)
    spec = idx.AutoIndex(flat_below=5000, layout="ivfpq", max_memory="1GB", target_recall=1.0, queries=200)
    with pytest.warns(UserWarning, match=r"index=auto \(ivfpq\): no nprobe reaches index\.target_recall=1\.0 "
                                         r"\(best recall@10 0\.\d+\); using nprobe \d+"):
        index = spec.build(x)
    assert spec.params["layout"] == "ivfpq" and index.nprobe == spec.params["nprobe"] < spec.params["nlist"]
    probed = [n for n, _, _ in spec.params["tuning"]]
    assert probed[-1] < spec.params["nlist"]                        # stopped where recall flattened out
    best = idx.measure_recall(index, x, k=10, sample=200)
    index.nprobe = spec.params["nlist"]                             # every cell: no better than 0.01 more
    assert idx.measure_recall(index, x, k=10, sample=200) <= best + idx.TARGET_SLACK + 1e-9


def test_an_on_disk_ivfpq_answers_like_the_in_memory_one(tmp_path):
    x, queries = clustered(20_000, 16, identities=100), clustered(100, 16, identities=100, seed=3)
    spec = dict(nlist=64, m=8, nbits=6, nprobe=8, train_size=5000)
    on_disk = idx.IVFPQIndex(**spec, max_memory="5MB").build_on_disk(x, tmp_path / "index.0123456789ab.ivfdata")
    d0, i0 = idx.search(idx.IVFPQIndex(**spec).build(x), queries, 10)
    d1, i1 = idx.search(on_disk, queries, 10)
    assert np.array_equal(i0, i1) and np.allclose(d0, d1, atol=1e-5)
    assert on_disk.precomputed_table.size() == 64 * 8 * 2 ** 6          # search tables rebuilt after the merge
