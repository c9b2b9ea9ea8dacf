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
from nanogan.nn import Hinge
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


# -- the hinge loss --------------------------------------------------------------------------

def away_from_kinks(rng, shape):
    """Logits in (-4, 4) at least 0.05 from +-1, where relu(1 -+ x) has its kinks."""
    x = rng.uniform(-4, 4, size=shape)
    return np.where(np.abs(np.abs(x) - 1) < 0.05, x + 0.1, x)


def real_or_fake(rng, shape):
    return rng.integers(0, 2, size=shape).astype(np.float64)             # 1 real, 0 fake


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("generator", [False, True])
@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_hinge_gradient(device, generator, shape, seed):
    """D's -s [s x < 1] / M and G's -s / M against central differences of the mean loss."""
    xp = get_xp(device)
    rng = np.random.default_rng(seed)
    x, t = xp.asarray(away_from_kinks(rng, shape)), xp.asarray(real_or_fake(rng, shape))   # float64
    hinge = Hinge(generator=generator)
    hinge(x, t)
    analytic = hinge.backward()
    numeric = numeric_grad(lambda: hinge(x, t), x)
    assert_close(analytic, numeric, f"Hinge(generator={generator}) dL/dx for shape {tuple(shape)}",
                 rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(B=st.integers(1, 10), seed=st.integers(0, 2**16))
def test_hinge_is_the_papers_loss(device, B, seed):
    """D's loss on [real; fake] with n=B is mean relu(1 - D(x)) + mean relu(1 + D(G(z))), and
    its gradient that of the two means; G's loss with t = 1 is -mean D(G(z))."""
    xp = get_xp(device)
    rng = np.random.default_rng(seed)
    real, fake = away_from_kinks(rng, (B, 1)), away_from_kinks(rng, (B, 1))
    formula = np.maximum(1 - real, 0).mean() + np.maximum(1 + fake, 0).mean()
    grad = np.concatenate([-1.0 * (real < 1), 1.0 * (fake > -1)]) / B
    x, t = np.concatenate([real, fake]), np.concatenate([np.ones((B, 1)), np.zeros((B, 1))])
    hinge = Hinge()
    value = float(hinge(xp.asarray(x), xp.asarray(t), n=B))
    assert value == pytest.approx(formula, rel=1e-12), f"D's hinge loss {value!r}, formula {formula!r}"
    assert_close(hinge.backward(), grad, "D's hinge gradient", rtol=1e-12, atol=0)
    g = Hinge(generator=True)
    value = float(g(xp.asarray(fake), xp.ones((B, 1))))
    assert value == pytest.approx(-fake.mean(), rel=1e-12), f"G's hinge loss {value!r}, -mean D(G(z)) {-fake.mean()!r}"
    assert_close(g.backward(), np.full((B, 1), -1 / B), "G's hinge gradient", rtol=1e-12, atol=0)


def test_hinge_against_torch():
    """The same loss and gradient from PyTorch's relu and autograd, on a batch at the kinks too."""
    torch = pytest.importorskip("torch")
    x = np.array([[2.0], [1.0], [0.3], [-1.0], [-3.0], [1.0], [0.5], [-0.5]])
    t = np.array([[1.0], [1.0], [1.0], [1.0], [0.0], [0.0], [0.0], [0.0]])
    hinge = Hinge()
    value = float(hinge(x, t, n=4))
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.relu(1 - xt[:4]).mean() + torch.relu(1 + xt[4:]).mean()
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12), f"hinge {value!r}, PyTorch {ref.item()!r}"
    assert_close(hinge.backward(), xt.grad.numpy(), "hinge gradient vs PyTorch's", rtol=1e-12, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("generator", [False, True])
def test_hinge_dtype_preserved(device, dtype, generator):
    xp = get_xp(device)
    x = xp.asarray(np.random.default_rng(0).standard_normal((5, 1)), dtype=dtype)
    t = xp.asarray(np.array([[1], [0], [1], [0], [1]]), dtype=dtype)
    hinge = Hinge(generator=generator)
    loss = hinge(x, t)
    g = hinge.backward()
    assert loss.dtype == dtype and loss.shape == (), f"loss {loss.dtype} {loss.shape}, expected {np.dtype(dtype)} ()"
    assert g.dtype == dtype and g.shape == x.shape, f"grad {g.dtype} {g.shape}, expected {np.dtype(dtype)} {x.shape}"


def test_hinge_rejects_mismatched_targets():
    hinge = Hinge()
    x = np.zeros((4, 1), dtype=np.float32)
    with pytest.raises(ValueError, match=r"Hinge.*\(4, 1\).*\(4,\)"):
        hinge(x, np.ones(4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"Hinge.*float32.*float64"):
        hinge(x, np.ones((4, 1)))
