"""Layers composed into networks: the chain rule through Sequential, the GAN's generator
step through a discriminator, gradient accumulation, train/eval and state round trips.

The per-layer checks live in test_layers.py; these catch what only composition shows
(a layer that returns a gradient of the wrong layout to its neighbour, a container that
forgets a child, a generator step that depends on the discriminator's stale gradients).
"""
import numpy as np
import pytest

import nanogan as ng
from nanogan.backend import get_xp, make_rng, to_host
from helpers import DEVICES, assert_close, check_direction, check_gradients, numeric_grad

F64 = np.float64


def rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)  # float64


def randomise(model, seed, xp):
    """Non-trivial values everywhere: small random biases, gammas near 1, betas near 0."""
    for i, (name, p) in enumerate(model.named_parameters()):
        r = rand(seed + i, *p.data.shape)
        if name.endswith("gamma"):
            r = 1 + 0.3 * r
        elif name.endswith("b") or name.endswith("beta"):
            r = 0.1 * r
        else:
            continue  # weights keep their initialisation
        p.data[...] = xp.asarray(r)


def mixed_net(xp, seed=0):
    """(N, 4) -> (N, 2) through every kind of layer: dense, batchnorm (dense and conv),
    reshape, transposed conv, conv, dropout, flatten and both squashing activations."""
    rng = make_rng(seed)
    net = ng.Sequential(
        ng.Dense(4, 18, rng, init="he", dtype=F64),                        # (N, 18)
        ng.BatchNorm(18, dtype=F64),
        ng.LeakyReLU(0.2, dtype=F64),
        ng.Reshape(2, 3, 3, dtype=F64),                                    # (N, 2, 3, 3)
        ng.ConvTranspose2d(2, 3, 3, rng, stride=2, padding=1, init="he", dtype=F64),  # (N, 3, 5, 5)
        ng.BatchNorm(3, dtype=F64),
        ng.LeakyReLU(0.2, dtype=F64),
        ng.Conv2d(3, 2, 3, rng, stride=2, padding=1, init="he", dtype=F64),  # (N, 2, 3, 3)
        ng.Dropout(0.3, rng, dtype=F64),
        ng.Flatten(dtype=F64),                                             # (N, 18)
        ng.Dense(18, 2, rng, dtype=F64),                                   # (N, 2)
        ng.Tanh(dtype=F64),
    ).to(xp)
    randomise(net, seed + 100, xp)
    return net


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_gradients_through_mixed_sequential(device, training):
    xp = get_xp(device)
    net = mixed_net(xp).train(training)
    dropout = net[8]

    def reseed():
        dropout.rng = make_rng(7)  # the same dropout mask on every pass

    check_gradients(net, xp.asarray(rand(1, 3, 4)), seed=2, rtol=1e-4, atol=1e-7, reseed=reseed)


def generator(xp):
    rng = make_rng(10)
    G = ng.Sequential(ng.Dense(3, 6, rng, init="he", dtype=F64), ng.BatchNorm(6, dtype=F64),
                      ng.LeakyReLU(0.2, dtype=F64), ng.Dense(6, 5, rng, dtype=F64), ng.Tanh(dtype=F64)).to(xp)
    randomise(G, 200, xp)
    return G


def discriminator(xp):
    rng = make_rng(20)
    D = ng.Sequential(ng.Dense(5, 4, rng, dtype=F64), ng.LeakyReLU(0.2, dtype=F64),
                      ng.Dense(4, 1, rng, dtype=F64)).to(xp)
    randomise(D, 300, xp)
    return D


def generator_step(G, D, z, xp):
    """L = BCE(D(G(z)), 1), the non-saturating generator loss; returns (L, dL/dz).
    D's parameter gradients are a by-product (D.backward adds them), never an input."""
    bce = ng.BCEWithLogits()
    logits = D(G(z))
    loss = bce(logits, xp.ones(logits.shape, dtype=logits.dtype))
    dz = G.backward(D.backward(bce.backward(), input_grad=True), input_grad=True)
    return loss, dz


@pytest.mark.parametrize("device", DEVICES)
def test_generator_step_through_discriminator(device):
    """dL/dz and dL/dtheta_G by finite differences of the whole chain z -> G -> D -> BCE."""
    xp = get_xp(device)
    G, D = generator(xp), discriminator(xp)
    z = xp.asarray(rand(3, 4, 3))
    G.zero_grad()
    D.zero_grad()
    _, dz = generator_step(G, D, z, xp)
    analytic = {n: to_host(p.grad).copy() for n, p in G.named_parameters()}

    def loss():
        logits = D(G(z))
        return ng.BCEWithLogits()(logits, xp.ones(logits.shape, dtype=logits.dtype))

    assert_close(dz, numeric_grad(loss, z), "generator step dL/dz", rtol=1e-5, atol=1e-9)
    for name, p in G.named_parameters():
        assert_close(analytic[name], numeric_grad(loss, p.data), f"generator step dL/dG.{name}",
                     rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
def test_generator_step_ignores_discriminator_grads(device):
    """A GAN trains D, then G through D without stepping D. G's gradients must not depend
    on whatever D.grad holds (left over from D's own step), and backward must leave D's
    weights alone; D's grads are then simply cleared and thrown away."""
    xp = get_xp(device)
    G, D = generator(xp), discriminator(xp)
    z = xp.asarray(rand(4, 4, 3))
    D_weights = {n: to_host(p.data).copy() for n, p in D.named_parameters()}

    def run(d_grad_fill):
        G.zero_grad()
        for i, p in enumerate(D.parameters()):
            p.grad[...] = xp.asarray(d_grad_fill * rand(50 + i, *p.grad.shape))
        loss, dz = generator_step(G, D, z, xp)
        return float(loss), to_host(dz).copy(), {n: to_host(p.grad).copy() for n, p in G.named_parameters()}

    clean, dirty = run(0.0), run(1e6)                 # D.grad zero vs. stale garbage
    assert clean[0] == dirty[0], f"loss {clean[0]!r} vs {dirty[0]!r}"
    assert np.array_equal(clean[1], dirty[1]), f"dL/dz with clean D grads {clean[1]!r} vs stale {dirty[1]!r}"
    for name in clean[2]:
        assert np.array_equal(clean[2][name], dirty[2][name]), \
            f"G.{name}.grad with clean D grads {clean[2][name]!r} vs stale {dirty[2][name]!r}"
    for name, p in D.named_parameters():
        assert np.array_equal(to_host(p.data), D_weights[name]), f"backward changed D.{name}"
    D.zero_grad()
    assert all(not to_host(p.grad).any() for p in D.parameters()), "zero_grad left D gradients"


@pytest.mark.parametrize("device", DEVICES)
def test_gradients_accumulate_and_zero_grad_clears(device):
    """Two backward passes add up, as when D sees a real batch and then a fake one."""
    xp = get_xp(device)
    net = mixed_net(xp)
    dropout = net[8]
    batches = [xp.asarray(rand(5, 3, 4)), xp.asarray(rand(6, 2, 4))]
    upstream = [xp.asarray(rand(7, 3, 2)), xp.asarray(rand(8, 2, 2))]

    def backward_pass(i):
        dropout.rng = make_rng(i)
        net(batches[i])
        net.backward(upstream[i])

    def grads():
        return {n: to_host(p.grad).copy() for n, p in net.named_parameters()}

    alone = []
    for i in range(2):
        net.zero_grad()
        backward_pass(i)
        alone.append(grads())
    net.zero_grad()
    backward_pass(0)
    backward_pass(1)
    both = grads()
    for name in both:
        assert_close(both[name], alone[0][name] + alone[1][name], f"accumulated {name}", rtol=1e-12, atol=1e-15)
    net.zero_grad()
    leftover = {n: float(np.abs(g).max()) for n, g in grads().items() if g.any()}
    assert not leftover, f"zero_grad left gradients behind: {leftover}"


def test_train_eval_propagate():
    """train()/eval() reach every layer, including those inside a nested Sequential."""
    net = ng.Sequential(mixed_net(np), ng.Sequential(ng.Dense(2, 2, make_rng(0), dtype=F64)))

    def modes(m):
        return [m.training] + [t for child in m.children() for t in modes(child)]

    assert net.eval() is net and not any(modes(net)), f"after eval(): {modes(net)}"
    x = rand(0, 5, 4)
    assert np.array_equal(net(x), net(x)), "eval mode must be deterministic (no dropout, running stats)"
    net.train()
    assert all(modes(net)), f"after train(): {modes(net)}"
    assert not np.array_equal(net(x), net(x)), "train mode draws a fresh dropout mask each pass"


@pytest.mark.parametrize("device", DEVICES)
def test_state_dict_round_trip(device):
    """Parameters and buffers (BatchNorm running statistics) move into a differently
    initialised twin, which then computes the same function."""
    xp = get_xp(device)
    a, b = mixed_net(xp, seed=1), mixed_net(xp, seed=2)
    for i in range(3):                                 # move the running statistics off 0 and 1
        a(xp.asarray(rand(10 + i, 8, 4)))
    state = a.state_dict()
    assert {"0.W", "0.b", "1.gamma", "1.running_mean", "5.running_var", "7.W"} <= state.keys(), sorted(state)
    b.load_state_dict(state)
    for name, value in b.state_dict().items():
        assert np.array_equal(to_host(value), to_host(state[name])), f"{name}: {value!r} vs {state[name]!r}"
    x = xp.asarray(rand(20, 5, 4))
    ya, yb = to_host(a.eval()(x)), to_host(b.eval()(x))
    assert np.array_equal(ya, yb), f"outputs differ after loading: {ya!r} vs {yb!r}"

    with pytest.raises(ValueError, match=r"missing \['0\.W'\]"):
        b.load_state_dict({k: v for k, v in state.items() if k != "0.W"})
    with pytest.raises(ValueError, match=r"0\.W: expected shape \(4, 18\)"):
        b.load_state_dict(dict(state, **{"0.W": xp.zeros((18, 4))}))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("arch", ["fc", "dcgan", "cgan"])
def test_the_recipes_networks_along_a_random_direction(arch, device):
    """The networks `python train.py --arch ARCH` trains, full size, in float64: G and D's
    backward against two forward passes along one random direction through the input and
    every weight (helpers.check_direction). Training mode, so BatchNorm uses the batch's
    statistics, minibatch discrimination sees the batch, and dropout draws one fixed mask."""
    from nanogan.gan import build_networks, recipe
    from nanogan.nn import SpectralNorm
    xp = get_xp(device)
    config = recipe(arch)
    G, D = (net.astype(F64).to(xp) for net in build_networks(config, make_rng(0)))
    n_in = 10 if arch == "cgan" else 0
    dropouts = [layer for layer in D.layers if isinstance(layer, ng.Dropout)]
    # A spectrally normalised layer's power iteration makes u and v functions of W, which its
    # backward holds constant by design (nn/spectral_norm.py): so its u and v are fixed here,
    # in eval mode, after one training pass has moved them off their start
    normalised = [layer for layer in D.layers if isinstance(layer, SpectralNorm)]

    def reseed():
        for i, layer in enumerate(dropouts):
            layer.rng = make_rng(100 + i)

    check_direction(G, xp.asarray(rand(3, 6, config.z_dim + config.codes + n_in)), seed=4)  # G's input
    x = rand(5, 6, 784 + n_in) if arch == "cgan" else rand(5, 6, 1, 28, 28)
    D.forward(xp.asarray(x))
    for layer in normalised:
        layer.train(False)
    check_direction(D, xp.asarray(x), seed=6, reseed=reseed)
