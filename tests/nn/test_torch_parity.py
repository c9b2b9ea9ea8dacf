"""Each layer against its PyTorch twin, with the same weights copied across, in float64.

PyTorch is only a test oracle here (skipped where it is not installed), never a
dependency of nanogan. Forward outputs, input gradients and parameter gradients
must agree to ~1e-10; the upstream gradient is random, never all ones.
Layout differences are handled at the copy: nn.Linear stores W as (out, in),
nanogan's Dense as (in, out); the conv layouts are PyTorch's own.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nanogan as ng
from nanogan.backend import make_rng
from helpers import assert_close

torch = pytest.importorskip("torch")
F = torch.nn.functional
F64 = np.float64
SETTINGS = settings(max_examples=8, deadline=None)
TOL = dict(rtol=1e-10, atol=1e-12)


def rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)  # float64


def T(a, grad=False):
    """A float64 torch tensor with its own copy of the data."""
    return torch.tensor(np.array(a, dtype=F64), requires_grad=grad)


def ours_and_theirs(layer, x, torch_forward, torch_params, seed):
    """Run both forward and backward with one random upstream gradient; compare y, dx, and
    every parameter gradient (`torch_params`: nanogan name -> (tensor, to_ours layout fn))."""
    y = layer(x)
    G = rand(seed + 99, *y.shape)
    layer.zero_grad()
    dx = layer.backward(G)
    xt = T(x, grad=True)
    yt = torch_forward(xt)
    yt.backward(T(G))
    what = repr(layer)
    assert_close(y, yt.detach().numpy(), f"{what} forward", **TOL)
    assert_close(dx, xt.grad.numpy(), f"{what} dL/dx", **TOL)
    for name, (tensor, to_ours) in torch_params.items():
        assert_close(layer.params[name].grad, to_ours(tensor.grad.numpy()), f"{what} dL/d{name}", **TOL)


@SETTINGS
@given(n=st.integers(1, 4), i=st.integers(1, 6), o=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_dense_vs_linear(n, i, o, seed):
    layer = ng.Dense(i, o, make_rng(seed), dtype=F64)
    layer.params["b"].data[...] = rand(seed + 1, o)
    W, b = T(layer.params["W"].data.T, grad=True), T(layer.params["b"].data, grad=True)  # (out, in)
    ours_and_theirs(layer, rand(seed, n, i), lambda x: F.linear(x, W, b),
                    {"W": (W, lambda g: g.T), "b": (b, lambda g: g)}, seed)


conv_args = dict(n=st.integers(1, 2), c=st.integers(1, 3), f=st.integers(1, 3), k=st.integers(1, 4),
                 s=st.integers(1, 3), p=st.integers(0, 2), h=st.integers(1, 7), w=st.integers(1, 7),
                 seed=st.integers(0, 2**16))


@SETTINGS
@given(**conv_args)
def test_conv2d_vs_torch(n, c, f, k, s, p, h, w, seed):
    h, w = max(h, k - 2 * p), max(w, k - 2 * p)
    layer = ng.Conv2d(c, f, k, make_rng(seed), stride=s, padding=p, init="he", dtype=F64)
    layer.params["b"].data[...] = rand(seed + 1, f)
    W, b = T(layer.params["W"].data, grad=True), T(layer.params["b"].data, grad=True)
    ours_and_theirs(layer, rand(seed, n, c, h, w), lambda x: F.conv2d(x, W, b, stride=s, padding=p),
                    {"W": (W, lambda g: g), "b": (b, lambda g: g)}, seed)


@SETTINGS
@given(**conv_args)
def test_conv_transpose2d_vs_torch(n, c, f, k, s, p, h, w, seed):
    h, w = min(h, 4), min(w, 4)
    p = min(p, ((min(h, w) - 1) * s + k - 1) // 2)  # at least one output pixel
    layer = ng.ConvTranspose2d(c, f, k, make_rng(seed), stride=s, padding=p, init="he", dtype=F64)
    layer.params["b"].data[...] = rand(seed + 1, f)
    W, b = T(layer.params["W"].data, grad=True), T(layer.params["b"].data, grad=True)  # (C, F, k, k) both
    ours_and_theirs(layer, rand(seed, n, c, h, w),
                    lambda x: F.conv_transpose2d(x, W, b, stride=s, padding=p),
                    {"W": (W, lambda g: g), "b": (b, lambda g: g)}, seed)


@pytest.mark.parametrize("spatial", [(), (3, 2)], ids=["1d", "2d"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm_vs_torch(spatial, training):
    """Output, gradients and the running statistics after two training batches."""
    C = 3
    layer = ng.BatchNorm(C, momentum=0.1, eps=1e-5, dtype=F64).train(training)
    twin = (torch.nn.BatchNorm2d if spatial else torch.nn.BatchNorm1d)(C, momentum=0.1, eps=1e-5).double()
    twin.train(training)
    gamma, beta = 1 + 0.3 * rand(1, C), rand(2, C)
    mean0, var0 = rand(3, C), 1 + np.abs(rand(4, C))
    layer.params["gamma"].data[...], layer.params["beta"].data[...] = gamma, beta
    layer.buffers["running_mean"][...], layer.buffers["running_var"][...] = mean0, var0
    with torch.no_grad():
        twin.weight.copy_(T(gamma)), twin.bias.copy_(T(beta))
        twin.running_mean.copy_(T(mean0)), twin.running_var.copy_(T(var0))
    for step in range(2):
        x = 2 + 3 * rand(10 + step, 5, C, *spatial)
        twin.zero_grad()
        ours_and_theirs(layer, x, twin, {"gamma": (twin.weight, lambda g: g),
                                         "beta": (twin.bias, lambda g: g)}, seed=step)
        for ours, theirs in [("running_mean", twin.running_mean), ("running_var", twin.running_var)]:
            assert_close(layer.buffers[ours], theirs.numpy(), f"BatchNorm {ours} after batch {step + 1}", **TOL)


@pytest.mark.parametrize("ours, theirs", [
    (ng.ReLU, F.relu),
    (lambda dtype: ng.LeakyReLU(0.2, dtype=dtype), lambda x: F.leaky_relu(x, 0.2)),
    (ng.Tanh, torch.tanh),
    (ng.Sigmoid, torch.sigmoid),
], ids=["relu", "leakyrelu", "tanh", "sigmoid"])
def test_activations_vs_torch(ours, theirs):
    x = 3 * rand(0, 4, 5)
    x = np.where(x >= 0, x + 0.1, x - 0.1)  # off the kink at 0
    ours_and_theirs(ours(dtype=F64), x, theirs, {}, seed=0)


def test_bce_vs_torch():
    x = np.concatenate([4 * rand(0, 12), [-50.0, 50.0, 0.0]])
    t = np.concatenate([np.random.default_rng(1).uniform(0, 1, 12), [1.0, 0.0, 0.9]])
    bce = ng.BCEWithLogits()
    loss = bce(x, t)
    g = bce.backward()
    xt = T(x, grad=True)
    lt = F.binary_cross_entropy_with_logits(xt, T(t))
    lt.backward()
    assert_close(loss, lt.detach().numpy(), "BCE loss", **TOL)
    assert_close(g, xt.grad.numpy(), "BCE dL/dx", **TOL)


@pytest.mark.parametrize("betas, lr", [((0.5, 0.999), 2e-4), ((0.9, 0.999), 0.05)])
def test_adam_vs_torch(betas, lr):
    """Five steps fed the same gradients; parameters agree after every step."""
    shapes = [(3,), (2, 4)]
    ours = [ng.Parameter(rand(i, *s)) for i, s in enumerate(shapes)]
    theirs = [torch.nn.Parameter(T(p.data)) for p in ours]
    opt, topt = ng.Adam(ours, lr=lr, betas=betas, eps=1e-8), torch.optim.Adam(theirs, lr=lr, betas=betas, eps=1e-8)
    for step in range(5):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            g = rand(100 * step + i, *p.data.shape) * 10.0 ** (i - 1)
            p.grad[...] = g
            q.grad = T(g)
        opt.step()
        topt.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            assert_close(p.data, q.detach().numpy(), f"Adam parameter {i} after step {step + 1}",
                         rtol=1e-12, atol=1e-14)
