"""Convolution and transposed convolution as plain loops: slow, obvious, and the
reference the fast layers in `nanogan.nn.conv` (products over rows, `conv_rows`) are tested against.

Shapes as in nanogan.nn.conv: x (N, C, H, W); Conv2d weights (F, C, k, k);
ConvTranspose2d weights (C, F, k, k). NumPy only.
"""
import numpy as np


def conv2d_naive(x, W, b, stride, pad):
    """y[n, f, u, v] = b[f] + sum_{c,i,j} x_pad[n, c, s u + i, s v + j] W[f, c, i, j]."""
    N, C, H, Wd = x.shape
    F, _, k, _ = W.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = (H + 2 * pad - k) // stride + 1, (Wd + 2 * pad - k) // stride + 1
    y = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for u in range(Ho):
                for v in range(Wo):
                    patch = x_pad[n, :, stride * u:stride * u + k, stride * v:stride * v + k]
                    y[n, f, u, v] = np.sum(patch * W[f]) + (b[f] if b is not None else 0)
    return y


def conv_transpose2d_naive(x, W, b, stride, pad):
    """Every input pixel x[n, c, h, w] adds x[n, c, h, w] * W[c] into the k x k output
    patch whose corner is (s h, s w) in padded coordinates; the padding is then cut off."""
    N, C, H, Wd = x.shape
    _, F, k, _ = W.shape
    Ho, Wo = (H - 1) * stride - 2 * pad + k, (Wd - 1) * stride - 2 * pad + k
    y_pad = np.zeros((N, F, Ho + 2 * pad, Wo + 2 * pad), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(Wd):
                    y_pad[n, :, stride * h:stride * h + k, stride * w:stride * w + k] += x[n, c, h, w] * W[c]
    y = y_pad[:, :, pad:pad + Ho, pad:pad + Wo]
    return y + (b[None, :, None, None] if b is not None else 0)
