"""Samples of a generator, as training, sample.py and evaluate.py draw them: the fixed grid
of every epoch, n fresh digits, and their scores.

These use only the sampling side of a GAN (nanogan.gan.GAN): `gan.sample(z, y)` (y: digits,
or soft one-hot rows), `gan.noise`, `gan.z_dim`, `gan.conditional` and `gan.xp`.
"""
import numpy as np

from ..backend import make_rng, to_device
from .images import grid, to_uint8
from .metrics import evaluate

CHUNK = 10_000  # samples per pass through G: bounded device memory for any --num-samples


def draw(gan, n, rng, digit=None, truncation=None):
    """n samples (device images in [-1, 1], (n, 1, 28, 28)) and, for the conditional GAN,
    the digits asked for: `digit`, or 0, 1, ..., 9, 0, ... in turn (host int64 (n,), else None).
    `truncation`: the noise's truncation (GAN.noise), None for none."""
    y = None
    if gan.conditional:
        y = np.full(n, digit, dtype=np.int64) if digit is not None else np.arange(n, dtype=np.int64) % 10
    return gan.sample(gan.noise(n, rng, truncation), None if y is None else to_device(y, gan.xp)), y


def grid_inputs(gan, seed):
    """The inputs behind every epoch's sample grid, from their own generator so that they are
    the same each epoch: 64 noise vectors in an 8x8 grid, or for the conditional GAN a 10x10
    grid with one row per digit and the noise fixed per column. Returns (z, y, columns)."""
    draw_noise = make_rng([seed, 1]).standard_normal
    if not gan.conditional:
        return to_device(draw_noise((64, gan.z_dim), dtype=np.float32), gan.xp), None, 8
    z = np.tile(draw_noise((10, gan.z_dim), dtype=np.float32), (10, 1))  # row r, column c: noise c
    y = np.repeat(np.arange(10, dtype=np.int64), 10)                       # row r: digit r
    return to_device(z, gan.xp), to_device(y, gan.xp), 10


def grid_picture(gan, inputs):
    """The uint8 picture of G's samples of `inputs` (grid_inputs)."""
    z, y, columns = inputs
    return grid(to_uint8(gan.sample(z, y)), columns)


def classifier_on(xp, dataset, _loaded={}):
    """The classifier of `dataset` on the array module xp, loaded once per process."""
    from ..eval.classifier import load_classifier
    if (xp, dataset) not in _loaded:
        _loaded[xp, dataset] = load_classifier(xp=xp, dataset=dataset)
    return _loaded[xp, dataset]


def score(gan, n, seed, dataset):
    """The classifier's metrics (nanogan.eval.metrics) on n fresh samples. The noise comes from a
    generator of its own, never the run's, so evaluating leaves a run's stream untouched."""
    samples, y = draw(gan, n, make_rng([seed, 2]))
    return evaluate(samples, classifier_on(gan.xp, dataset), labels=y, dataset=dataset)
