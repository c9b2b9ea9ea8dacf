"""The moving average of G's weights: the closed form after k updates, its float32 arrays,
exact save and restore, and that GAN.step and GAN.sample use it."""

import numpy as np
import pytest

from helpers import DEVICES
from nanogan import BatchNorm, Dense, Sequential, get_xp, make_rng, to_host
from nanogan.nn.ema import EMA
from nanogan.gan import GAN, textbook


def toy(xp):
    """A Dense layer and a BatchNorm: parameters and buffers both."""
    net = Sequential(Dense(3, 2, make_rng(0)), BatchNorm(2))
    return net.to(xp)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("beta", [0.3, 0.5, 0.999])
def test_average_is_the_closed_form(device, beta):
    """After k updates with arrays theta_1..theta_k, every array of the average equals
    sum_i (1 - b_i) prod_{j>i} b_j theta_i with b_t = min(beta, (t - 1) / (t + 9)), computed
    here in float64 (beta 0.3 and 0.5 reach their cap within the 12 updates, 0.999 does not)."""
    xp = get_xp(device)
    net = toy(xp)
    ema = EMA(net, beta)
    rng = np.random.default_rng(1)
    seen = {name: [] for name in net.state_dict()}
    b = np.array([min(beta, (t - 1) / (t + 9)) for t in range(1, 13)])   # (12,) float64
    for k in range(1, 13):
        for name, a in net.state_dict().items():             # stand-in for an optimizer step
            a[...] = xp.asarray(rng.standard_normal(a.shape).astype(np.float32))
            seen[name].append(to_host(a).astype(np.float64))
        ema.update()
        weights = np.array([(1 - b[i]) * np.prod(b[i + 1:k]) for i in range(k)])   # (k,) float64, sum 1
        assert abs(weights.sum() - 1) < 1e-12
        for name, got in ema.average.state_dict().items():
            want = np.tensordot(weights, np.stack(seen[name]), axes=1)
            assert got.dtype == np.float32, (name, got.dtype)
            np.testing.assert_allclose(to_host(got), want, rtol=1e-5, atol=1e-6, err_msg=f"{name} after {k}")
    assert ema.t == 12


def test_first_update_copies_and_before_that_the_initial_weights():
    net = toy(np)
    ema = EMA(net, 0.999)
    before = {k: a.copy() for k, a in net.state_dict().items()}
    assert all(np.array_equal(ema.average.state_dict()[k], a) for k, a in before.items())
    for a in net.state_dict().values():
        a += 1
    ema.update()                                              # w_1 = 1: no share of the initial weights
    assert all(np.array_equal(ema.average.state_dict()[k], a) for k, a in net.state_dict().items())


def test_state_round_trip_is_exact():
    net = toy(np)
    ema = EMA(net, 0.9)
    for _ in range(3):
        for a in net.state_dict().values():
            a *= 1.5
        ema.update()
    state = ema.state_dict()
    assert state["t"].dtype == np.int64 and int(state["t"]) == 3
    other = EMA(toy(np), 0.9)
    other.load_state_dict(state)
    assert other.t == 3
    assert all(np.array_equal(other.average.state_dict()[k], a) for k, a in ema.average.state_dict().items())
    for a in net.state_dict().values():                        # a snapshot: later updates leave it alone
        a += 1
    ema.update()
    assert not np.array_equal(state["0.W"], ema.average.state_dict()["0.W"])


def test_gan_updates_and_samples_with_the_average():
    """GAN.step folds G into the average once per step; GAN.sample draws with the average,
    which after two steps differs from G's own weights."""
    rng = make_rng(0)
    gan = GAN(textbook("fc", ema=0.9), rng, np)
    x = make_rng(1).uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32)
    for _ in range(2):
        gan.step(x, rng)
    assert gan.ema.t == gan.opt_G.t == 2
    z = make_rng(2).standard_normal((4, 100), dtype=np.float32)
    averaged = gan.sample(z)
    own = gan.G.forward(z)
    assert averaged.dtype == np.float32 and averaged.shape == (4, 1, 28, 28)
    assert not np.allclose(averaged, own)
    assert any(k.startswith("ema/") for k in gan.state_arrays()) and "ema/t" in gan.state_arrays()
    assert not any(k.startswith("ema/") for k in GAN(textbook("fc"), make_rng(0), np).state_arrays())
