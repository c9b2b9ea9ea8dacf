"""2-D convolution and transposed convolution, as matrix products over image rows.

The math lives in nanogan.nn.conv_rows: `lower` unfolds the input along its width, and
each output row is then one product with a contiguous block of the result (im2col's
matrix for that row, as a view); the two gradients are the same blocks read the other way.
This file holds the two layers around those functions: parameters, caches, bias.

One layout decision matters for speed: inside the layers, images are held as (C, H, W, N),
the batch innermost, so that every strided copy moves runs of N contiguous floats (512
bytes at batch 128) rather than runs of W_out floats read two apart (7 or 14 at MNIST's
sizes). The layers take and return PyTorch's (N, C, H, W), but what they return is a
transposed *view* of their (C, H, W, N) result, not a copy. NumPy's element-wise
operations keep the memory order of their input, so the activations and the BatchNorm
that follow pass the batch-last layout along untouched: the next convolution's copy into
its padded buffer then reads memory in order, and `_as_rows` (both layers' dL/dy) copies
nothing. Flatten's backward keeps the order too. Correctness never depends on this, only
speed.

`nanogan.nn.conv_reference` holds the same two layers as plain loops; the tests check these
against it.
"""
import numpy as np

from ..backend import array_module
from .conv_rows import (conv_output_size, conv_rows, conv_rows_input_grad, conv_rows_weight_grad, lower, unlower,
                        weight_from_rows, weight_rows)
from .init import init_weight
from .module import Module, Parameter


def batch_last(x):
    """(N, C, H, W) -> contiguous (C, H, W, N); free when x is a view of such an array."""
    return array_module(x).ascontiguousarray(x.transpose(1, 2, 3, 0))


def _as_rows(a):
    """(N, C, H, W) -> (H, C, W*N), the layout of G in conv_rows: a view of a batch-last a."""
    N, C, H, W = a.shape
    return batch_last(a).reshape(C, H, W * N).transpose(1, 0, 2)


def _rows_copy(a):
    """(N, C, H, W) -> contiguous (H, C, W*N): one copy from any layout."""
    N, C, H, W = a.shape
    return array_module(a).ascontiguousarray(a.transpose(2, 1, 3, 0)).reshape(H, C, W * N)


def _from_rows(y, N, W):
    """(C, H, W*N) product -> (N, C, H, W) view."""
    C, H, _ = y.shape
    return y.reshape(C, H, W, N).transpose(3, 0, 1, 2)


class Conv2d(Module):
    """y[n, f] = sum_c x[n, c] (cross-correlated with) W[f, c] + b[f]; x (N, C, H, W),
    W (F, C, k, k), b (F,), y (N, F, H_out, W_out).

    With X = im2col(x) (k k C, H_out W_out N), every receptive field a column (rows in the
    order (i, j, c)), and W2 the weights as an (F, k k C) matrix in the same order
    (`weight_rows`), the layer is the product Y = W2 X (F, H_out W_out N). For G = dL/dY:
        dL/dW2 = G X^T          (F, H_out W_out N)(H_out W_out N, k k C)
        dL/dX  = W2^T G         then dL/dx adds each column back where it came from
        dL/db  = sum over n, u, v of dL/dy[n, f, u, v]
    conv_rows computes the same three products one output row at a time, on Z = lower(x),
    without building X (see there).
    """

    def __init__(self, in_channels, out_channels, kernel_size, rng, stride=1, padding=0,
                 init="dcgan", bias=True, dtype=np.float32):
        super().__init__(dtype)
        self.C, self.F, self.k, self.stride, self.pad = in_channels, out_channels, kernel_size, stride, padding
        k = kernel_size
        W = init_weight((out_channels, in_channels, k, k), in_channels * k * k,
                        out_channels * k * k, rng, init, dtype)
        self.params = {"W": Parameter(W)}
        if bias:
            self.params["b"] = Parameter(np.zeros(out_channels, dtype=dtype))

    def forward(self, x):
        self.check_input(x, (None, self.C, None, None))
        N, _, H, W = x.shape
        Ho, Wo = conv_output_size(H, self.k, self.stride, self.pad), conv_output_size(W, self.k, self.stride, self.pad)
        if Ho < 1 or Wo < 1:
            raise ValueError(f"{self!r}: input {H}x{W} is smaller than the kernel")
        self.x_shape = x.shape
        self.Z = lower(x, self.k, self.stride, self.pad)                  # bands of (H + 2p, k*C, Wo*N)
        self.W2 = weight_rows(self.params["W"].data)                      # (F, k*k*C)
        y = conv_rows(self.W2, self.Z, Ho, self.k, self.stride, self.pad)  # (F, Ho, Wo*N)
        y = _from_rows(y, N, Wo)                                          # (N, F, Ho, Wo)
        if "b" in self.params:
            y += self.params["b"].data[:, None, None]
        return y

    skips_input_grad = True

    def backward(self, dy, input_grad=True):
        W = self.params["W"]
        G = _as_rows(dy)                                                   # (Ho, F, Wo*N), a view
        if self.requires_grad:
            dW2 = conv_rows_weight_grad(G, self.Z, self.C, self.k, self.stride, self.pad)   # (F, k*k*C)
            W.add(weight_from_rows(dW2, self.C, self.k))                   # (F, C, k, k)
            if "b" in self.params:
                self.params["b"].add_sum(dy)                                # (F,)
        if not input_grad:                                                 # a network's first layer
            return None
        dZ = conv_rows_input_grad(G, self.W2, self.x_shape, self.k, self.stride, self.pad)  # bands, as self.Z
        return unlower(dZ, self.x_shape, self.k, self.stride, self.pad)   # (N, C, H, W)

    def __repr__(self):
        return f"Conv2d({self.C}, {self.F}, k={self.k}, s={self.stride}, p={self.pad})"


class ConvTranspose2d(Module):
    """The transpose (adjoint) of a Conv2d's input map, used to upsample.

    x (N, C, H, W), W (C, F, k, k) (PyTorch's layout), y (N, F, H_out, W_out) with
        H_out = (H - 1) s - 2p + k.
    Each input pixel paints a k x k patch of the output, scaled by its value. Read W as a
    Conv2d's weights from F channels to C (a conv that maps y-sized images to x-sized ones):
    then this layer's forward is exactly that Conv2d's input gradient, with x in the place
    of dL/dY,
        y = unlower(conv_rows_input_grad(x, W2)) + b,
    and its backward is that Conv2d's forward and weight gradient, with Z = lower(dL/dy):
        dL/dx = conv_rows(W2, Z),   dL/dW2 = conv_rows_weight_grad(x, Z),
        dL/db = sum over n, u, v of dL/dy.
    """

    def __init__(self, in_channels, out_channels, kernel_size, rng, stride=1, padding=0,
                 init="dcgan", bias=True, dtype=np.float32):
        super().__init__(dtype)
        self.C, self.F, self.k, self.stride, self.pad = in_channels, out_channels, kernel_size, stride, padding
        k = kernel_size
        W = init_weight((in_channels, out_channels, k, k), out_channels * k * k,
                        in_channels * k * k, rng, init, dtype)
        self.params = {"W": Parameter(W)}
        if bias:
            self.params["b"] = Parameter(np.zeros(out_channels, dtype=dtype))

    def output_size(self, size):
        return (size - 1) * self.stride - 2 * self.pad + self.k

    def forward(self, x):
        self.check_input(x, (None, self.C, None, None))
        N, _, H, W = x.shape
        Ho, Wo = self.output_size(H), self.output_size(W)
        if Ho < 1 or Wo < 1:
            raise ValueError(f"{self!r}: padding leaves no output for a {H}x{W} input")
        self.X2 = _rows_copy(x)                                           # (H, C, W*N)
        self.W2 = weight_rows(self.params["W"].data)                      # (C, k*k*F)
        y_shape = (N, self.F, Ho, Wo)
        dZ = conv_rows_input_grad(self.X2, self.W2, y_shape, self.k, self.stride, self.pad)  # bands of (Ho+2p, kF, W*N)
        y = unlower(dZ, y_shape, self.k, self.stride, self.pad)                             # (N, F, Ho, Wo)
        if "b" in self.params:
            y += self.params["b"].data[:, None, None]
        return y

    skips_input_grad = True

    def backward(self, dy, input_grad=True):
        W = self.params["W"]
        N, _, Ho, Wo = dy.shape
        Z = lower(dy, self.k, self.stride, self.pad)                        # bands of (Ho + 2p, k*F, W*N)
        if self.requires_grad:
            dW2 = conv_rows_weight_grad(self.X2, Z, self.F, self.k, self.stride, self.pad)   # (C, k*k*F)
            W.add(weight_from_rows(dW2, self.F, self.k))                     # (C, F, k, k)
            if "b" in self.params:
                self.params["b"].add_sum(dy)                                 # (F,)
        if not input_grad:
            return None
        H, Wd = conv_output_size(Ho, self.k, self.stride, self.pad), conv_output_size(Wo, self.k, self.stride, self.pad)
        dX2 = conv_rows(self.W2, Z, H, self.k, self.stride, self.pad)        # (C, H, W*N)
        return _from_rows(dX2, N, Wd)                                        # (N, C, H, W)

    def __repr__(self):
        return f"ConvTranspose2d({self.C}, {self.F}, k={self.k}, s={self.stride}, p={self.pad})"
