"""nn/sums.py: per-channel sums and dot products as products with ones, against the plain
NumPy forms on every memory layout the layers hand them."""
import numpy as np
import pytest

from nanogan.backend import get_xp, to_device
from nanogan.nn.sums import channel_dot, channel_sum, filled
from helpers import DEVICES, assert_close


def layouts(seed, dtype):
    """(name, array) for each layout: C order, the convolutions' batch-last, a batch-last view
    into a padded buffer (ConvTranspose2d's output), negative strides, a strided slice, one
    sample, and (N, C) in row and column order."""
    rng = np.random.default_rng(seed)
    N, C, H, W = 5, 3, 4, 6
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    padded = rng.standard_normal((C, H + 2, W + 2, N)).astype(dtype)
    yield "C order", x
    yield "batch-last", np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    yield "padded batch-last", padded[:, 1:H + 1, 1:W + 1].transpose(3, 0, 1, 2)
    yield "negative strides", x[::-1, :, ::-1]
    yield "strided slice", rng.standard_normal((2 * N, C, H, W)).astype(dtype)[::2]
    yield "one sample", x[:1]
    d = rng.standard_normal((N, 7)).astype(dtype)
    yield "(N, C)", d
    yield "(N, C) column order", np.asfortranarray(d)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sums_equal_the_plain_forms(device, dtype):
    xp = get_xp(device)
    tol = {np.float32: 1e-5, np.float64: 1e-12}[dtype]
    for name, host in layouts(0, dtype):
        axes = (0,) + tuple(range(2, host.ndim))
        x = host if device == "cpu" else to_device(host, xp)   # on the CPU, the layout itself
        plain = host.astype(np.float64).sum(axis=axes)
        got = channel_sum(x)
        assert got.dtype == dtype, (name, got.dtype)
        assert_close(got, plain, f"channel_sum, {name}", rtol=tol, atol=tol)
        assert_close(channel_sum(x, scale=0.25), plain * 0.25, f"channel_sum scaled, {name}", rtol=tol, atol=tol)
        out = xp.zeros(host.shape[1], dtype=dtype)
        assert channel_sum(x, out=out) is out, name
        assert_close(out, plain, f"channel_sum into out, {name}", rtol=tol, atol=tol)
        b_host = np.empty_like(host)                           # host's layout (order "K")
        b_host[...] = np.random.default_rng(1).standard_normal(host.shape)
        b = b_host if device == "cpu" else to_device(b_host, xp)
        assert_close(channel_dot(x, b), (host.astype(np.float64) * b_host.astype(np.float64)).sum(axis=axes),
                     f"channel_dot, {name}", rtol=tol, atol=tol)


def test_integers_and_booleans_are_summed_not_multiplied():
    """A product with ones is a sum only for floating point: an integer vector of 1/M is all
    zeros, and a boolean matmul is an OR. Those fall back to the plain reduction."""
    x = np.arange(5 * 3 * 2 * 2).reshape(5, 3, 2, 2)
    assert np.array_equal(channel_sum(x), x.sum(axis=(0, 2, 3)))
    mask = x % 3 == 0
    assert np.array_equal(channel_sum(mask), mask.sum(axis=(0, 2, 3)))


def test_the_shared_vectors_cannot_be_written():
    v = filled(np, 4, 1, np.float32)
    assert v is filled(np, 4, 1, np.float32) and v.dtype == np.float32
    with pytest.raises(ValueError):
        v[0] = 2
