"""Minibatch discrimination: gradient check, a loop reference, and what the layer is for."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nanogan.backend import get_xp, make_rng, to_host
from nanogan.nn.minibatch import EPS, MinibatchDiscrimination, euclidean_features, minibatch_features
from helpers import DEVICES, check_gradients

F64 = np.float64


def rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)  # float64


def naive_minibatch_features(f, T, distance="l1"):
    """The definitions as loops: o_{i,b} = 1/(N-1) sum_{j != i} c_b(i, j), with
    c = exp(-sum_c |M_{i,b,c} - M_{j,b,c}|) (l1) or exp(eps - sqrt(sum_c (M_{i,b,c} - M_{j,b,c})^2 + eps^2)) (l2)."""
    N, (A, B, C) = len(f), T.shape
    M = np.einsum("na,abc->nbc", f, T)
    o = np.zeros((N, B))
    for i in range(N):
        for j in range(N):
            if j != i:
                for b in range(B):
                    d = M[i, b] - M[j, b]
                    o[i, b] += np.exp(-np.abs(d).sum() if distance == "l1" else EPS - np.sqrt((d * d).sum() + EPS**2))
    return o / max(N - 1, 1)


@pytest.mark.parametrize("distance", ["l1", "l2"])
@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 4), a=st.integers(1, 4), b=st.integers(1, 3), c=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_minibatch_gradients(device, distance, n, a, b, c, seed):
    # T ~ N(0, 1) rather than the small training init, so that the closeness values
    # c_b(i, j) spread over (0, 1); random continuous inputs keep M_i - M_j off the
    # kink of |.| at 0 (with probability 1), as N >= 2 distinct samples require.
    # (The l2 closeness has no kink: eps rounds it off.)
    xp = get_xp(device)
    layer = MinibatchDiscrimination(a, b, c, make_rng(seed), dtype=F64, distance=distance).to(xp)
    layer.params["T"].data[...] = xp.asarray(0.5 * rand(seed + 1, a, b, c))
    check_gradients(layer, xp.asarray(rand(seed, n, a)), seed, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("distance, features", [("l1", minibatch_features), ("l2", euclidean_features)])
@pytest.mark.parametrize("device", DEVICES)
def test_matches_loop_reference(device, distance, features):
    xp = get_xp(device)
    f, T = rand(0, 5, 4), 0.5 * rand(1, 4, 3, 2)
    o, _ = features(xp.asarray(f), xp.asarray(T))
    np.testing.assert_allclose(to_host(o), naive_minibatch_features(f, T, distance), rtol=1e-12)


def test_l2_is_exact_for_near_copies_in_float32():
    """The l2 distance comes from ||a||^2 + ||b||^2 - 2 a.b, which cancels for close rows.
    In float32 at the scale training reaches (||M|| about 10 here), the closeness of near
    copies must still match the float64 loops, and never exceed 1."""
    f = np.repeat(rand(0, 1, 8), 6, axis=0) + 1e-3 * rand(1, 6, 8)   # six near copies
    T = 1.5 * rand(2, 8, 4, 5)
    o, _ = euclidean_features(f.astype(np.float32), T.astype(np.float32))
    want = naive_minibatch_features(f, T, "l2")
    assert o.dtype == np.float32 and o.max() <= 1, o.max()
    np.testing.assert_allclose(o, want, atol=1e-4, rtol=0, err_msg=f"float32 {o.ravel()[:5]} vs float64 {want.ravel()[:5]}")


def test_shapes_dtype_and_concat():
    layer = MinibatchDiscrimination(6, 50, 5, make_rng(0))
    x = rand(0, 8, 6).astype(np.float32)
    y = layer(x)
    assert y.shape == (8, 56) and y.dtype == np.float32
    np.testing.assert_array_equal(y[:, :6], x)   # the input passes through unchanged
    assert layer.params["T"].data.shape == (6, 50, 5)
    with pytest.raises(ValueError, match="MinibatchDiscrimination"):
        layer(x.astype(np.float64))
    with pytest.raises(ValueError, match="MinibatchDiscrimination"):
        layer(rand(0, 8, 7).astype(np.float32))


@pytest.mark.parametrize("distance", ["l1", "l2"])
def test_collapsed_batch_scores_higher(distance):
    """The point of the layer: a batch of copies has larger o than a varied batch."""
    layer = MinibatchDiscrimination(16, 32, 5, make_rng(0), distance=distance)
    varied = rand(0, 32, 16).astype(np.float32)
    collapsed = np.repeat(varied[:1], 32, axis=0) + 0.01 * rand(1, 32, 16).astype(np.float32)
    o_varied, o_collapsed = layer(varied)[:, 16:], layer(collapsed)[:, 16:]
    assert o_collapsed.min() > o_varied.max()
    assert np.allclose(layer(np.repeat(varied[:1], 32, axis=0))[:, 16:], 1)  # exact copies: the maximum, 1
