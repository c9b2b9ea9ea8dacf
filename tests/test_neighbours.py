"""Nearest-neighbour distances, precision and recall, copy statistics: known answers and plain loops."""
import numpy as np
import pytest

from nanogan.eval.neighbours import copy_statistics, knn_radii, nearest_neighbours, precision_recall, squared_distances


def line(*xs):
    """Points on a line as (N, 1) float64 feature vectors."""
    return np.array(xs, dtype=np.float64)[:, None]


# Hand-checked with k = 3. Real points 0, 2, ..., 10: the 3rd nearest other point is 6 away
# for the two ends and 4 away for the rest, so M(real) = [-6, 16]. Fake points: two clusters
# of four, 0..3 and 100..103, with radii 3, 2, 2, 3 in each, so M(fake) = [-3, 6] u [97, 106].
REAL = line(0, 2, 4, 6, 8, 10)
FAKE = line(0, 1, 2, 3, 100, 101, 102, 103)


def test_knn_radii_on_a_line():
    for points, expected in ((REAL, [6, 4, 4, 4, 4, 6]), (FAKE, [3, 2, 2, 3, 3, 2, 2, 3])):
        got = knn_radii(points, k=3)
        assert got.dtype == np.float64 and got.tolist() == expected, (got.tolist(), expected)
    assert knn_radii(line(0, 1, 3, 7), k=1).tolist() == [1, 1, 2, 4]


def test_precision_recall_on_a_line():
    """Precision: 4 of the 8 fakes (0..3) lie in [-6, 16]. Recall: 4 of the 6 real points
    (0, 2, 4, 6) lie in M(fake); 6 only on the boundary of the ball B(3, 3), which counts
    (closed balls, as in the paper)."""
    precision, recall = precision_recall(REAL, FAKE, k=3)
    assert (precision, recall) == (0.5, 4 / 6), (precision, recall)
    # the same with 6 moved off the boundary: recall drops to 3 of 6
    precision, recall = precision_recall(line(0, 2, 4, 6.5, 8, 10), FAKE, k=3)
    assert (precision, recall) == (0.5, 3 / 6), (precision, recall)


def test_identical_sets_score_one_and_far_apart_sets_zero():
    x = np.random.default_rng(0).standard_normal((300, 16))
    assert precision_recall(x, x.copy()) == (1.0, 1.0)
    far = precision_recall(x, x + 1000)                    # the sets' balls have radii of a few units
    assert far == (0.0, 0.0), far


def test_a_subset_has_full_precision():
    x = np.random.default_rng(1).standard_normal((200, 8))
    precision, recall = precision_recall(x, x[:50])
    assert precision == 1.0 and 0 < recall < 1, (precision, recall)


def test_blocks_do_not_change_the_answer():
    """A block of 7 numbers (rows of one point) against the default 64 MB one. The matrix
    products round differently at different shapes, so distances agree to rounding."""
    rng = np.random.default_rng(2)
    real, fake = rng.standard_normal((60, 5)), rng.standard_normal((45, 5)) + 0.5
    np.testing.assert_allclose(knn_radii(real, max_elements=7), knn_radii(real), rtol=1e-12)
    assert precision_recall(real, fake, max_elements=7) == precision_recall(real, fake)
    d, i = nearest_neighbours(fake, real, max_elements=7)
    d_ref, i_ref = nearest_neighbours(fake, real)
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-12)


def test_squared_distances_against_a_loop():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((7, 3, 4)), rng.standard_normal((5, 12)).astype(np.float32)  # rows flattened
    loop = np.array([[((ai.ravel() - bj.astype(np.float64)) ** 2).sum() for bj in b] for ai in a])
    got = squared_distances(a, b)
    assert got.dtype == np.float64 and got.shape == (7, 5)
    np.testing.assert_allclose(got, loop, rtol=1e-12, atol=1e-12)
    assert squared_distances(a, a).diagonal().max() < 1e-12     # 0 up to rounding, never negative
    assert squared_distances(a, a).min() >= 0


def test_nearest_neighbours_against_a_loop():
    """Digit-like data: pixels in [0, 1], float32 reference, 784 dimensions, with planted copies."""
    rng = np.random.default_rng(4)
    train = rng.uniform(0, 1, (300, 1, 28, 28)).astype(np.float32)
    queries = rng.uniform(0, 1, (40, 28, 28))
    queries[:5] = train[[7, 0, 299, 150, 7], 0]                # exact copies: distance 0
    d, i = nearest_neighbours(queries, train, max_elements=5000)
    flat = train.reshape(300, -1).astype(np.float64)
    for q in range(40):
        dist = np.sqrt(((flat - queries[q].ravel()) ** 2).sum(axis=1))  # (300,)
        assert i[q] == dist.argmin(), (q, i[q], dist.argmin())
        assert d[q] == pytest.approx(dist.min(), abs=1e-6), (q, d[q], dist.min())
    assert i[:5].tolist() == [7, 0, 299, 150, 7] and d[:5].max() < 1e-6, (i[:5], d[:5])
    assert d.dtype == np.float64 and i.dtype == np.int64


def test_nearest_neighbour_ties_go_to_the_lowest_index():
    d, i = nearest_neighbours(line(1.0, 5.0), line(0, 2, 4, 6, 4), max_elements=2)
    assert i.tolist() == [0, 2] and d.tolist() == [1, 1], (i, d)


def test_copy_statistics():
    real = np.arange(1, 101, dtype=np.float64)                 # median 50.5, 1st percentile 1.99
    assert copy_statistics(real, real) == {"ratio": 1.0, "share_closer": 0.01}
    copies = np.r_[np.zeros(30), np.full(70, 50.5)]             # 30 copies, the rest ordinary
    assert copy_statistics(copies, real) == {"ratio": 1.0, "share_closer": 0.3}
    assert copy_statistics(real / 2, real)["ratio"] == 0.5
