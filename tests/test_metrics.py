"""Metrics against hand-computed examples and scikit-learn as an independent oracle."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from siamese import metrics

# Hand example: same pairs at 0.1, 0.4, 0.35; different pairs at 0.3, 0.8, 0.9.
DIST = np.array([0.1, 0.3, 0.4, 0.8, 0.35, 0.9])
Y = np.array([1, 0, 1, 0, 1, 0])


def test_auc_hand_example():
    # 9 (same, different) orderings; same is closer in 7 of them (0.4 and 0.35 lose to 0.3)
    assert metrics.roc_auc(DIST, Y) == pytest.approx(7 / 9)


def test_roc_curve_hand_example():
    far, tar, thr = metrics.roc_curve(DIST, Y)
    # thresholds in increasing distance; accepting dist <= t
    assert np.allclose(thr[1:], [0.1, 0.3, 0.35, 0.4, 0.8, 0.9])
    assert np.allclose(far, [0, 0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 1])
    assert np.allclose(tar, [0, 1 / 3, 1 / 3, 2 / 3, 1, 1, 1])
    assert thr[0] == -np.inf


def test_eer_hand_example():
    # at t=0.35: far = 1/3, frr = 1/3 exactly
    eer, thr = metrics.equal_error_rate(DIST, Y)
    assert eer == pytest.approx(1 / 3)
    assert thr == pytest.approx(0.35)


def test_best_threshold_and_accuracy_hand_example():
    thr, acc = metrics.best_threshold(DIST, Y)
    # accept <= 0.4 (midpoint 0.6 between 0.4 and 0.8): 3 same right, 0.3 wrongly accepted → 5/6
    assert acc == pytest.approx(5 / 6) and thr == pytest.approx(0.6)
    assert metrics.accuracy_at(DIST, Y, 0.6) == pytest.approx(5 / 6)
    assert metrics.accuracy_at(DIST, Y, 0.05) == pytest.approx(3 / 6)


def test_best_threshold_never_splits_tied_distances():
    thr, acc = metrics.best_threshold([0.5, 0.5, 0.2], [1, 0, 1])
    assert acc == pytest.approx(2 / 3)  # the tie at 0.5 goes one way: accept both or neither
    assert thr == pytest.approx(0.35) or thr > 0.5


def test_perfect_separation():
    dist = np.array([0.1, 0.2, 0.3, 1.1, 1.2])
    y = np.array([1, 1, 1, 0, 0])
    assert metrics.roc_auc(dist, y) == 1.0
    assert metrics.equal_error_rate(dist, y)[0] == 0.0
    assert metrics.best_threshold(dist, y)[1] == 1.0


@pytest.mark.parametrize("seed", range(3))
def test_auc_and_roc_agree_with_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    dist = np.abs(rng.normal(1.0 - 0.4 * y, 0.5))
    assert metrics.roc_auc(dist, y) == pytest.approx(roc_auc_score(y, -dist), abs=1e-6)
    far, tar, thr = metrics.roc_curve(dist, y)
    sk_far, sk_tar, sk_thr = sk_roc_curve(y, -dist, drop_intermediate=False)
    assert np.allclose(far, sk_far) and np.allclose(tar, sk_tar)
    assert np.allclose(thr[1:], -sk_thr[1:])


def test_precision_at_1_hand_example():
    q = np.array([0, 1, 2, 2])
    nb = np.array([[0, 1], [2, 1], [2, 0], [2, 2]])
    assert metrics.precision_at_1(q, nb) == pytest.approx(3 / 4)


@pytest.mark.parametrize("dist,y,match", [
    ([0.1, 0.2], [1, 1], r"all 2 pairs have label 1"),
    ([0.1, np.nan], [1, 0], r"1 pair distance\(s\) are NaN or infinite"),
    ([], [], r"no pairs to evaluate"),
    ([0.1, 0.2], [1, 2], r"pair labels must be 0 \(different\) or 1 \(same\)"),
    ([0.1, 0.2, 0.3], [1, 0], r"differ in length: 3 vs 2"),
    ([-0.1, 0.2], [1, 0], r"distances must be >= 0"),
])
def test_degenerate_input_is_an_error_not_a_number(dist, y, match):
    for fn in (metrics.roc_auc, metrics.equal_error_rate, metrics.best_threshold):
        with pytest.raises(ValueError, match=match):
            fn(dist, y)


def test_precision_at_1_rejects_empty_queries():
    with pytest.raises(ValueError, match="no queries"):
        metrics.precision_at_1([], np.zeros((0, 1)))


def test_tar_at_far_hand_example_and_not_measurable():
    # 10 different pairs at 1..10, 4 same pairs at 0.5, 1.5, 2.5, 20
    dist = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0.5, 1.5, 2.5, 20.0])
    y = np.array([0] * 10 + [1] * 4)
    out = metrics.tar_at_far(dist, y, fars=(0.1, 0.2, 0.15, 0.01))
    assert out[0.1] == pytest.approx(2 / 4)    # accept <= 1.5: one false accept (1.0), two same
    assert out[0.2] == pytest.approx(3 / 4)    # accept <= 2.5
    assert out[0.15] == pytest.approx(2.5 / 4)  # halfway between the two vertices
    assert out[0.01] is None                    # 10 different pairs cannot measure a FAR of 1 %


def test_kfold_agrees_with_a_scikit_learn_kfold_oracle():
    from sklearn.model_selection import KFold

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    dist = np.abs(rng.normal(1.0 - 0.5 * y, 0.4))
    fold_ids = np.empty(300, dtype=int)
    expected = []
    for k, (train, test) in enumerate(KFold(n_splits=10, shuffle=True, random_state=0).split(dist)):
        fold_ids[test] = k
        # brute force: every candidate cut between sorted training distances
        cands = np.concatenate([[-1.0], np.sort(dist[train]) + 1e-12])
        accs = [np.mean((dist[train] <= c) == (y[train] == 1)) for c in cands]
        best = cands[int(np.argmax(accs))]
        expected.append(np.mean((dist[test] <= best) == (y[test] == 1)))
    got = metrics.kfold_accuracy(dist, y, fold_ids=fold_ids)
    assert got["mean"] == pytest.approx(np.mean(expected), abs=0.01)
    assert len(got["accuracies"]) == 10
    # each fold's threshold reaches the training folds' best accuracy
    for k in range(10):
        train = fold_ids != k
        t = got["thresholds"][k]
        assert np.mean((dist[train] <= t) == (y[train] == 1)) == pytest.approx(
            max(np.mean((dist[train] <= c) == (y[train] == 1)) for c in dist[train]), abs=1e-12)


def test_kfold_without_fold_ids_is_seeded():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    dist = rng.random(100)
    a = metrics.kfold_accuracy(dist, y, folds=10, seed=1)
    assert a == metrics.kfold_accuracy(dist, y, folds=10, seed=1)
    assert 0 <= a["std"] and len(a["accuracies"]) == 10


def test_recall_at_k_and_map_at_r_hand_example():
    q = np.array([0, 1])
    nb = np.array([[0, 1, 0, 0, 1],
                   [0, 0, 1, 1, 0]])
    assert metrics.recall_at_k(q, nb, ks=(1, 3)) == {1: 0.5, 3: 1.0}
    # query 0, R=3: relevant at ranks 1 and 3 → (1/1 + 2/3) / 3; query 1, R=2: none in the top 2 → 0
    assert metrics.map_at_r(q, nb, [3, 2]) == pytest.approx(((1 + 2 / 3) / 3 + 0) / 2)


def test_perfect_retrieval_scores_one():
    q = np.array([0, 1, 2])
    nb = np.array([[0, 0, 1], [1, 1, 2], [2, 0, 1]])
    assert metrics.map_at_r(q, nb, [2, 2, 1]) == 1.0 and metrics.precision_at_1(q, nb) == 1.0


def test_map_at_r_needs_r_neighbours_and_a_relevant_item():
    with pytest.raises(ValueError, match="MAP@R needs 3 neighbours per query, got 2"):
        metrics.map_at_r([0], [[0, 0]], [3])
    with pytest.raises(ValueError, match="no query has a same-class item"):
        metrics.map_at_r([0], [[1, 1]], [0])


def test_one_shot_random_embeddings_score_chance_and_separated_score_one():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(20), 10)
    noise = metrics.one_shot_accuracy(rng.normal(size=(200, 16)), labels, n_way=5, trials=2000)
    assert noise["accuracy"] == pytest.approx(1 / 5, abs=0.03)
    centres = rng.normal(size=(20, 16)) * 10
    separated = centres[labels] + rng.normal(size=(200, 16)) * 0.01
    assert metrics.one_shot_accuracy(separated, labels, n_way=5, trials=300)["accuracy"] == 1.0


def test_one_shot_collapsed_embeddings_score_chance_not_one():
    labels = np.repeat(np.arange(5), 4)
    out = metrics.one_shot_accuracy(np.zeros((20, 3)), labels, n_way=5, trials=50)
    assert out["accuracy"] == pytest.approx(1 / 5)


def test_one_shot_errors_and_single_image_classes():
    labels = np.array([0, 0, 1, 2])
    out = metrics.one_shot_accuracy(np.eye(4), labels, n_way=3, trials=10)
    assert out["single_image_classes"] == 2 and out["n_way"] == 3
    with pytest.raises(ValueError, match="5-way one-shot needs 5 classes, the data has 3"):
        metrics.one_shot_accuracy(np.eye(4), labels, n_way=5)
    with pytest.raises(ValueError, match="at least 2 images"):
        metrics.one_shot_accuracy(np.eye(3), [0, 1, 2], n_way=2)


def test_kfold_with_a_one_label_complement_says_which_fold():
    with pytest.raises(ValueError, match=r"the pairs outside fold 1 are all of one label"):
        metrics.kfold_accuracy([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 1], fold_ids=[0, 0, 1, 1])
