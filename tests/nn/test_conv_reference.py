"""The row-product convolutions against the naive loops in nanogan.nn.conv_reference, and their adjoints.

Three independent statements about the same maps:
- forward values equal the plain loops (`conv_reference`) for random configurations;
- output sizes follow the textbook formulas, computed here without nanogan's helpers;
- a transposed convolution is the adjoint of a convolution with the same weights,
  <conv(x), y> = <x, convT(y)>, and unlower is the adjoint of lower,
  <lower(x), z> = <x, unlower(z)>. An adjoint that is off by one pixel or one
  transposed axis breaks these identities, whatever the values.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nanogan as ng
from nanogan.backend import get_xp, make_rng, to_host
from nanogan.nn.conv_rows import lower, unlower
from nanogan.nn.conv_reference import conv2d_naive, conv_transpose2d_naive
from helpers import DEVICES, assert_close

F64 = np.float64
SETTINGS = settings(max_examples=25, deadline=None)

# kernel 1-5 and stride 1-3, so stride > kernel (windows that skip pixels) comes up too
# (passed as keyword arguments: hypothesis does not keep a fixed_dictionaries' key order,
# so unpacking its .values() would shuffle the roles of n, k, p, seed, ...)
CONFIG = dict(
    n=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3), k=st.integers(1, 5),
    s=st.integers(1, 3), p=st.integers(0, 2), h=st.integers(1, 8), w=st.integers(1, 8),
    seed=st.integers(0, 2**16))


def rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)  # float64


def inner(a, b):
    """<a, b> = sum of a * b, on the host in float64."""
    return float(np.sum(to_host(a).astype(F64) * to_host(b).astype(F64)))


def conv_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1          # floor((H + 2p - k) / s) + 1


def conv_t_size(size, k, s, p):
    return (size - 1) * s - 2 * p + k           # (H - 1) s - 2p + k


def set_random_params(layer, seed, xp):
    """Replace the (small, dcgan-initialised) weights and the zero bias with N(0, 1) values."""
    for i, p in enumerate(layer.parameters()):
        p.data[...] = xp.asarray(rand(seed + 1 + i, *p.data.shape))


def check_against_loops(layer_class, loops, out_size, device, n, c, f, k, s, p, h, w, seed):
    """The layer (random N(0, 1) weights and bias) on a random (n, c, h, w) input: its
    output shape against the formula `out_size`, its values against the plain `loops`."""
    xp = get_xp(device)
    layer = layer_class(c, f, k, make_rng(seed), stride=s, padding=p, dtype=F64).to(xp)
    set_random_params(layer, seed, xp)
    x = rand(seed, n, c, h, w)
    y = layer(xp.asarray(x))
    expected_shape = (n, f, out_size(h, k, s, p), out_size(w, k, s, p))
    assert y.shape == expected_shape, f"{layer!r} on {x.shape}: shape {y.shape}, formula {expected_shape}"
    W, b = to_host(layer.params["W"].data), to_host(layer.params["b"].data)
    assert_close(y, loops(x, W, b, s, p), f"{layer!r} forward vs loops", rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(**CONFIG)
def test_conv2d_matches_loops(device, n, c, f, k, s, p, h, w, seed):
    h, w = max(h, k - 2 * p), max(w, k - 2 * p)      # at least one output pixel
    check_against_loops(ng.Conv2d, conv2d_naive, conv_size, device, n, c, f, k, s, p, h, w, seed)


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(**CONFIG)
def test_conv_transpose2d_matches_loops(device, n, c, f, k, s, p, h, w, seed):
    h, w = min(h, 5), min(w, 5)                       # the loops paint every input pixel
    p = min(p, ((min(h, w) - 1) * s + k - 1) // 2)    # at least one output pixel
    check_against_loops(ng.ConvTranspose2d, conv_transpose2d_naive, conv_t_size, device, n, c, f, k, s, p, h, w, seed)


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(**CONFIG)
def test_conv_transpose_is_adjoint_of_conv(device, n, c, f, k, s, p, h, w, seed):
    """<conv(x), y> = <x, convT(y)> with one weight tensor (F, C, k, k) and no bias.

    Conv2d(C -> F) holds W as (F, C, k, k); ConvTranspose2d(F -> C) holds it as
    (in=F, out=C, k, k): the same array. The transpose maps Ho back to exactly H
    only when the windows tile the padded input, (H + 2p - k) % s == 0, so H is
    built from the output size.
    """
    ho, wo = min(h, 4), min(w, 4)                     # h, w are drawn as output sizes here
    h, w = (ho - 1) * s + k - 2 * p, (wo - 1) * s + k - 2 * p
    while h < 1:                                      # too much padding for this size: grow
        ho, h = ho + 1, h + s
    while w < 1:
        wo, w = wo + 1, w + s
    xp = get_xp(device)
    conv = ng.Conv2d(c, f, k, make_rng(seed), stride=s, padding=p, bias=False, dtype=F64).to(xp)
    conv_t = ng.ConvTranspose2d(f, c, k, make_rng(seed), stride=s, padding=p, bias=False, dtype=F64).to(xp)
    weight = xp.asarray(rand(seed + 1, f, c, k, k))
    conv.params["W"].data[...] = weight
    conv_t.params["W"].data[...] = weight
    x, y = xp.asarray(rand(seed + 2, n, c, h, w)), xp.asarray(rand(seed + 3, n, f, ho, wo))
    cx, ty = conv(x), conv_t(y)
    assert cx.shape == y.shape and ty.shape == x.shape, \
        f"shapes: conv(x) {cx.shape} vs y {y.shape}, convT(y) {ty.shape} vs x {x.shape}"
    lhs, rhs = inner(cx, y), inner(x, ty)
    assert abs(lhs - rhs) <= 1e-10 * (1 + abs(lhs)), \
        f"{conv!r}: <conv(x), y> = {lhs!r} but <x, convT(y)> = {rhs!r}"


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(**CONFIG)
def test_unlower_is_adjoint_of_lower(device, n, c, f, k, s, p, h, w, seed):
    """<lower(x), z> = <x, unlower(z)> for any configuration, including the ones where
    the windows leave the last columns of the input unread (unlower must give them zero)."""
    h, w = max(h, k - 2 * p), max(w, k - 2 * p)
    xp = get_xp(device)
    x = xp.asarray(rand(seed, n, c, h, w))
    Z = lower(x, k, s, p)                             # bands [(v0, v1, j0, j1, Z_b)]
    assert Z[0][0] == 0 and Z[-1][1] == conv_size(w, k, s, p) and all(a[1] == b[0] for a, b in zip(Z, Z[1:])), \
        f"lower of {x.shape} (k={k}, s={s}, p={p}): bands {[band[:4] for band in Z]} do not tile the output columns"
    for v0, v1, j0, j1, Zb in Z:
        expected = (h + 2 * p, (j1 - j0) * c, n * (v1 - v0))
        assert Zb.shape == expected, f"lower of {x.shape} (k={k}, s={s}, p={p}): band {Zb.shape}, expected {expected}"
    r = [band[:4] + (xp.asarray(rand(seed + 1 + i, *band[4].shape)),) for i, band in enumerate(Z)]
    back = unlower(r, x.shape, k, s, p)
    assert back.shape == x.shape and back.dtype == x.dtype, \
        f"unlower gave {back.dtype} {back.shape}, expected {x.dtype} {x.shape}"
    lhs, rhs = sum(inner(a[4], b[4]) for a, b in zip(Z, r)), inner(x, back)
    assert abs(lhs - rhs) <= 1e-10 * (1 + abs(lhs)), \
        f"k={k}, s={s}, p={p}, x {x.shape}: <lower(x), z> = {lhs!r} but <x, unlower(z)> = {rhs!r}"


@pytest.mark.parametrize("device", DEVICES)
def test_batch_last_layout_passes_through_a_conv_stack(device):
    """Speed, not values: a convolution returns a view of its batch-last (C, H, W, N)
    result; the element-wise layers after it must keep that memory order, so that the
    next convolution's transpose to (C, H, W, N) copies nothing, and Flatten's
    backward must hand the gradient back in the same order (nanogan.nn.conv docstring).

    On both devices: NumPy keeps its input's memory order in element-wise results on its
    own, CuPy allocates them in C order, so the layers write into `new_like(x)` arrays
    (nanogan.backend), which keep it on both (the stand-in allocates as CuPy does)."""
    from nanogan.nn.conv import batch_last
    xp = get_xp(device)
    rng = make_rng(0)
    stack = ng.Sequential(ng.Conv2d(2, 4, 3, rng, stride=2, padding=1), ng.BatchNorm(4),
                          ng.LeakyReLU(0.2), ng.Flatten()).to(xp)
    x = xp.asarray(rng.standard_normal((5, 2, 8, 8), dtype=np.float32))
    h = x
    for layer in stack.layers[:-1]:
        h = layer.forward(h)
        assert h.shape == (5, 4, 4, 4) and h.transpose(1, 2, 3, 0).flags.c_contiguous, \
            f"after {layer!r}: strides {h.strides}, not a view of a (C, H, W, N) array"
    stack.layers[-1].forward(h)
    g = stack.layers[-1].backward(xp.ones((5, 64), dtype=np.float32))
    assert g.strides == h.strides, f"Flatten's backward gave strides {g.strides}, its input had {h.strides}"
    for layer in reversed(stack.layers[:-1]):
        g = layer.backward(g)
        assert g.transpose(1, 2, 3, 0).flags.c_contiguous or layer is stack.layers[0], \
            f"{layer!r} backward: strides {g.strides}"
    assert g.shape == x.shape
