"""A few hundred FC GAN steps on real digits move the numbers the way a learning GAN does.

Not a timed test: it counts steps, not seconds.
"""
import os
import sys

import numpy as np

from nanogan.backend import make_rng
from nanogan.batches import iterate
from nanogan.datasets import load_dataset

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import train  # noqa: E402


def test_fc_gan_learns():
    images, labels = load_dataset("mnist", "train", progress=False)
    images, labels = images[:6400], labels[:6400]                  # 100 steps an epoch at batch 64
    rng = make_rng(0)
    gan = train.GAN("fc", rng, np)
    z = make_rng(1).standard_normal((500, 100), dtype=np.float32)

    def gap():
        """How far the mean generated image is from the mean real one (mean |difference|)."""
        return float(np.abs(gan.sample(z).mean(axis=0) - images.mean(axis=0)).mean())

    before = gap()
    epochs = []
    for _ in range(3):
        stats = np.mean([gan.step(x, rng) for x, _ in iterate(images, labels, 64, rng, np)], axis=0)
        epochs.append(stats)
    d_loss, g_loss, d_real, d_fake, acc_real, acc_fake = np.array(epochs).T
    after = gap()
    report = f"D loss {d_loss}, G loss {g_loss}, D(x) {d_real}, D(G(z)) {d_fake}, gap {before:.3f} -> {after:.3f}"
    assert np.isfinite(epochs).all(), report
    assert (d_real > d_fake).all(), "D should rate real digits above fakes: " + report
    assert (d_loss < 2 * np.log(2)).all(), "D should beat chance (loss 2 ln 2): " + report
    assert (g_loss > np.log(2)).all(), "G should not yet fool D: " + report
    assert after < 0.7 * before, "G's samples should approach the data's mean image: " + report
