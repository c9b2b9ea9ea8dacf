"""GAN.step shows D its real and fake batches in one pass of 2B when none of D's layers
mixes the samples of a batch, and in two passes when one does (BatchNorm, minibatch
discrimination). Both must compute what the textbook step computes: checked here against
that step written out by hand, with the random numbers drawn in the order GAN.randomness
documents. (That the joined pass takes fewer operations is tests/test_cuda.py's business.)"""
import os
import sys

import numpy as np
import pytest

import nanogan as ng
from nanogan.backend import make_rng
from nanogan.nn.minibatch import MinibatchDiscrimination
from nanogan.gan import GAN, textbook
from nanogan.gan.gan import with_code
from helpers import assert_close

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

B = 32


def batch(arch):
    """Real images (B, 1, 28, 28) float32 in [-1, 1], and digits (B,) int64 for the cgan."""
    data = make_rng(1)
    x = data.uniform(-1, 1, (B, 1, 28, 28)).astype(np.float32)
    return x, (data.integers(0, 10, B) if arch == "cgan" else None)


def stepped(arch, real_label, joined):
    """One GAN.step, D's pass joined or not: (D's gradient, G's gradient, the 6 statistics)."""
    rng = make_rng(0)
    gan = GAN(textbook(arch, real_label=real_label), rng, np)
    gan.joined = joined
    x, y = batch(arch)
    stats = gan.step(x, rng, y)
    return gan.opt_D.grad.copy(), gan.opt_G.grad.copy(), stats


def by_hand(arch, real_label):
    """The same step written out: noise, the fake batch's digits, then a dropout mask per
    layer for the real batch, for the fake batch and for G's pass; D's two mean BCEs, each
    in a pass of its own, their gradients added; D's update; G's loss through that D."""
    rng = make_rng(0)
    gan = GAN(textbook(arch, real_label=real_label), rng, np)
    x, y = batch(arch)
    z = rng.standard_normal((B, 100), dtype=np.float32)                               # (B, 100)
    digits = rng.integers(0, 10, B) if arch == "cgan" else None                      # (B,) int64
    masks = [[layer.draw_mask((B, width), rng) for layer, width in gan.dropouts] for _ in range(3)]
    fake = gan.generate(z, digits)                                                    # (B, 1, 28, 28)
    bce, full = ng.BCEWithLogits(), lambda v: np.full((B, 1), v, dtype=np.float32)  # noqa: E731
    gan.opt_D.zero_grad()
    logits, losses = [], []
    for images, labels, target, pass_masks in ((x, y, real_label, masks[0]), (fake, digits, 0.0, masks[1])):
        gan.use_masks(pass_masks)
        logits.append(gan.discriminate(images, labels))
        losses.append(bce(logits[-1], full(target)))
        gan.D.backward(bce.backward())
    grad_D = gan.opt_D.grad.copy()
    gan.opt_D.step()
    gan.opt_G.zero_grad()
    gan.use_masks(masks[2])
    loss_G = bce(gan.discriminate(fake, digits), full(1.0))
    gan.D.requires_grad_(False)
    gan.G.backward(gan.d_backward(bce.backward()))
    sigmoid = [1 / (1 + np.exp(-l.astype(np.float64))) for l in logits]
    stats = [losses[0] + losses[1], loss_G, sigmoid[0].mean(), sigmoid[1].mean(),
             (logits[0] > 0).mean(), (logits[1] < 0).mean()]
    return grad_D, gan.opt_G.grad.copy(), np.array(stats, dtype=np.float64)


@pytest.mark.parametrize("real_label", [1.0, 0.9])
@pytest.mark.parametrize("arch", ["fc", "cgan"])
@pytest.mark.parametrize("joined", [True, False], ids=["one pass", "two passes"])
def test_discriminator_pass_is_the_textbook_step(arch, real_label, joined):
    """D's gradient to float32 rounding (the joined pass sums the batch in another order);
    G's gradient to a looser bound, since it goes through D after an Adam step whose first
    update is lr * sign(gradient), which rounding can flip where a gradient is near 0."""
    grad_D, grad_G, stats = stepped(arch, real_label, joined)
    want_D, want_G, want_stats = by_hand(arch, real_label)
    what = f"{arch}, real_label {real_label}, {'one pass' if joined else 'two passes'}"
    assert np.abs(want_D).max() > 0 and np.abs(want_G).max() > 0, f"{what}: the hand-written step has no gradient"
    assert_close(grad_D, want_D, f"{what}: D's gradient, GAN.step vs by hand", rtol=0, atol=1e-5 * np.abs(want_D).max())
    assert_close(grad_G, want_G, f"{what}: G's gradient, GAN.step vs by hand", rtol=0, atol=1e-3 * np.abs(want_G).max())
    assert_close(stats, want_stats, f"{what}: D loss, G loss, D(x), D(G(z)), accuracies, GAN.step vs by hand",
                 rtol=1e-5, atol=1e-6)


def test_which_discriminators_are_joined():
    rng = make_rng(0)
    assert GAN(textbook("fc"), rng, np).joined and GAN(textbook("cgan"), rng, np).joined
    assert not GAN(textbook("fc", minibatch=True), rng, np).joined          # minibatch discrimination
    assert not GAN(textbook("dcgan"), rng, np).joined                       # BatchNorm in D
    assert GAN(textbook("dcgan", d_norm="none"), rng, np).joined            # no BatchNorm: one pass


def test_mixes_samples_looks_inside_containers():
    rng = make_rng(0)
    inner = ng.Sequential(ng.Dense(4, 4, rng), ng.BatchNorm(4))
    assert ng.Sequential(ng.Dense(4, 4, rng), inner).mixes_samples()
    assert ng.Sequential(MinibatchDiscrimination(4, 3, 2, rng)).mixes_samples()
    assert not ng.Sequential(ng.Dense(4, 4, rng), ng.LeakyReLU(), ng.Dropout(0.3, rng)).mixes_samples()


def test_gs_code_is_read_off_the_noise():
    """with_code(z, K) = [z, e_c] with c = argmax of z's first K entries: the noise unchanged,
    one 1 in each code row, where those entries peak; every code equally likely (10,000 draws:
    1,000 +- 30 each); a scale s puts s where the 1 was, nothing else; and a GAN with codes
    samples G of exactly that input."""
    z = make_rng(3).standard_normal((10_000, 100), dtype=np.float32)      # (N, 100) float32
    zc = with_code(z, 10)
    assert zc.shape == (10_000, 110) and zc.dtype == np.float32, (zc.shape, zc.dtype)
    assert np.array_equal(zc[:, :100], z), "the noise part changed"
    code = zc[:, 100:]
    assert np.array_equal(np.unique(code), [0, 1]) and (code.sum(axis=1) == 1).all(), "not one-hot"
    assert np.array_equal(code.argmax(axis=1), z[:, :10].argmax(axis=1)), "not the first 10 entries' argmax"
    share = code.mean(axis=0)
    assert ((0.09 < share) & (share < 0.11)).all(), f"codes' shares {share}, expected 0.1 each"
    scaled = with_code(z, 10, 7.5)
    assert scaled.dtype == np.float32 and np.array_equal(scaled[:, :100], z), scaled.dtype
    assert np.array_equal(scaled[:, 100:], 7.5 * code), "a scaled code is not the code times its scale"

    for s in (1.0, 10.0):
        gan = GAN(textbook("fc", codes=10, code_scale=s), make_rng(0), np)
        G = gan.ema.average if gan.ema else gan.G
        G.eval()
        onehot = s * np.eye(10, dtype=np.float32)[z[:8, :10].argmax(axis=1)]          # (8, 10) float32
        want = G.forward(np.concatenate([z[:8], onehot], axis=1))
        G.train()
        assert_close(gan.sample(z[:8]), want, f"gan.sample(z) against G([z, {s} e_c]) by hand", rtol=0, atol=0)


def test_truncated_noise_redraws_only_the_far_entries():
    """GAN.noise(n, rng, t): every entry within +-t; the entries of the plain draw that were
    within it kept (only the far ones are drawn again, from the same generator); none: the
    plain draw. Truncation is for sampling and changes no other random number."""
    gan = GAN(textbook("fc"), make_rng(0), np)
    plain = gan.noise(2000, make_rng(5))                                    # (2000, 100) float32
    assert np.array_equal(gan.noise(2000, make_rng(5), None), plain)
    for t in (2.0, 0.5):
        z = gan.noise(2000, make_rng(5), t)
        near = np.abs(plain) <= t
        assert z.dtype == np.float32 and np.abs(z).max() <= t, (t, np.abs(z).max())
        assert np.array_equal(z[near], plain[near]) and not np.array_equal(z, plain), t
        assert abs(z.mean()) < 0.02 and 0.5 < (z > 0).mean() * 2 < 1.5, (t, z.mean())  # still symmetric
