"""Bad input fails loudly, and good input keeps its dtype.

A layer given the wrong shape must say which layer and what it expected: a
broadcasting mistake deep inside a GAN otherwise surfaces, if at all, as a blurry
sample hours later. And nothing may silently change dtype: a float64 array that
sneaks into a float32 network doubles memory and time on the GPU without a word.
"""
import re

import numpy as np
import pytest

import nanogan as ng
from nanogan.backend import get_xp, make_rng
from helpers import DEVICES

F32, F64 = np.float32, np.float64

# (layer, input that is wrong, fragments its message must contain)
BAD_INPUTS = [
    (lambda: ng.Dense(784, 256, make_rng(0)), np.zeros((3, 10), F32),
     ["Dense(784, 256)", "(N, 784)", "(3, 10)"]),
    (lambda: ng.Dense(784, 256, make_rng(0)), np.zeros((3, 784), F64),
     ["Dense(784, 256)", "float32", "float64"]),
    (lambda: ng.Dense(784, 256, make_rng(0)), np.zeros(784, F32),
     ["Dense(784, 256)", "(N, 784)", "(784,)"]),
    (lambda: ng.Conv2d(3, 8, 4, make_rng(0)), np.zeros((2, 1, 28, 28), F32),
     ["Conv2d(3, 8", "(N, 3, *, *)", "(2, 1, 28, 28)"]),
    (lambda: ng.Conv2d(3, 8, 4, make_rng(0)), np.zeros((3, 28, 28), F32),
     ["Conv2d(3, 8", "(N, 3, *, *)", "(3, 28, 28)"]),
    (lambda: ng.Conv2d(1, 8, 5, make_rng(0)), np.zeros((2, 1, 3, 3), F32),
     ["Conv2d(1, 8", "3x3", "smaller than the kernel"]),
    (lambda: ng.ConvTranspose2d(8, 4, 4, make_rng(0)), np.zeros((2, 3, 7, 7), F32),
     ["ConvTranspose2d(8, 4", "(N, 8, *, *)", "(2, 3, 7, 7)"]),
    (lambda: ng.ConvTranspose2d(8, 4, 4, make_rng(0)), np.zeros((2, 8, 7, 7), F64),
     ["ConvTranspose2d(8, 4", "float32", "float64"]),
    (lambda: ng.ConvTranspose2d(1, 1, 1, make_rng(0), padding=1), np.zeros((1, 1, 2, 2), F32),
     ["ConvTranspose2d(1, 1", "2x2"]),
    (lambda: ng.BatchNorm(4), np.zeros((2, 4, 3), F32),
     ["BatchNorm(4)", "(N, 4)", "(N, 4, H, W)", "(2, 4, 3)"]),
    (lambda: ng.BatchNorm(4), np.zeros((2, 5), F32),
     ["BatchNorm(4)", "(N, 4)", "(2, 5)"]),
    (lambda: ng.BatchNorm(4), np.zeros((2, 3, 5, 5), F32),
     ["BatchNorm(4)", "(N, 4, *, *)", "(2, 3, 5, 5)"]),
    (lambda: ng.Reshape(1, 28, 28), np.zeros((3, 700), F32),
     ["Reshape(1, 28, 28)", "784 features", "(3, 700)"]),
    (lambda: ng.Flatten(), np.zeros(5, F32), ["Flatten()", "(N, *)", "(5,)"]),
    (lambda: ng.ReLU(), np.zeros((2, 3), F64), ["ReLU()", "float32", "float64"]),
    (lambda: ng.LeakyReLU(0.2), np.zeros((2, 3), F64), ["LeakyReLU(0.2)", "float32", "float64"]),
    (lambda: ng.Tanh(), np.zeros((2, 3), F64), ["Tanh()", "float32", "float64"]),
    (lambda: ng.Sigmoid(dtype=F64), np.zeros((2, 3), F32), ["Sigmoid()", "float64", "float32"]),
    (lambda: ng.Dropout(0.5, make_rng(0)), np.zeros((2, 3), F64), ["Dropout(0.5)", "float32", "float64"]),
]


@pytest.mark.parametrize("make, x, fragments", BAD_INPUTS,
                         ids=[f"{i}-{frags[0]}" for i, (_, _, frags) in enumerate(BAD_INPUTS)])
def test_bad_input_names_layer_and_expectation(make, x, fragments):
    layer = make()
    with pytest.raises(ValueError) as info:
        layer(x)
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"message {message!r} lacks {missing}"


def test_bce_rejects_mismatch():
    bce = ng.BCEWithLogits()
    with pytest.raises(ValueError, match=re.escape("BCEWithLogits: logits (4, 1) and targets (4,)")):
        bce(np.zeros((4, 1), F32), np.zeros(4, F32))


# (name, layer factory taking the dtype, input shape): every layer, in each mode that
# computes differently
LAYERS = [
    ("dense", lambda d: ng.Dense(6, 4, make_rng(0), dtype=d), (3, 6)),
    ("conv", lambda d: ng.Conv2d(2, 3, 3, make_rng(0), stride=2, padding=1, dtype=d), (2, 2, 5, 4)),
    ("convT", lambda d: ng.ConvTranspose2d(2, 3, 4, make_rng(0), stride=2, padding=1, dtype=d), (2, 2, 3, 3)),
    ("bn-dense-train", lambda d: ng.BatchNorm(4, dtype=d), (5, 4)),
    ("bn-conv-train", lambda d: ng.BatchNorm(2, dtype=d), (3, 2, 2, 2)),
    ("bn-dense-eval", lambda d: ng.BatchNorm(4, dtype=d).eval(), (5, 4)),
    ("bn-conv-eval", lambda d: ng.BatchNorm(2, dtype=d).eval(), (3, 2, 2, 2)),
    ("relu", lambda d: ng.ReLU(dtype=d), (3, 4)),
    ("leakyrelu", lambda d: ng.LeakyReLU(0.2, dtype=d), (3, 4)),
    ("tanh", lambda d: ng.Tanh(dtype=d), (3, 4)),
    ("sigmoid", lambda d: ng.Sigmoid(dtype=d), (3, 4)),
    ("dropout-train", lambda d: ng.Dropout(0.4, make_rng(0), dtype=d), (3, 4)),
    ("dropout-eval", lambda d: ng.Dropout(0.4, make_rng(0), dtype=d).eval(), (3, 4)),
    ("reshape", lambda d: ng.Reshape(2, 3, dtype=d), (4, 6)),
    ("flatten", lambda d: ng.Flatten(dtype=d), (4, 2, 3)),
]

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("name, make, shape", LAYERS, ids=[row[0] for row in LAYERS])
def test_dtype_preserved(device, dtype, name, make, shape):
    """float32 in -> float32 out, forward and backward, parameter gradients and buffers
    included; the same for float64."""
    xp = get_xp(device)
    layer = make(dtype).to(xp)
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal(shape), dtype=dtype)
    y = layer(x)
    dx = layer.backward(xp.asarray(rng.standard_normal(y.shape), dtype=dtype))
    kinds = {"y": y.dtype, "dx": dx.dtype}
    kinds |= {f"{n}.data": p.data.dtype for n, p in layer.named_parameters()}
    kinds |= {f"{n}.grad": p.grad.dtype for n, p in layer.named_parameters()}
    kinds |= {n: b.dtype for n, b in layer.named_buffers()}
    wrong = {k: str(v) for k, v in kinds.items() if v != dtype}
    assert not wrong, f"{layer!r} with {np.dtype(dtype)} input produced {wrong}"
    assert dx.shape == x.shape, f"{layer!r}: dx shape {dx.shape}, input shape {x.shape}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_bce_and_adam_preserve_dtype(device, dtype):
    xp = get_xp(device)
    bce = ng.BCEWithLogits()
    x = xp.asarray([[-3.0], [0.5], [2.0]], dtype=dtype)
    loss = bce(x, xp.full(x.shape, 0.9, dtype=dtype))
    g = bce.backward()
    assert loss.dtype == dtype and g.dtype == dtype, f"BCE on {np.dtype(dtype)}: loss {loss.dtype}, grad {g.dtype}"
    p = ng.Parameter(xp.ones(3, dtype=dtype))
    p.grad[...] = xp.asarray([1.0, -2.0, 3.0], dtype=dtype)
    opt = ng.Adam([p])
    opt.step()
    kinds = {"data": p.data.dtype, "grad": p.grad.dtype, "m": opt.m[0].dtype, "v": opt.v[0].dtype}
    assert set(kinds.values()) == {np.dtype(dtype)}, f"Adam on {np.dtype(dtype)}: {kinds}"
