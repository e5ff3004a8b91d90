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
