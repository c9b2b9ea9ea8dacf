"""2-D convolution and transposed convolution by im2col / col2im.

A convolution is a matrix product once every receptive field is laid out as a
column. For an input x of shape (N, C, H, W), a k_h x k_w kernel, stride s and
zero padding p, the output has

    H_out = (H + 2p - k_h) // s + 1,    W_out = (W + 2p - k_w) // s + 1

and `im2col` builds cols of shape (C*k_h*k_w, H_out*W_out*N) with

    cols[(c, i, j), (u, v, n)] = x_pad[c, s*u + i, s*v + j, n],

with x_pad the input zero-padded by p on each side and held as (C, H+2p, W+2p, N).

It is filled by one copy of a strided view of x_pad (see `im2col`), with no
per-pixel loop. `col2im` is its adjoint: it adds every column entry back into the
pixel it came from, with strided-slice `+=`s that each add a group of kernel
offsets whose targets do not overlap (up to s*s of them at stride s; see `col2im`).
Overlapping windows then simply add up, and no scatter (whose order is
undefined on a GPU) is needed.

Rows are ordered (c, i, j) so that a weight tensor of shape (F, C, k_h, k_w)
reshapes to (F, C*k_h*k_w) without a copy; columns are ordered (u, v, n), the
batch innermost. That is the one layout decision that matters for speed:
inside these functions images are held as (C, H, W, N), so each strided-slice
copy moves runs of N contiguous floats (512 bytes at batch 128) rather than runs
of W_out floats read two apart (7 or 14 at MNIST's sizes). At batch 128 on D's
second layer that made col2im about 5x faster and im2col about 2x.

The layers take and return PyTorch's (N, C, H, W), but what they return is a
transposed *view* of their (C, H, W, N) result, not a copy. NumPy's element-wise
operations keep the memory order of their input, so the activations and the
BatchNorm that follow pass the batch-last layout along untouched: the next
convolution's copy into its padded buffer then reads memory in order, and
`_as_rows` (ConvTranspose2d's forward, both backward passes) copies nothing.
Flatten's backward keeps the order too. Correctness never depends on this, only speed.

`nanogan.nn.conv_reference` holds the same two layers as plain loops; the tests
check these against it.
"""
import numpy as np

from ..backend import array_module
from .init import init_weight
from .module import Module, Parameter


def conv_output_size(size, k, stride, pad):
    """Output length of a convolution along one axis."""
    return (size + 2 * pad - k) // stride + 1


def batch_last(x):
    """(N, C, H, W) -> contiguous (C, H, W, N); free when x is a view of such an array."""
    return array_module(x).ascontiguousarray(x.transpose(1, 2, 3, 0))


def batch_first(y):
    """(C, H, W, N) -> (N, C, H, W), the layers' outside layout, as a view (no copy)."""
    return y.transpose(3, 0, 1, 2)


def im2col(x, kh, kw, stride, pad):
    """x (N, C, H, W) -> cols (C*kh*kw, H_out*W_out*N); see the module docstring.

    cols[c, i, j, u, v, n] = x_pad[c, i + s u, j + s v, n] is, for each (c, i, j), a
    strided slice of x_pad, so all of cols is one strided *view* of x_pad (steps of one
    row, one column, s rows, s columns, one image), copied out in one operation. The
    view is only read, never written: its windows overlap, so a write through it would
    change several entries at once."""
    xp = array_module(x)
    N, C, H, W = x.shape
    Ho, Wo = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    x_pad = xp.zeros((C, H + 2 * pad, W + 2 * pad, N), dtype=x.dtype)  # (C, Hp, Wp, N)
    x_pad[:, pad:pad + H, pad:pad + W] = x.transpose(1, 2, 3, 0)       # one copy, any layout
    sc, sh, sw, sn = x_pad.strides                                     # bytes
    windows = xp.lib.stride_tricks.as_strided(
        x_pad, (C, kh, kw, Ho, Wo, N), (sc, sh, sw, stride * sh, stride * sw, sn))  # a view
    return xp.ascontiguousarray(windows).reshape(C * kh * kw, Ho * Wo * N)


def col2im(cols, x_shape, kh, kw, stride, pad):
    """The adjoint of im2col: cols (C*kh*kw, H_out*W_out*N) -> (N, C, H, W), summing overlaps.
    Returns a view of a slice of its padded (C, rows, columns, N) buffer.

    Entry (i, u) of cols goes back to padded row i + s u (and likewise j, v to a column).
    Splitting the kernel offset as i = a + s p, with 0 <= a < s, that row is a + s (p + u):
    viewed as (row // s, row % s), the buffer receives the taps of one coarse offset p at
    [p:p + H_out, a], a block in which no two taps overlap. So one `+=` per (p, q) adds a
    whole group of up to s x s taps at once: ceil(kh/s) * ceil(kw/s) additions in all, 4 instead
    of 16 for the DCGAN's k = 4, s = 2 (each one a kernel launch on a GPU). Each pixel still
    receives its taps in the order (i, j), as the plain loop over the 16 offsets would."""
    xp = array_module(cols)
    N, C, H, W = x_shape
    Ho, Wo = conv_output_size(H, kh, stride, pad), conv_output_size(W, kw, stride, pad)
    s, P, Q = stride, -(-kh // stride), -(-kw // stride)               # P, Q: ceil(k / s)
    # enough rows for every tap and for the padded image, a multiple of s
    R = s * -(-max(s * (P + Ho - 1), H + 2 * pad) // s)
    S = s * -(-max(s * (Q + Wo - 1), W + 2 * pad) // s)
    cols = cols.reshape(C, kh, kw, Ho, Wo, N)
    x_pad = xp.zeros((C, R, S, N), dtype=cols.dtype)
    blocks = x_pad.reshape(C, R // s, s, S // s, s, N)                  # (c, row // s, row % s, ...)
    # Plain form: `+=` every group below. When the kernel is at least as wide as the stride,
    # the first group (p, q) = (0, 0) covers a whole block of s Ho x s Wo pixels that nothing
    # has touched yet, so it is copied in (0 + v = v): a write instead of a read-modify-write
    # (col2im at D's second layer ~10% faster), the same number of operations.
    first = kh >= s and kw >= s
    for p in range(P):
        a = min(s, kh - s * p)                                         # taps i = s p .. s p + a - 1
        for q in range(Q):
            b = min(s, kw - s * q)
            taps = cols[:, s * p:s * p + a, s * q:s * q + b].transpose(0, 3, 1, 4, 2, 5)  # (C, Ho, a, Wo, b, N)
            if first and p == q == 0:
                blocks[:, :Ho, :, :Wo, :] = taps
            else:
                blocks[:, p:p + Ho, :a, q:q + Wo, :b] += taps
    return batch_first(x_pad[:, pad:pad + H, pad:pad + W])             # (N, C, H, W)


def _as_rows(a):
    """(N, C, H, W) -> (C, H*W*N), the layout the product consumes."""
    N, C, H, W = a.shape
    return batch_last(a).reshape(C, H * W * N)


def _from_rows(y, N, C, H, W):
    """(C, H*W*N) product -> (N, C, H, W) view."""
    return batch_first(y.reshape(C, H, W, N))


class Conv2d(Module):
    """y[n, f] = sum_c x[n, c] (cross-correlated with) W[f, c] + b[f]; x (N, C, H, W),
    W (F, C, k, k), b (F,), y (N, F, H_out, W_out).

    With L = H_out*W_out output pixels per image, X = im2col(x) (C*k*k, L*N) and
    W2 = W.reshape(F, C*k*k), the layer is the product Y = W2 X (F, L*N). For G = dL/dY:
        dL/dW2 = G X^T          (F, L*N)(L*N, C*k*k)
        dL/dX  = W2^T G         then dL/dx = col2im(dL/dX)
        dL/db  = sum over n, u, v of dL/dy[n, f, u, v]
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
        self.cols = im2col(x, self.k, self.k, self.stride, self.pad)   # (C*k*k, Ho*Wo*N)
        y = self.params["W"].data.reshape(self.F, -1) @ self.cols         # (F, Ho*Wo*N)
        y = _from_rows(y, N, self.F, Ho, Wo)                               # (N, F, Ho, Wo)
        if "b" in self.params:
            y += self.params["b"].data[:, None, None]
        return y

    skips_input_grad = True

    def backward(self, dy, input_grad=True):
        W = self.params["W"]
        G = _as_rows(dy)                                                   # (F, Ho*Wo*N)
        if self.requires_grad:
            W.add_matmul(G, self.cols.T)                                   # (F, C*k*k) = (F, C, k, k)
            if "b" in self.params:
                self.params["b"].add_sum(dy)                                # (F,)
        if not input_grad:                                                 # a network's first layer
            return None
        dcols = W.data.reshape(self.F, -1).T @ G                           # (C*k*k, Ho*Wo*N)
        return col2im(dcols, self.x_shape, self.k, self.k, self.stride, self.pad)

    def __repr__(self):
        return f"Conv2d({self.C}, {self.F}, k={self.k}, s={self.stride}, p={self.pad})"


class ConvTranspose2d(Module):
    """The transpose (adjoint) of a Conv2d's input map, used to upsample.

    x (N, C, H, W), W (C, F, k, k) (PyTorch's layout), y (N, F, H_out, W_out) with
        H_out = (H - 1) s - 2p + k.
    Each input pixel paints a k x k patch of the output, scaled by its value:
    with X2 = x as (C, H*W*N) and W2 = W.reshape(C, F*k*k),
        y = col2im(W2^T X2) + b,
    i.e. exactly Conv2d's backward pass. Its backward is therefore Conv2d's
    forward: with D = im2col(dL/dy) (F*k*k, H*W*N),
        dL/dX2 = W2 D,   dL/dW2 = X2 D^T,   dL/db = sum over n, u, v of dL/dy.
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
        self.X2 = _as_rows(x)           # (C, H*W*N); may be x's own memory, as Dense keeps x
        cols = self.params["W"].data.reshape(self.C, -1).T @ self.X2       # (F*k*k, H*W*N)
        y = col2im(cols, (N, self.F, Ho, Wo), self.k, self.k, self.stride, self.pad)  # (N, F, Ho, Wo)
        if "b" in self.params:
            y += self.params["b"].data[:, None, None]
        return y

    skips_input_grad = True

    def backward(self, dy, input_grad=True):
        W = self.params["W"]
        N, _, Ho, Wo = dy.shape
        D = im2col(dy, self.k, self.k, self.stride, self.pad)               # (F*k*k, H*W*N)
        if self.requires_grad:
            W.add_matmul(self.X2, D.T)                                      # (C, F*k*k) = (C, F, k, k)
            if "b" in self.params:
                self.params["b"].add_sum(dy)                                 # (F,)
        if not input_grad:
            return None
        dX2 = W.data.reshape(self.C, -1) @ D                                # (C, H*W*N)
        H, Wd = conv_output_size(Ho, self.k, self.stride, self.pad), conv_output_size(Wo, self.k, self.stride, self.pad)
        return _from_rows(dX2, N, self.C, H, Wd)                            # (N, C, H, W)

    def __repr__(self):
        return f"ConvTranspose2d({self.C}, {self.F}, k={self.k}, s={self.stride}, p={self.pad})"
