"""Nearest neighbours among feature vectors or images: the geometry behind two questions.

1. Fidelity and diversity, apart. The Fréchet distance folds two failures into one
   number, samples that look wrong and real variety that is missing. Precision and
   recall (Kynkäänniemi et al. 2019, "Improved precision and recall metric for
   assessing generative models", NeurIPS, arXiv:1904.06991, sec. 2) separate them.
   A set of feature vectors P estimates the region its distribution covers as a
   union of balls, one around each point, reaching out to the point's k-th nearest
   neighbour in the set (k = 3, the paper's choice):
       M(P) = union over p in P of B(p, NND_k(p)).
   Then
       precision = share of the samples that lie in M(real)     (do the samples look real?)
       recall    = share of the real points that lie in M(samples)  (is the real variety reached?)
   A generator drawing good copies of a single digit scores precision near 1 and recall
   near 0.1; one drawing every digit, badly, the reverse. Both depend on the sizes
   of the two sets (a sparser set draws bigger balls), so compare them only between
   evaluations of the same sizes.

2. Memorisation. The distance from a sample to its nearest training digit says little
   alone: real digits have near-twins too. The baseline is the same distance for the
   held-out test digits, real digits nobody copied:
       d(x)  = min over training digits t of ||x - t||,
       ratio = median d(samples) / median d(test digits),
       share = share of samples with d(x) below the 1st percentile of d(test digits).
   A ratio below 1 means the samples sit closer to the training digits than unseen
   real digits do; near 1 or above, no sign of copying. A generator that does not copy
   has a share near 0.01; one that copies, near 1.

Every distance comes from a block of squared distances computed as one matrix product,
    ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b,
instead of a (rows, N, D) array of differences. In float64 the expansion loses about
1e-16 (||a||^2 + ||b||^2) to cancellation, far below the distance between two
different digits (tests compare with plain loops). Blocks of rows keep the memory
bounded: at most `max_elements` numbers at a time (64 MB by default), never the whole
10,000 x 10,000 matrix (800 MB) or 10,000 x 60,000 one.
"""
import math

import numpy as np

BLOCK = 2**23  # float64 numbers in one block of distances: 64 MB


def _flat64(x):
    """(N, ...) array -> float64 (N, D) host array, one row per point."""
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def squared_distances(a, b):
    """||a_i - b_j||^2 for all pairs of rows: float64 (len(a), len(b)).

    Rounding can leave a tiny negative number where the distance is 0; it is clipped.
    """
    a, b = _flat64(a), _flat64(b)
    d2 = (-2 * a) @ b.T                                 # (Na, Nb); scaling a is cheaper than the product, and exact
    d2 += (a * a).sum(axis=1)[:, None]
    d2 += (b * b).sum(axis=1)[None, :]
    return np.maximum(d2, 0, out=d2)


def _row_blocks(a, b, max_elements):
    """(start, squared_distances(a[start:stop], b)) for consecutive blocks of a's rows,
    each block at most max_elements numbers (but at least one row)."""
    rows = max(1, max_elements // max(len(b), 1))
    for start in range(0, len(a), rows):
        yield start, squared_distances(a[start:start + rows], b)   # (<= rows, Nb)


def knn_radii(points, k=3, max_elements=BLOCK):
    """NND_k: each point's distance to its k-th nearest *other* point, float64 (N,).

    A point's distance to itself, 0, sorts first in its row, so NND_k is entry k of
    the sorted row (counting from 0); a duplicate of the point counts as a neighbour
    at distance 0.
    """
    points = _flat64(points)
    if not 1 <= k < len(points):
        raise ValueError(f"k-th neighbours need 1 <= k < number of points; k={k}, {len(points)} points")
    radii = np.empty(len(points))                                  # float64 (N,)
    for start, d2 in _row_blocks(points, points, max_elements):
        radii[start:start + len(d2)] = np.partition(d2, k, axis=1)[:, k]
    return np.sqrt(radii)


def precision_recall(real, fake, k=3, real_radii=None, max_elements=BLOCK):
    """(precision, recall) of the samples `fake` (M, D) against `real` (N, D), as floats.

    precision = mean over fake f of [f in M(real)], recall = mean over real r of [r in M(fake)],
    M the union of closed k-nearest-neighbour balls (module docstring): a point exactly on
    a ball's boundary is inside. real_radii: knn_radii(real, k), if already known (the
    real set is usually the same from one evaluation to the next).
    """
    precise, recalled = manifold_members(real, fake, k, real_radii, max_elements)
    return float(precise.mean()), float(recalled.mean())


def manifold_members(real, fake, k=3, real_radii=None, max_elements=BLOCK):
    """The terms behind precision_recall, point by point: (bool (M,): fake f in M(real),
    bool (N,): real r in M(fake))."""
    real, fake = _flat64(real), _flat64(fake)
    real_r2 = (knn_radii(real, k, max_elements) if real_radii is None else np.asarray(real_radii, np.float64)) ** 2
    fake_r2 = knn_radii(fake, k, max_elements) ** 2                    # (M,); squares: no sqrt per pair
    precise = np.empty(len(fake), dtype=bool)                           # fake f lies in M(real)
    recalled = np.zeros(len(real), dtype=bool)                          # real r lies in M(fake)
    # One matrix of fake-to-real distances answers both: along a row, whether the fake
    # point is in some real ball; down a column, whether the real point is in some fake ball.
    for start, d2 in _row_blocks(fake, real, max_elements):             # (rows, N)
        rows = slice(start, start + len(d2))
        precise[rows] = (d2 <= real_r2).any(axis=1)
        recalled |= (d2 <= fake_r2[rows, None]).any(axis=0)
    return precise, recalled


def nearest_neighbours(queries, reference, max_elements=BLOCK):
    """For each query row, its nearest reference row: (distances float64 (Nq,), indices int64 (Nq,)).

    Ties go to the lowest index. The queries are converted to float64 whole; the
    reference (say 60,000 images in float32) a chunk at a time, so it is never
    copied whole.
    """
    queries = _flat64(queries)
    best = np.full(len(queries), np.inf)                           # float64 (Nq,), squared
    index = np.zeros(len(queries), dtype=np.int64)
    chunk = max(1, math.isqrt(max_elements))                       # reference rows at a time
    for j0 in range(0, len(reference), chunk):
        ref = _flat64(reference[j0:j0 + chunk])                    # (<= chunk, D)
        for i0, d2 in _row_blocks(queries, ref, max_elements):     # (rows, <= chunk)
            j = d2.argmin(axis=1)
            d = d2[np.arange(len(d2)), j]
            rows = slice(i0, i0 + len(d2))
            closer = d < best[rows]                                # strict: an earlier chunk keeps a tie
            best[rows] = np.where(closer, d, best[rows])
            index[rows] = np.where(closer, j0 + j, index[rows])
    return np.sqrt(best), index


def copy_statistics(sample_dist, real_dist):
    """How much closer the samples sit to the training set than unseen real data does.

    sample_dist, real_dist: each sample's and each held-out real point's distance to
    its nearest training point. Returns {"ratio": median(sample_dist) / median(real_dist),
    "share_closer": share of samples with a distance below the 1st percentile of
    real_dist} (module docstring, part 2).
    """
    sample_dist, real_dist = np.asarray(sample_dist, np.float64), np.asarray(real_dist, np.float64)
    return {"ratio": float(np.median(sample_dist) / np.median(real_dist)),
            "share_closer": float((sample_dist < np.percentile(real_dist, 1)).mean())}
