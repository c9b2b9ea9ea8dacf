"""A few hundred FC GAN steps on real digits move the numbers the way a learning GAN does.

Not a timed test: it counts steps, not seconds. And not a test of one trajectory: a GAN
amplifies rounding differences (BLAS sums in another order with another thread count, and
after a few hundred steps the weights differ in every digit), so each check has a margin
several times the spread measured over seeds and thread counts, and the generator's
progress is averaged over the last epoch's steps rather than read at one of them.
Measured over 6 seeds at 1 and 2 BLAS threads: the averaged gap ratio was 0.58-0.62 (bound
0.7; the ratio after the single last step ranged 0.43-0.63), D(x) - D(G(z)) > 0.19,
D loss <= 1.20 (bound 1.39), G loss >= 0.89 (bound 0.69).
"""
import os
import sys

import numpy as np

from nanogan.backend import make_rng
from nanogan.data.batches import iterate
from nanogan.data.datasets import load_dataset
from nanogan.gan import GAN, textbook

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_fc_gan_learns():
    images, labels = load_dataset("mnist", "train", progress=False)
    images, labels = images[:6400], labels[:6400]                  # 100 steps an epoch at batch 64
    rng = make_rng(0)
    gan = GAN(textbook("fc"), rng, np)
    z = make_rng(1).standard_normal((256, 100), dtype=np.float32)
    real_mean = images.mean(axis=0)                                 # (1, 28, 28)

    def gap():
        """How far the mean generated image is from the mean real one (mean |difference|)."""
        return float(np.abs(gan.sample(z).mean(axis=0) - real_mean).mean())

    before = gap()
    epochs, last_gaps = [], []
    for epoch in range(3):
        stats = []
        for x, _ in iterate(images, labels, 64, rng, np):
            stats.append(gan.step(x, rng))
            if epoch == 2:
                last_gaps.append(gap())
        epochs.append(np.mean(stats, axis=0))
    d_loss, g_loss, d_real, d_fake, acc_real, acc_fake = np.array(epochs).T
    after = float(np.mean(last_gaps))
    report = (f"D loss {d_loss}, G loss {g_loss}, D(x) {d_real}, D(G(z)) {d_fake}, "
              f"gap {before:.3f} -> {after:.3f} (mean over the last epoch's steps)")
    assert np.isfinite(epochs).all(), report
    assert (d_real > d_fake + 0.1).all(), "D should rate real digits above fakes: " + report
    assert (d_loss < 2 * np.log(2)).all(), "D should beat chance (loss 2 ln 2): " + report
    assert (g_loss > np.log(2)).all(), "G should not yet fool D: " + report
    assert after < 0.7 * before, "G's samples should approach the data's mean image: " + report
