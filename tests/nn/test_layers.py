"""Finite-difference gradient checks for every layer, shapes drawn by hypothesis."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nanogan as ng
from nanogan.backend import get_xp, make_rng
from helpers import DEVICES, check_gradients

F64 = np.float64
SETTINGS = settings(max_examples=15, deadline=None)


def off_kinks(a):
    """Move values at least 0.1 away from 0, where (Leaky)ReLU has no derivative."""
    return np.where(a >= 0, a + 0.1, a - 0.1)


def rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)  # float64


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(n=st.integers(1, 4), i=st.integers(1, 6), o=st.integers(1, 5),
       init=st.sampled_from(ng.nn.init.INITS), seed=st.integers(0, 2**16))
def test_dense(device, n, i, o, init, seed):
    xp = get_xp(device)
    layer = ng.Dense(i, o, make_rng(seed), init=init, dtype=F64).to(xp)
    layer.params["b"].data[...] = xp.asarray(rand(seed + 1, o))  # non-zero bias
    check_gradients(layer, xp.asarray(rand(seed, n, i)), seed)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make", [ng.ReLU, lambda dtype: ng.LeakyReLU(0.2, dtype), ng.Tanh, ng.Sigmoid],
                         ids=["relu", "leakyrelu", "tanh", "sigmoid"])
@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_activations(device, make, shape, seed):
    xp = get_xp(device)
    check_gradients(make(dtype=F64), xp.asarray(off_kinks(rand(seed, *shape))), seed)


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), p=st.sampled_from([0.0, 0.3, 0.7]),
       seed=st.integers(0, 2**16))
def test_dropout(device, shape, p, seed):
    xp = get_xp(device)
    layer = ng.Dropout(p, make_rng(seed), dtype=F64)

    def reseed():
        layer.rng = make_rng(seed)  # the same mask on every pass

    check_gradients(layer, xp.asarray(rand(seed, *shape)), seed, reseed=reseed)


def test_dropout_statistics_and_eval():
    """Inverted dropout keeps the mean; eval mode is the identity."""
    layer = ng.Dropout(0.3, make_rng(0))
    x = np.ones((200, 500), dtype=np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    assert abs((y == 0).mean() - 0.3) < 0.01, (y == 0).mean()
    assert abs(y.mean() - 1.0) < 0.02, y.mean()
    assert layer.eval()(x) is x


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 4), w=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_flatten_reshape(device, n, c, h, w, seed):
    xp = get_xp(device)
    check_gradients(ng.Flatten(dtype=F64), xp.asarray(rand(seed, n, c, h, w)), seed)
    check_gradients(ng.Reshape(c, h, w, dtype=F64), xp.asarray(rand(seed, n, c * h * w)), seed)


conv_config = st.fixed_dictionaries(dict(
    n=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3), k=st.integers(1, 4),
    s=st.integers(1, 3), p=st.integers(0, 2), h=st.integers(1, 7), w=st.integers(1, 7),
    seed=st.integers(0, 2**16)))


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(cfg=conv_config)
def test_conv2d(device, cfg):
    n, c, f, k, s, p, h, w, seed = (cfg[name] for name in "n c f k s p h w seed".split())
    h, w = max(h, k - 2 * p), max(w, k - 2 * p)  # at least one output pixel
    xp = get_xp(device)
    layer = ng.Conv2d(c, f, k, make_rng(seed), stride=s, padding=p, init="he", dtype=F64).to(xp)
    layer.params["b"].data[...] = xp.asarray(rand(seed + 1, f))
    check_gradients(layer, xp.asarray(rand(seed, n, c, h, w)), seed)


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(cfg=conv_config)
def test_conv_transpose2d(device, cfg):
    n, c, f, k, s, p, h, w, seed = (cfg[name] for name in "n c f k s p h w seed".split())
    h, w = min(h, 4), min(w, 4)
    p = min(p, ((min(h, w) - 1) * s + k - 1) // 2)  # at least one output pixel
    xp = get_xp(device)
    layer = ng.ConvTranspose2d(c, f, k, make_rng(seed), stride=s, padding=p, init="he", dtype=F64).to(xp)
    layer.params["b"].data[...] = xp.asarray(rand(seed + 1, f))
    check_gradients(layer, xp.asarray(rand(seed, n, c, h, w)), seed)


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(n=st.integers(2, 4), c=st.integers(1, 3), spatial=st.sampled_from([(), (2, 3), (3, 1)]),
       training=st.booleans(), seed=st.integers(0, 2**16))
def test_batchnorm(device, n, c, spatial, training, seed):
    xp = get_xp(device)
    layer = ng.BatchNorm(c, dtype=F64).to(xp)
    layer.params["gamma"].data[...] = xp.asarray(1 + 0.5 * rand(seed + 1, c))
    layer.params["beta"].data[...] = xp.asarray(rand(seed + 2, c))
    layer.buffers["running_mean"][...] = xp.asarray(rand(seed + 3, c))
    layer.buffers["running_var"][...] = xp.asarray(1 + np.abs(rand(seed + 4, c)))
    layer.train(training)
    check_gradients(layer, xp.asarray(2 + 3 * rand(seed, n, c, *spatial)), seed, rtol=1e-4, atol=1e-7)


def test_batchnorm_running_statistics():
    """Training updates the running estimates towards the batch's; eval uses them."""
    x = (5 + 2 * rand(0, 64, 3, 4, 4)).astype(np.float32)
    layer = ng.BatchNorm(3, momentum=1.0)  # momentum 1: running stats become the batch's
    y = layer(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1, atol=1e-3)
    M = 64 * 16
    np.testing.assert_allclose(layer.buffers["running_mean"], x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(layer.buffers["running_var"], x.var(axis=(0, 2, 3)) * M / (M - 1), rtol=1e-4)
    layer.eval()
    # eval divides by the unbiased running variance, M/(M-1) times the batch's: y shrinks by ~1/(2M)
    np.testing.assert_allclose(layer(x), y * np.sqrt((M - 1) / M), atol=1e-4)
