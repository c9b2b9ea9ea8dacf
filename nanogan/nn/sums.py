"""Per-channel sums, written as matrix products.

BatchNorm's statistics and the bias gradients of Dense and the convolutions each sum an
(N, C) or (N, C, H, W) array over every axis but the channel one, giving one number per
channel c:
    channel_sum(x)[c]    = sum over n, h, w of x[n, c, h, w]
    channel_dot(a, b)[c] = sum over n, h, w of a[n, c, h, w] * b[n, c, h, w]
Plain forms: x.sum(axis=(0, 2, 3)) and (a * b).sum(axis=(0, 2, 3)) ((0,) for (N, C)).

Why products: a sum is a dot product with a vector of ones, and BLAS reads its operands at
memory speed, while NumPy's reductions over several axes of these layouts do not. Measured
on the DCGAN's (128, 128, 7, 7) batch-last arrays (2-core AMD EPYC, one thread):
x.sum(axis=(0, 2, 3)) 0.136 ms, the same sums as one matrix-vector product 0.044 ms (it
only reads), a copy of x 0.067 ms (docs/performance.md has the script). `channel_dot` also
needs no (N, C, H, W) temporary for a * b. The sums add in another order, so they differ
from NumPy's in the last bits (float32: relative 1e-6 or so), as any two summation orders do.

Which product depends on the layout:
- channels outermost in memory (nanogan.nn.conv's batch-last layout, or (N, C) in column
  order): each channel is one contiguous row of M = N*H*W numbers, and the sums are the
  product of the (C, M) rows with ones (M,); in a padded buffer (ConvTranspose2d's
  output), (C, H) rows of W*N, summed by two products (on the CPU: CuPy's matmul would
  first copy such a view whole, so there its own reduction runs);
- C order: (N, C*H*W) is contiguous, so ones (N,) times it sums over the batch, and the
  (C, H*W) result times ones (H*W,) over the pixels (skipped for (N, C));
- anything else, and arrays that are not floating point (a product of integers with 1/M,
  or of booleans, is not a sum): the array module's reduction.
"""
import numpy as np

from ..backend import array_module

_FILLED = {}   # (array module, device, length, value, dtype) -> a constant vector, made once


def filled(xp, n, value, dtype):
    """A vector of n copies of `value` (1, or 1/M for means), `dtype`, on xp's current
    device; shared between calls, so never written into (NumPy's are read-only). One is
    kept per length and value for the life of the process: a training run asks for a
    handful."""
    device = None if xp is np else xp.cuda.Device().id
    key = (xp, device, n, float(value), np.dtype(dtype))
    if key not in _FILLED:
        v = xp.full(n, value, dtype=dtype)                           # (n,)
        if xp is np:
            v.flags.writeable = False
        _FILLED[key] = v
    return _FILLED[key]


def _rows(a):
    """a (N, C[, H, W]) as a (C, R, L) view whose length-L rows are contiguous, channels
    outermost, or None: (C, 1, N*H*W) when each channel is one contiguous block (the
    batch-last layout, or (N, C) in column order); (C, H, W*N) for a batch-last view into a
    padded buffer (ConvTranspose2d's output), whose (W, N) rows are contiguous."""
    C = a.shape[1]
    r = a.transpose((1,) + tuple(range(2, a.ndim)) + (0,))           # (C, H, W, N) or (C, N)
    if r.flags.c_contiguous:
        return r.reshape(C, 1, -1)
    if a.ndim == 4 and r.strides[3] == a.itemsize and r.strides[2] == a.shape[0] * a.itemsize:
        return r.reshape(C, a.shape[2], -1)                           # a view, by the strides
    return None


def channel_sum(x, out=None, scale=1):
    """x (N, C[, H, W]) summed over every axis but 1, times `scale`: (C,), x's dtype
    (written into `out` if given). Plain form: x.sum(axis=(0, 2, 3)) * scale, or axis 0
    for (N, C). The scale rides in the vector of ones, so a mean (scale 1/M) is still
    one product."""
    xp = array_module(x)
    rows = _rows(x) if x.dtype.kind == "f" else None
    if rows is not None and (rows.shape[1] == 1 or xp is np):
        C, R, L = rows.shape
        if R == 1:
            return xp.matmul(rows.reshape(C, L), filled(xp, L, scale, x.dtype), out=out)   # (C, L)(L,)
        per_row = rows @ filled(xp, L, scale, x.dtype)                                       # (C, R)
        return xp.matmul(per_row, filled(xp, R, 1, x.dtype), out=out)                       # (C, R)(R,)
    if x.flags.c_contiguous and x.dtype.kind == "f":
        N, C = x.shape[:2]
        if x.ndim == 2:
            return xp.matmul(filled(xp, N, scale, x.dtype), x, out=out)       # (N,)(N, C) -> (C,)
        per_pixel = filled(xp, N, scale, x.dtype) @ x.reshape(N, -1)          # (N,)(N, C*H*W) -> (C*H*W,)
        return xp.matmul(per_pixel.reshape(C, -1), filled(xp, x[0, 0].size, 1, x.dtype), out=out)
    total = x.sum(axis=(0,) + tuple(range(2, x.ndim)), out=out)
    if scale != 1:
        total *= scale
    return total


def channel_dot(a, b):
    """sum over every axis but 1 of a * b, for a and b (N, C[, H, W]) of one shape and
    layout: (C,). Plain form: (a * b).sum(axis=(0, 2, 3)). With channels outermost in
    memory, C dot products of rows, one batched product (C, 1, M)(C, M, 1) that reads a and
    b once and writes nothing."""
    xp = array_module(a)
    ra, rb = (_rows(a), _rows(b)) if a.dtype.kind == b.dtype.kind == "f" else (None, None)
    if ra is not None and rb is not None and ra.shape[1] == rb.shape[1] == 1:
        C = a.shape[1]
        return xp.matmul(ra, rb.reshape(C, -1, 1)).reshape(C)          # (C, 1, M)(C, M, 1)
    return (a * b).sum(axis=(0,) + tuple(range(2, a.ndim)))
