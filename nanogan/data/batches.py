"""Minibatches: one shuffled pass over the data per epoch.

Shuffling is a permutation drawn from the run's one random generator
(backend.make_rng), on the host, so the order of the examples is the same on
CPU and GPU and a resumed run continues it exactly. Batches are gathered where
the data set lives: train.py keeps it on the device and moves each epoch's order
there in one copy (`batch_order`); `iterate` moves one batch's indices at a time.
"""
import numpy as np

from ..backend import array_module, to_device
from ..errors import NanoganError


def num_batches(n, batch_size, drop_last=True):
    """How many batches one epoch over `n` examples yields."""
    return n // batch_size if drop_last else -(-n // batch_size)  # floor or ceiling of n / batch_size


def batches(n, batch_size, rng, drop_last=True):
    """An iterator of int64 index arrays covering one random permutation of range(n).

    Every index appears exactly once per epoch, except that with `drop_last`
    the n % batch_size examples left over at the end are skipped (a different
    few each epoch), so that every batch has the same size; otherwise the last
    batch is smaller.

    The permutation is drawn from `rng` (a numpy.random.Generator) now, when
    this function is called, not at the first `next()`: what the generator
    yields then does not depend on when the caller starts iterating.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise NanoganError(f"the batch size must be a positive integer, got {batch_size!r}.")
    if drop_last and batch_size > n:
        raise NanoganError(f"the batch size {batch_size} is larger than the {n} examples, so dropping "
                           "the last partial batch would leave none; use a smaller --batch-size.")
    order = rng.permutation(n).astype(np.int64, copy=False)  # (n,)
    stop = num_batches(n, batch_size, drop_last) * batch_size
    return (order[start:start + batch_size] for start in range(0, stop, batch_size))


def batch_order(n, batch_size, rng):
    """One epoch's batches at once: int64 (n // batch_size, batch_size), row i the indices of
    batch i, from one permutation drawn from `rng` (the leftover n % batch_size are skipped,
    as with `batches(..., drop_last=True)`, which draws the same permutation). One array, so
    that a training loop on a GPU moves an epoch's order there in one transfer."""
    order = rng.permutation(n).astype(np.int64, copy=False)                     # (n,)
    steps = num_batches(n, batch_size)
    if steps == 0:
        raise NanoganError(f"the batch size {batch_size} is larger than the {n} examples; "
                           "use a smaller --batch-size.")
    return order[:steps * batch_size].reshape(steps, batch_size)                # (steps, B)


def iterate(images, labels, batch_size, rng, xp, drop_last=True):
    """An iterator of (x, y) minibatches over one epoch, moved to the array module `xp`.

    images: array of shape (N, C, H, W); labels: array of shape (N,).
    Yields x of shape (B, C, H, W) and y of shape (B,), dtypes unchanged, where
    x[i] is the image whose label is y[i]. Like `batches`, it draws the
    permutation (and raises on a bad batch size) when called.
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    return _gather(images, labels, batches(len(images), batch_size, rng, drop_last), xp)


def _gather(images, labels, order, xp):
    """Index the examples of each batch where they live, then move them to `xp`."""
    source = array_module(images)  # a data set already on the GPU is indexed there
    for idx in order:
        idx = to_device(idx, source)
        yield to_device(images[idx], xp), to_device(labels[idx], xp)  # (B, C, H, W), (B,)
