"""GAN.step shows D its real and fake batches in one pass of 2B when none of D's layers
mixes the samples of a batch, and in two passes when one does (BatchNorm, minibatch
discrimination). The one pass must be the two passes' sum, only with fewer operations."""
import os
import sys

import numpy as np
import pytest

import nanogan as ng
from nanogan.backend import make_rng
from nanogan.minibatch import MinibatchDiscrimination
from helpers import assert_close

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import train  # noqa: E402


def d_step(arch, joined, B=32):
    """D's gradient (flat, float32) and the step's 6 statistics after one GAN.step."""
    rng = make_rng(0)
    gan = train.GAN(arch, rng, np)
    assert gan.joined, f"{arch}: D has no layer that mixes a batch, so it should see one joined batch"
    gan.joined = joined
    data = make_rng(1)
    x = data.uniform(-1, 1, (B, 1, 28, 28)).astype(np.float32)                      # (B, 1, 28, 28)
    y = data.integers(0, 10, B) if arch == "cgan" else None                          # (B,) int64
    stats = gan.step(x, rng, y)
    return gan.opt_D.grad.copy(), stats


@pytest.mark.parametrize("arch", ["fc", "cgan"])
def test_one_pass_over_real_and_fake_is_the_two_passes(arch):
    """Same dropout masks, same images: the gradients agree up to float32 rounding (the
    sums over the batch run in another order) and so do the statistics."""
    g1, s1 = d_step(arch, joined=True)
    g2, s2 = d_step(arch, joined=False)
    scale = np.abs(g2).max()
    assert scale > 0
    assert_close(g1, g2, f"{arch}: D's gradient, one pass vs two", rtol=0, atol=1e-5 * scale)
    assert_close(s1, s2, f"{arch}: D loss, G loss, D(x), D(G(z)), accuracies", rtol=1e-5, atol=1e-6)


def test_which_discriminators_are_joined():
    rng = make_rng(0)
    assert train.GAN("fc", rng, np).joined and train.GAN("cgan", rng, np).joined
    assert not train.GAN("fc", rng, np, minibatch=True).joined          # minibatch discrimination
    assert not train.GAN("dcgan", rng, np).joined                       # BatchNorm in D
    assert train.GAN("dcgan", rng, np, d_norm="none").joined            # no BatchNorm: one pass


def test_mixes_samples_looks_inside_containers():
    rng = make_rng(0)
    inner = ng.Sequential(ng.Dense(4, 4, rng), ng.BatchNorm(4))
    assert ng.Sequential(ng.Dense(4, 4, rng), inner).mixes_samples()
    assert ng.Sequential(MinibatchDiscrimination(4, 3, 2, rng)).mixes_samples()
    assert not ng.Sequential(ng.Dense(4, 4, rng), ng.LeakyReLU(), ng.Dropout(0.3, rng)).mixes_samples()
