"""Pictures behind the numbers: the samples the classifier is surest and least sure of, and
samples beside their nearest training images.

A classifier score or a copy ratio is easier to trust after looking at its extremes.
The samples whose class the classifier is surest of show what the generator does best;
the least sure ones show its failures (strokes that are no digit, or two digits at
once), which a mean hides. And a sample drawn beside its nearest training image
(nanogan.eval.metrics.nearest_training) shows at a glance whether "near" means "copied".
"""
import numpy as np

from ..backend import to_host
from .images import grid, save_png, to_uint8

BACKGROUND = 40  # the grey of images.grid's borders


def _uint8(images):
    """uint8 (N, H, W) as given, or floats in [-1, 1] of shape (N, 1, H, W) / (N, H, W) -> uint8 (N, H, W)."""
    images = to_host(images)
    return images.reshape(len(images), *images.shape[-2:]) if images.dtype == np.uint8 else to_uint8(images)


def most_and_least_sure(probs, n=64):
    """The samples the classifier is surest and least sure of, by max_y p(y|x).

    probs: class probabilities (N, K), as nanogan.eval.classifier.features returns them.
    Returns (surest, least sure): two int64 arrays of min(n, N) indices, the surest
    first in the one and the least sure first in the other (ties in index order).
    """
    confidence = np.asarray(probs, dtype=np.float64).max(axis=1)          # (N,)
    n = min(n, len(confidence))
    return np.argsort(-confidence, kind="stable")[:n], np.argsort(confidence, kind="stable")[:n]


def save_gallery(path, images, indices, ncols=8):
    """A grid PNG of images[indices], in that order, row by row.

    images: uint8 (N, 28, 28) or floats in [-1, 1] (N, 1, 28, 28), any device."""
    save_png(path, grid(_uint8(images)[np.asarray(indices)], ncols))


def pair_tiles(left, right, gap=2):
    """Two uint8 image stacks (N, H, W) side by side: uint8 (N, H, 2W + gap), a dark strip between."""
    strip = np.full((len(left), left.shape[1], gap), BACKGROUND, dtype=np.uint8)
    return np.concatenate([left, strip, right], axis=2)


def save_pairs(path, samples, train_images, nearest_index, order=None, n=32, ncols=4):
    """A PNG of samples (left) beside their nearest training images (right), `ncols` pairs a row.

    samples, train_images: uint8 (N, 28, 28) or floats in [-1, 1]; nearest_index: int (N,),
    each sample's neighbour in train_images (nanogan.eval.metrics.nearest_training). order: the
    samples to show, in order (default the first n); np.argsort(distances) shows the
    closest pairs first, the place to look for copies.
    """
    order = np.arange(len(samples)) if order is None else np.asarray(order)
    shown = order[:n]                                                         # (n,)
    picked = _uint8(samples)[shown]                                           # (n, 28, 28)
    neighbours = _uint8(train_images[np.asarray(nearest_index)[shown]])       # (n, 28, 28)
    save_png(path, grid(pair_tiles(picked, neighbours), ncols, pad=8))
