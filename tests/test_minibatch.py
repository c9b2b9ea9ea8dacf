"""Minibatch discrimination: gradient check, a loop reference, and what the layer is for."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nanogan.backend import get_xp, make_rng, to_host
from nanogan.minibatch import MinibatchDiscrimination, minibatch_features
from helpers import DEVICES, check_gradients

F64 = np.float64


def rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)  # float64


def naive_minibatch_features(f, T):
    """The definition as loops: o_{i,b} = 1/(N-1) sum_{j != i} exp(-sum_c |M_{i,b,c} - M_{j,b,c}|)."""
    N, (A, B, C) = len(f), T.shape
    M = np.einsum("na,abc->nbc", f, T)
    o = np.zeros((N, B))
    for i in range(N):
        for j in range(N):
            if j != i:
                for b in range(B):
                    o[i, b] += np.exp(-np.abs(M[i, b] - M[j, b]).sum())
    return o / max(N - 1, 1)


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 4), a=st.integers(1, 4), b=st.integers(1, 3), c=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_minibatch_gradients(device, n, a, b, c, seed):
    # T ~ N(0, 1) rather than the small training init, so that the closeness values
    # c_b(i, j) spread over (0, 1); random continuous inputs keep M_i - M_j off the
    # kink of |.| at 0 (with probability 1), as N >= 2 distinct samples require.
    xp = get_xp(device)
    layer = MinibatchDiscrimination(a, b, c, make_rng(seed), dtype=F64).to(xp)
    layer.params["T"].data[...] = xp.asarray(0.5 * rand(seed + 1, a, b, c))
    check_gradients(layer, xp.asarray(rand(seed, n, a)), seed, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("device", DEVICES)
def test_matches_loop_reference(device):
    xp = get_xp(device)
    f, T = rand(0, 5, 4), 0.5 * rand(1, 4, 3, 2)
    o, _ = minibatch_features(xp.asarray(f), xp.asarray(T))
    np.testing.assert_allclose(to_host(o), naive_minibatch_features(f, T), rtol=1e-12)


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


def test_collapsed_batch_scores_higher():
    """The point of the layer: a batch of copies has larger o than a varied batch."""
    layer = MinibatchDiscrimination(16, 32, 5, make_rng(0))
    varied = rand(0, 32, 16).astype(np.float32)
    collapsed = np.repeat(varied[:1], 32, axis=0) + 0.01 * rand(1, 32, 16).astype(np.float32)
    o_varied, o_collapsed = layer(varied)[:, 16:], layer(collapsed)[:, 16:]
    assert o_collapsed.min() > o_varied.max()
    assert np.allclose(layer(np.repeat(varied[:1], 32, axis=0))[:, 16:], 1)  # exact copies: the maximum, 1
