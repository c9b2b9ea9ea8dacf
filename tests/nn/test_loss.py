"""BCEWithLogits: its gradient, its value against the textbook formula, and its stability.

The GAN loss is where saturation hides: a discriminator that is sure of itself
drives the logits to large magnitudes, and a loss computed on clipped
probabilities would then return a constant and a zero gradient. The closed forms
used below follow from l = max(x, 0) - x t + log(1 + e^{-|x|}) with e^{-|x|} = 0:
    x = -1e4, t = 1  ->  l = 1e4          x = 1e4, t = 0  ->  l = 1e4
    x = 1e4,  t = 1  ->  l = 0            x = 1e4, t = 0.9 -> l = 1e4 (1 - 0.9) = 1e3
and the gradient (sigmoid(x) - t) / M is then (0 or 1 - t) / M, never NaN.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nanogan as ng
from nanogan.backend import get_xp, to_host
from helpers import DEVICES, assert_close, numeric_grad

SETTINGS = settings(max_examples=20, deadline=None)


def soft_targets(rng, shape):
    """Targets in [0, 1]: uniform values mixed with the labels a GAN uses (0, 1, 0.9)."""
    t = rng.uniform(0, 1, size=shape)
    pick = rng.integers(0, 4, size=shape)
    return np.select([pick == 0, pick == 1, pick == 2], [0.0, 1.0, 0.9], t)


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_gradient(device, shape, seed):
    """dL/dx = (sigmoid(x) - t) / M against central differences of the mean loss."""
    xp = get_xp(device)
    rng = np.random.default_rng(seed)
    x = xp.asarray(3 * rng.standard_normal(shape))        # float64
    t = xp.asarray(soft_targets(rng, shape))
    bce = ng.BCEWithLogits()
    bce(x, t)
    analytic = bce.backward()
    numeric = numeric_grad(lambda: bce(x, t), x)
    assert_close(analytic, numeric, f"BCE dL/dx for shape {tuple(shape)}", rtol=1e-5, atol=1e-8)


CLOSED_FORM = [  # (logit, target, loss, dL/dx for a single element)
    (-1e4, 1.0, 1e4, -1.0),
    (1e4, 0.0, 1e4, 1.0),
    (1e4, 1.0, 0.0, 0.0),
    (-1e4, 0.0, 0.0, 0.0),
    (1e4, 0.9, 1e3, 0.1),
    (-1e4, 0.9, 9e3, -0.9),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x, t, loss, grad", CLOSED_FORM)
def test_extreme_logits(device, dtype, x, t, loss, grad):
    """Huge logits give the finite closed-form loss and gradient, in float32 too."""
    xp = get_xp(device)
    bce = ng.BCEWithLogits()
    X, T = xp.full((1,), x, dtype=dtype), xp.full((1,), t, dtype=dtype)
    value = float(bce(X, T))
    g = to_host(bce.backward())
    assert math.isfinite(value) and np.isfinite(g).all(), f"x={x}, t={t}: loss {value!r}, grad {g!r}"
    # float32 holds 1e4 * 0.1 only to ~1e-7 relative precision
    assert value == pytest.approx(loss, rel=1e-6, abs=1e-6), f"x={x}, t={t}: loss {value!r}, closed form {loss!r}"
    assert g[0] == pytest.approx(grad, rel=1e-6, abs=1e-6), f"x={x}, t={t}: grad {g[0]!r}, closed form {grad!r}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_in_a_batch(device, dtype):
    """The mean over a batch mixing all the cases above is their mean, and dL/dx = grad / M."""
    xp = get_xp(device)
    x, t, loss, grad = (np.array(col, dtype=dtype) for col in zip(*CLOSED_FORM))
    bce = ng.BCEWithLogits()
    value = float(bce(xp.asarray(x), xp.asarray(t)))
    assert value == pytest.approx(loss.mean(), rel=1e-6), f"batch loss {value!r}, closed form {loss.mean()!r}"
    assert_close(bce.backward(), grad / len(x), f"{np.dtype(dtype)} batch gradient", rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(n=st.integers(1, 20), seed=st.integers(0, 2**16))
def test_matches_naive_formula(device, n, seed):
    """For moderate logits the stable form equals -t log p - (1 - t) log(1 - p)."""
    xp = get_xp(device)
    rng = np.random.default_rng(seed)
    x, t = rng.uniform(-8, 8, size=n), soft_targets(rng, n)
    p = 1 / (1 + np.exp(-x))
    naive = np.mean(-t * np.log(p) - (1 - t) * np.log(1 - p))
    value = float(ng.BCEWithLogits()(xp.asarray(x), xp.asarray(t)))
    assert value == pytest.approx(naive, rel=1e-10), f"stable {value!r} vs naive {naive!r}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(device, dtype):
    xp = get_xp(device)
    x = xp.asarray(np.random.default_rng(0).standard_normal((5, 1)), dtype=dtype)
    t = xp.ones((5, 1), dtype=dtype)
    bce = ng.BCEWithLogits()
    loss = bce(x, t)
    g = bce.backward()
    assert loss.dtype == dtype and loss.shape == (), f"loss {loss.dtype} {loss.shape}, expected {np.dtype(dtype)} ()"
    assert g.dtype == dtype and g.shape == x.shape, f"grad {g.dtype} {g.shape}, expected {np.dtype(dtype)} {x.shape}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_over_n_is_the_sum_of_the_means(device, dtype):
    """n=B on two batches of B stacked into one is the sum of their two mean losses, with
    the gradient each has on its own (GAN.step's joined D pass), in the input's dtype."""
    xp = get_xp(device)
    rng = np.random.default_rng(0)
    B = 6
    a, b = (3 * rng.standard_normal((B, 1)) for _ in range(2))                  # float64
    ta, tb = np.full((B, 1), 0.9), np.zeros((B, 1))
    apart, both = ng.BCEWithLogits(), ng.BCEWithLogits()
    la = apart(xp.asarray(a, dtype=dtype), xp.asarray(ta, dtype=dtype))
    ga = to_host(apart.backward())
    lb = apart(xp.asarray(b, dtype=dtype), xp.asarray(tb, dtype=dtype))
    gb = to_host(apart.backward())
    loss = both(xp.asarray(np.concatenate([a, b]), dtype=dtype), xp.asarray(np.concatenate([ta, tb]), dtype=dtype), n=B)
    g = both.backward()
    assert loss.dtype == dtype and g.dtype == dtype, f"loss {loss.dtype}, grad {g.dtype}, expected {np.dtype(dtype)}"
    tol = 1e-6 if dtype == np.float32 else 1e-12
    assert float(loss) == pytest.approx(float(la) + float(lb), rel=tol), \
        f"sum over n={B}: {float(loss)!r}, sum of the two means {float(la) + float(lb)!r}"
    assert_close(g, np.concatenate([ga, gb]), f"{np.dtype(dtype)} gradient of the sum over n", rtol=tol, atol=0)


def test_rejects_mismatched_targets():
    """Targets of another shape would broadcast, and of another dtype would promote: both raise."""
    bce = ng.BCEWithLogits()
    x = np.zeros((4, 1), dtype=np.float32)
    with pytest.raises(ValueError, match=r"BCEWithLogits.*\(4, 1\).*\(4,\)"):
        bce(x, np.ones(4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"BCEWithLogits.*float32.*float64"):
        bce(x, np.ones((4, 1)))
