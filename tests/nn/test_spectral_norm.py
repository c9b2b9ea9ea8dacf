"""SpectralNorm: its backward by finite differences (u and v held fixed), sigma against the
SVD, the layer against PyTorch's spectral_norm, its state saved and restored exactly, and
its place in the layer contract (accumulating gradients, freezing, Adam's flat arrays).

The gradient checks run in eval mode, where the forward pass does no power iteration: the
loss is then exactly L(W) = sum(G * layer(x)) with W_SN = W / (u^T W v) for the stored u
and v, which is the function whose gradient the backward claims to compute. A training
pass is checked the same way at the u and v its own iteration step left behind.
"""
import numpy as np
import pytest

from nanogan.backend import get_xp, make_rng, to_host
from nanogan.nn import Adam, Conv2d, Dense, LeakyReLU, Sequential, SpectralNorm
from nanogan.nn.spectral_norm import power_iteration, sn_backward, sn_forward
from helpers import DEVICES, assert_close, check_gradients, numeric_grad

F64 = np.float64


def dense(seed, i=5, o=3, dtype=F64):
    rng = make_rng(seed)
    layer = Dense(i, o, rng, dtype=dtype)
    layer.params["b"].data[...] = rng.standard_normal(o)
    return SpectralNorm(layer, rng)


def conv(seed, c=2, f=3, k=3, dtype=F64, **kw):
    rng = make_rng(seed)
    layer = Conv2d(c, f, k, rng, init="he", dtype=dtype, **kw)
    layer.params["b"].data[...] = rng.standard_normal(f)
    return SpectralNorm(layer, rng)


def randn(xp, seed, *shape):
    return xp.asarray(np.random.default_rng(seed).standard_normal(shape))   # float64


LAYERS = {  # name -> (make the wrapped layer, input shape)
    "dense": (lambda seed: dense(seed), (4, 5)),
    "conv": (lambda seed: conv(seed, stride=2, padding=1), (2, 2, 5, 5)),
    "conv_1x1": (lambda seed: conv(seed, k=1), (2, 2, 3, 3)),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", [0, 1])
def test_sn_backward_alone(device, seed):
    """dL/dM = (G - sum(G * W_SN) u v^T) / sigma against central differences of
    L(M) = sum(G * M / (u^T M v)), for a random G and fixed unit u, v."""
    xp = get_xp(device)
    M, G = randn(xp, seed, 3, 4), randn(xp, seed + 1, 3, 4)              # (out, in) float64
    u, v = power_iteration(M, randn(xp, seed + 2, 3))                   # (3,), (4,)
    sigma, W_SN = sn_forward(M, u, v)
    analytic = sn_backward(G, W_SN, sigma, u, v)
    numeric = numeric_grad(lambda: xp.sum(G * sn_forward(M, u, v)[1]), M)
    assert_close(analytic, numeric, "sn_backward dL/dM", rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("seed", [0, 1])
def test_gradients(device, name, seed):
    """dL/dx, dL/dW and dL/db of the wrapped layer against central differences, u, v fixed."""
    xp = get_xp(device)
    make, shape = LAYERS[name]
    layer = make(seed).to(xp).eval()
    check_gradients(layer, randn(xp, seed + 10, *shape), seed=seed + 20, rtol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_training_pass_gradient(device, name):
    """A training pass's backward is the gradient of W / (u^T W v) at the u, v that pass's
    iteration step computed (the iteration itself is not differentiated)."""
    xp = get_xp(device)
    make, shape = LAYERS[name]
    layer = make(3).to(xp).train()
    x = randn(xp, 4, *shape)
    u0 = to_host(layer.buffers["u"]).copy()
    y = layer.forward(x)                                                 # one iteration step
    assert not np.array_equal(to_host(layer.buffers["u"]), u0), "a training pass left u as it was"
    G = randn(xp, 5, *y.shape)
    layer.zero_grad()
    layer.backward(G)
    analytic = to_host(layer.params["W"].grad).copy()
    layer.eval()                                                         # u, v now held as they are
    numeric = numeric_grad(lambda: xp.sum(G * layer.forward(x)), layer.params["W"].data)
    assert_close(analytic, numeric, f"{layer!r} training pass dL/dW", rtol=1e-5, atol=1e-9)


def matrix_with_spectrum(seed, out, inn, s):
    """A random (out, in) matrix with singular values s (descending)."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((out, out)))
    V, _ = np.linalg.qr(rng.standard_normal((inn, inn)))
    S = np.zeros((out, inn))
    S[range(len(s)), range(len(s))] = s
    return U @ S @ V.T


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_sigma_is_the_largest_singular_value(device, kind):
    """With a gap s2/s1 = 1/2, 40 iteration steps bring sigma within (1/2)^80 of the SVD's
    top singular value (each step shrinks the error by (s2/s1)^2); W_SN then has spectral
    norm 1, and u, v are the top singular vectors (up to one common sign)."""
    xp = get_xp(device)
    layer = dense(0, i=6, o=4) if kind == "dense" else conv(0, c=2, f=4, k=2)
    M = matrix_with_spectrum(1, 4, layer.matrix(layer.params["W"].data).shape[1], [3.0, 1.5, 1.0, 0.2])
    layer.params["W"].data[...] = layer.unmatrix(M)
    layer.to(xp).train()
    x = randn(xp, 2, *((3, 6) if kind == "dense" else (3, 2, 4, 4)))
    for _ in range(40):
        layer.forward(x)
    top = np.linalg.svd(M, compute_uv=False)[0]
    sigma = float(layer.sigma)
    assert sigma == pytest.approx(top, rel=1e-12), f"sigma {sigma!r}, largest singular value {top!r}"
    W_SN = layer.matrix(to_host(layer.w_sn.data))
    top_sn = np.linalg.svd(W_SN, compute_uv=False)[0]
    assert top_sn == pytest.approx(1.0, rel=1e-12), f"spectral norm of W_SN {top_sn!r}, expected 1"
    U, _, Vt = np.linalg.svd(M)
    u, v = to_host(layer.buffers["u"]), to_host(layer.buffers["v"])
    assert abs(u @ U[:, 0]) == pytest.approx(1.0, abs=1e-12), f"u {u}, top left singular vector {U[:, 0]}"
    assert abs(v @ Vt[0]) == pytest.approx(1.0, abs=1e-12), f"v {v}, top right singular vector {Vt[0]}"


@pytest.mark.parametrize("device", DEVICES)
def test_sigma_of_dcgan_sized_layers(device):
    """On D's own layers as initialised (no designed gap, float32), the estimate reaches the
    SVD's value to 1e-3 within 200 steps; the iteration never overshoots (u^T M v <= sigma_1
    for unit u and v)."""
    xp = get_xp(device)
    rng = make_rng(0)
    for layer, x in [(Conv2d(8, 16, 4, rng, stride=2, padding=1), np.zeros((1, 8, 14, 14), np.float32)),
                     (Dense(784, 1, rng, init="dcgan"), np.zeros((1, 784), np.float32))]:
        sn = SpectralNorm(layer, rng).to(xp)
        top = np.linalg.svd(sn.matrix(to_host(sn.params["W"].data)).astype(F64), compute_uv=False)[0]
        for step in range(200):
            sn.forward(xp.asarray(x))
            assert float(sn.sigma) <= top * (1 + 1e-5), f"{sn!r} step {step}: sigma {float(sn.sigma)!r} > {top!r}"
        assert float(sn.sigma) == pytest.approx(top, rel=1e-3), f"{sn!r}: sigma {float(sn.sigma)!r}, SVD {top!r}"
        assert sn.sigma.dtype == np.float32 and sn.buffers["u"].dtype == np.float32 \
            and sn.buffers["v"].dtype == np.float32, \
            f"sigma {sn.sigma.dtype}, u {sn.buffers['u'].dtype}, v {sn.buffers['v'].dtype}, expected float32"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_dtypes(device, name):
    """float32 in, float32 everywhere: output, dL/dx, dL/dW, u, v, sigma, W_SN."""
    xp = get_xp(device)
    make, shape = LAYERS[name]
    layer = make(0).astype(np.float32).to(xp)
    y = layer.forward(xp.asarray(np.ones(shape, dtype=np.float32)))
    dx = layer.backward(xp.ones(y.shape, dtype=np.float32))
    got = {"y": y.dtype, "dx": dx.dtype, "W.grad": layer.params["W"].grad.dtype, "u": layer.buffers["u"].dtype,
           "v": layer.buffers["v"].dtype, "sigma": layer.sigma.dtype, "W_SN": layer.w_sn.data.dtype}
    assert all(d == np.float32 for d in got.values()), f"expected float32 throughout, got {got}"


@pytest.mark.parametrize("device", DEVICES)
def test_eval_leaves_u_and_v(device):
    """Eval mode does no iteration: u, v and the output stay exactly as they were."""
    xp = get_xp(device)
    layer = conv(0, stride=2, padding=1).to(xp)
    x = randn(xp, 1, 2, 2, 5, 5)
    layer.forward(x)
    u, v = to_host(layer.buffers["u"]).copy(), to_host(layer.buffers["v"]).copy()
    layer.eval()
    y1, y2 = to_host(layer.forward(x)).copy(), to_host(layer.forward(x))
    assert np.array_equal(to_host(layer.buffers["u"]), u) and np.array_equal(to_host(layer.buffers["v"]), v), \
        f"eval moved u {u} -> {to_host(layer.buffers['u'])} or v {v} -> {to_host(layer.buffers['v'])}"
    assert np.array_equal(y1, y2), f"two eval passes differ by up to {np.abs(y1 - y2).max()!r}"


@pytest.mark.parametrize("device", DEVICES)
def test_state_dict_round_trip(device):
    """u and v are saved with W and b under the layer's names; a copy loaded from the saved
    state continues bit for bit, its iteration included."""
    xp = get_xp(device)
    net = Sequential(conv(0, stride=2, padding=1), LeakyReLU(0.2)).astype(F64).to(xp)
    x = randn(xp, 1, 2, 2, 5, 5)
    for _ in range(3):
        net.forward(x)
    state = {k: to_host(a).copy() for k, a in net.state_dict().items()}
    assert sorted(state) == ["0.W", "0.b", "0.u", "0.v"], f"state names {sorted(state)}"
    other = Sequential(conv(7, stride=2, padding=1), LeakyReLU(0.2)).astype(F64).to(xp)
    other.load_state_dict(state)
    for step in range(3):
        a, b = to_host(net.forward(x)), to_host(other.forward(x))
        assert np.array_equal(a, b), f"step {step} after the load: outputs differ by up to {np.abs(a - b).max()!r}"
    for k, a in net.state_dict().items():
        b = other.state_dict()[k]
        assert np.array_equal(to_host(a), to_host(b)), f"{k}: {to_host(a)} vs reloaded {to_host(b)}"


@pytest.mark.parametrize("device", DEVICES)
def test_layer_contract(device):
    """Gradients accumulate over two passes; a frozen layer adds none but still returns
    dL/dx; Adam's flat arrays reach W through the wrapper and a step moves it."""
    xp = get_xp(device)
    net = Sequential(dense(0), LeakyReLU(0.2), dense(1, i=3, o=1)).astype(F64).to(xp)
    opt = Adam(net.parameters(), lr=1e-2)
    x, G = randn(xp, 1, 4, 5), randn(xp, 2, 4, 1)
    net.eval()                                                           # same u, v in every pass
    opt.zero_grad()
    net.forward(x)
    dx1 = to_host(net.backward(G, input_grad=True)).copy()
    once = to_host(opt.grad).copy()
    assert np.abs(once).min() > 0, f"some parameter got no gradient through Adam's flat array: {once}"
    net.forward(x)
    net.backward(G)
    assert_close(opt.grad, 2 * once, "two passes' gradient vs twice one pass's", rtol=1e-12, atol=0)
    net.requires_grad_(False)
    net.forward(x)
    dx = net.backward(G, input_grad=True)
    net.requires_grad_(True)
    assert_close(opt.grad, 2 * once, "gradient after a frozen pass", rtol=0, atol=0)
    assert_close(dx, dx1, "a frozen pass's dL/dx", rtol=1e-12, atol=0)
    W = to_host(net[0].params["W"].data).copy()
    opt.step()
    assert not np.array_equal(to_host(net[0].params["W"].data), W), "Adam's step left the wrapped W unchanged"


def test_rejects_other_layers():
    with pytest.raises(TypeError, match="SpectralNorm wraps a Dense or a Conv2d"):
        SpectralNorm(LeakyReLU(0.2), make_rng(0))


# -- against PyTorch -------------------------------------------------------------------------

def torch_twin(layer):
    """PyTorch's layer with our weights, under torch.nn.utils.spectral_norm, our u copied in."""
    torch = pytest.importorskip("torch")
    inner = layer.layer
    if isinstance(inner, Dense):
        twin = torch.nn.Linear(inner.in_features, inner.out_features).double()
        weight = layer.params["W"].data.T                                # (out, in)
    else:
        twin = torch.nn.Conv2d(inner.C, inner.F, inner.k, stride=inner.stride, padding=inner.pad).double()
        weight = layer.params["W"].data
    with torch.no_grad():
        twin.weight.copy_(torch.tensor(np.array(weight)))
        twin.bias.copy_(torch.tensor(np.array(layer.params["b"].data)))
    twin = torch.nn.utils.spectral_norm(twin)
    with torch.no_grad():
        twin.weight_u.copy_(torch.tensor(np.array(layer.buffers["u"])))
        twin.weight_v.copy_(torch.tensor(np.array(layer.buffers["v"])))
    return torch, twin


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_against_torch(name):
    """Three training passes, then one in eval mode: W_SN, the output, u, v, dL/dx and the
    gradient wrt the unnormalised weight (PyTorch's weight_orig) and the bias agree to ~1e-10."""
    make, shape = LAYERS[name]
    layer = make(0)
    torch, twin = torch_twin(layer)
    flip = (lambda a: a.T) if isinstance(layer.layer, Dense) else (lambda a: a)
    tol = dict(rtol=1e-10, atol=1e-12)
    for step, training in enumerate([True, True, True, False]):
        layer.train(training), twin.train(training)
        x = np.random.default_rng(step).standard_normal(shape)
        xt = torch.tensor(x, requires_grad=True)
        y, yt = layer.forward(x), twin(xt)
        G = np.random.default_rng(step + 10).standard_normal(y.shape)
        layer.zero_grad(), twin.zero_grad()
        dx = layer.backward(G)
        yt.backward(torch.tensor(G))
        what = f"{layer!r} pass {step} ({'train' if training else 'eval'})"
        assert_close(flip(layer.w_sn.data), twin.weight.detach().numpy(), f"{what} W_SN", **tol)
        assert_close(layer.buffers["u"], twin.weight_u.numpy(), f"{what} u", **tol)
        assert_close(layer.buffers["v"], twin.weight_v.numpy(), f"{what} v", **tol)
        assert_close(y, yt.detach().numpy(), f"{what} forward", **tol)
        assert_close(dx, xt.grad.numpy(), f"{what} dL/dx", **tol)
        assert_close(flip(layer.params["W"].grad), twin.weight_orig.grad.numpy(), f"{what} dL/dW", **tol)
        assert_close(layer.params["b"].grad, twin.bias.grad.numpy(), f"{what} dL/db", **tol)
