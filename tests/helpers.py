"""Shared test tools: the device list and the finite-difference gradient check."""
import numpy as np
import pytest

from nanogan.backend import array_module, to_host

# One test body for both devices: parametrise with DEVICES. Where the CUDA case runs (a GPU,
# the CuPy stand-in) or why it skips is decided in conftest.py.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def assert_close(analytic, numeric, what, rtol=1e-5, atol=1e-8):
    """Fail with the worst element and both values when |a - n| > atol + rtol |n| anywhere."""
    a, n = to_host(analytic).astype(np.float64), to_host(numeric).astype(np.float64)
    assert a.shape == n.shape, f"{what}: shapes differ, analytic {a.shape} vs numeric {n.shape}"
    excess = np.abs(a - n) - (atol + rtol * np.abs(n))
    if a.size and excess.max() > 0:
        i = np.unravel_index(np.argmax(excess), a.shape)
        raise AssertionError(f"{what}: worst element {tuple(int(j) for j in i)}: analytic {a[i]!r} "
                             f"vs numeric {n[i]!r} (|diff| {abs(a[i] - n[i]):.3e}); "
                             f"{int((excess > 0).sum())} of {a.size} elements out of tolerance")


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f() w.r.t. every element of x (modified in place
    and restored). Element by element, so only for tiny arrays."""
    g = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)  # a view: x is contiguous
    for i in range(flat.size):
        old = flat[i].item()
        flat[i] = old + eps
        up = float(f())
        flat[i] = old - eps
        down = float(f())
        flat[i] = old
        g.reshape(-1)[i] = (up - down) / (2 * eps)
    return g


def check_gradients(layer, x, seed=0, eps=1e-6, rtol=1e-5, atol=1e-8, reseed=None):
    """Check layer.backward against central differences, w.r.t. x and every parameter.

    The scalar is L = sum(G * layer(x)) for a random upstream gradient G (never all
    ones, which would hide a transposed or mis-summed term), so dL/dy = G.
    `reseed`, if given, is called before every forward pass (for layers that draw
    randomness, such as Dropout, so every pass draws the same mask).
    """
    xp = array_module(x)
    assert x.dtype == np.float64 and layer.dtype == np.float64, "gradient checks run in float64"
    x = xp.ascontiguousarray(x)
    fwd = (lambda: (reseed(), layer.forward(x))[1]) if reseed else (lambda: layer.forward(x))
    y = fwd()
    G = xp.asarray(np.random.default_rng(seed).standard_normal(y.shape))  # float64
    layer.zero_grad()
    dx = layer.backward(G, input_grad=True) if hasattr(layer, "layers") else layer.backward(G)
    analytic = {"x": to_host(dx)} | {n: to_host(p.grad).copy() for n, p in layer.named_parameters()}

    def loss():
        return xp.sum(G * fwd())

    # A central difference cannot be more exact than the loss it differences: summing
    # the products G*y rounds L by up to about u * sum|G*y| (u = 2^-53), and dividing by
    # 2 eps turns that into an error of u * sum|G*y| / eps in each numeric derivative.
    # Ten times that is the floor of the absolute tolerance, so a large layer's check does
    # not fail on rounding (it did: 1.9e-8 off on a 256-element dropout, at atol 1e-8).
    atol = max(atol, 10 * 2.0**-53 * float(xp.abs(G * y).sum()) / eps)
    assert_close(analytic["x"], numeric_grad(loss, x, eps), f"{layer!r} dL/dx", rtol, atol)
    for name, p in layer.named_parameters():
        assert_close(analytic[name], numeric_grad(loss, p.data, eps), f"{layer!r} dL/d{name}", rtol, atol)


def check_direction(net, x, seed=0, eps=1e-6, rtol=1e-6, reseed=None):
    """Check a large network's backward along one random direction instead of element by
    element: two forward passes, whatever the size. With L = sum(G * net(x)) for a random
    upstream gradient G, and a random unit direction d over x and every parameter at once,

        dL/dt (t = 0) of L(theta + t d) = <grad L, d>      (the analytic side)
                                       ~ (L(theta + eps d) - L(theta - eps d)) / 2 eps

    A wrong term anywhere in the chain (a transposed product, a missing sum, a layer's
    gradient to the wrong parameter) moves the inner product; it is a weaker check than the
    element-wise one for any single element, and a far stronger one than none for a
    network too large to difference element by element."""
    xp = array_module(x)
    assert x.dtype == np.float64 and net.dtype == np.float64, "gradient checks run in float64"
    x = xp.ascontiguousarray(x)
    fwd = (lambda: (reseed(), net.forward(x))[1]) if reseed else (lambda: net.forward(x))
    y = fwd()
    rng = np.random.default_rng(seed)
    G = xp.asarray(rng.standard_normal(y.shape))                                     # float64, y's shape
    net.zero_grad()
    dx = net.backward(G, input_grad=True)
    arrays = [x] + [p.data for _, p in net.named_parameters()]
    grads = [dx] + [p.grad for _, p in net.named_parameters()]
    d = [xp.asarray(rng.standard_normal(a.shape)) for a in arrays]                   # float64 each
    norm = float(sum(float(xp.sum(v * v)) for v in d)) ** 0.5
    d = [v / norm for v in d]
    analytic = sum(float(xp.sum(g * v)) for g, v in zip(grads, d))

    def shifted(t):
        for a, v in zip(arrays, d):
            a += t * v
        value = float(xp.sum(G * fwd()))
        for a, v in zip(arrays, d):
            a -= t * v
        return value

    numeric = (shifted(eps) - shifted(-eps)) / (2 * eps)
    assert abs(analytic - numeric) <= rtol * abs(numeric) + 1e-7, \
        f"{net!r}: along a random direction, analytic {analytic!r} vs numeric {numeric!r}"


def fake_dataset(monkeypatch, folder, name="fashion-mnist", n_train=200, n_test=100, seed=0):
    """Stand small random IDX files in for a dataset's four files, so that tests need
    neither the real files nor the network: they are written to `folder`, which becomes
    the dataset's only directory, and their digests replace the published ones.
    Returns {split: (uint8 images (N, 28, 28), uint8 labels (N,))}."""
    import hashlib

    from nanogan.data.datasets import DATASETS
    from nanogan.data.idx import idx_bytes
    rng = np.random.default_rng(seed)
    digests, splits = {}, {}
    for split, (image_file, label_file) in DATASETS[name]["files"].items():
        n = n_train if split == "train" else n_test
        splits[split] = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))
        for file, array in zip((image_file, label_file), splits[split]):
            data = idx_bytes(array)
            (folder / file).write_bytes(data)
            digests[file] = hashlib.sha256(data).hexdigest()
    monkeypatch.setitem(DATASETS[name], "sha256", digests)
    monkeypatch.setitem(DATASETS[name], "local_dirs", (str(folder),))
    monkeypatch.setitem(DATASETS[name], "mirrors", ())
    monkeypatch.setenv("HOME", str(folder / "home"))
    monkeypatch.delenv("NANOGAN_DATA_DIR", raising=False)
    return splits
