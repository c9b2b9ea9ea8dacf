"""Layers that only change shape: their backward undoes the reshape."""
import numpy as np

from ..backend import array_module
from .module import Module


class Reshape(Module):
    """(N, *in_shape) -> (N, *shape); backward reshapes the gradient back."""

    def __init__(self, *shape, dtype=np.float32):
        super().__init__(dtype)
        self.shape = tuple(shape)

    def forward(self, x):
        if x.ndim < 1 or x.dtype != self.dtype or int(np.prod(x.shape[1:])) != int(np.prod(self.shape)):
            raise ValueError(f"{self!r}: expected {self.dtype} input of shape (N, ...) with "
                             f"{int(np.prod(self.shape))} features per example, "
                             f"got {x.dtype} of shape {tuple(x.shape)}")
        self.in_shape = x.shape
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, dy):
        return dy.reshape(self.in_shape)

    def __repr__(self):
        return f"Reshape{self.shape}"


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W), or any (N, ...) -> (N, prod(...)).

    The input may be a transposed view (a convolution's output is a view of a
    (C, H, W, N) buffer, see nanogan.nn.conv); reshape then copies it into row order.
    Backward hands the gradient back in the memory order the input had, so that
    the element-wise layers below multiply arrays of one layout (mixing two layouts
    made each of them ~3x slower) and the convolution below needs no transpose."""

    def forward(self, x):
        self.check_input(x, (None,) * max(x.ndim, 2))
        self.x_like = x    # for its shape and memory order (it keeps x alive until the next forward)
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        if self.x_like.flags.c_contiguous:                             # plain row order: a free view
            return dy.reshape(self.x_like.shape)
        dx = array_module(dy).empty_like(self.x_like, dtype=dy.dtype)  # x's strides, dy's dtype
        dx[...] = dy.reshape(self.x_like.shape)
        return dx
