"""Layers that only change shape: their backward undoes the reshape.

Both hand the gradient back in the memory order their input had. The element-wise
layers below them multiply the gradient by arrays they cached in the forward pass, in
the input's order; a product of two arrays of different orders runs ~45x slower in NumPy
than one of the same order (0.8 M floats: 5.8 ms against 0.12), and a transposing copy
here costs ~7x a plain one, once. In the DCGAN's G the gradient arrives from
ConvTranspose2d batch-last while G's Dense, BatchNorm and ReLU ran in row order.
"""
import numpy as np

from ..backend import array_module
from .module import Module


def like(dy, x):
    """dy reshaped to x's shape and laid out in memory as x is: a free view when dy already
    is (the same strides wherever a dimension is longer than 1), else one copy into x's order.
    Plain form: dy.reshape(x.shape) (same values, perhaps another memory order)."""
    dx = dy.reshape(x.shape)
    if dx.itemsize == x.itemsize and all(a == b for a, b, n in zip(dx.strides, x.strides, x.shape) if n > 1):
        return dx
    out = array_module(dy).empty_like(x, dtype=dy.dtype)   # x's strides, dy's dtype
    out[...] = dx
    return out


class Reshape(Module):
    """(N, *in_shape) -> (N, *shape); backward reshapes the gradient back, in x's memory order."""

    def __init__(self, *shape, dtype=np.float32):
        super().__init__(dtype)
        self.shape = tuple(shape)

    def forward(self, x):
        if x.ndim < 1 or x.dtype != self.dtype or int(np.prod(x.shape[1:])) != int(np.prod(self.shape)):
            raise ValueError(f"{self!r}: expected {self.dtype} input of shape (N, ...) with "
                             f"{int(np.prod(self.shape))} features per example, "
                             f"got {x.dtype} of shape {tuple(x.shape)}")
        self.x_like = x    # for its shape and memory order (it keeps x alive until the next forward)
        return x.reshape(x.shape[0], *self.shape)

    @property
    def in_shape(self):
        return self.x_like.shape

    def backward(self, dy):
        return like(dy, self.x_like)

    def __repr__(self):
        return f"Reshape{self.shape}"


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W), or any (N, ...) -> (N, prod(...)).

    The input may be a transposed view (a convolution's output is a view of a
    (C, H, W, N) buffer, see nanogan.nn.conv); its reshape is then still a view,
    (N, C*H*W) with the batch innermost. Backward hands the gradient back in the
    memory order the input had (see `like`): a free view when the layer above kept
    that order (Dense does), so the convolution below needs no transpose."""

    def forward(self, x):
        self.check_input(x, (None,) * max(x.ndim, 2))
        self.x_like = x    # for its shape and memory order (it keeps x alive until the next forward)
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return like(dy, self.x_like)
