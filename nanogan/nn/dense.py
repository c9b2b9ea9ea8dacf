"""Dense (fully connected) layer."""
import numpy as np

from .init import init_weight
from .module import Module, Parameter


class Dense(Module):
    """y = x W + b, with x (N, I), W (I, O), b (O,), y (N, O).

    Backward, for the upstream gradient G = dL/dy of shape (N, O):
        dL/dx = G W^T      (N, O)(O, I) -> (N, I)
        dL/dW = x^T G      (I, N)(N, O) -> (I, O)   summed over the batch by the product
        dL/db = sum_n G_n  (O,)
    """

    def __init__(self, in_features, out_features, rng, init="glorot", dtype=np.float32):
        super().__init__(dtype)
        self.in_features, self.out_features = in_features, out_features
        W = init_weight((in_features, out_features), in_features, out_features, rng, init, dtype)
        self.params = {"W": Parameter(W), "b": Parameter(np.zeros(out_features, dtype=dtype))}

    def forward(self, x):
        self.check_input(x, (None, self.in_features))
        self.x = x                                                 # (N, I)
        return x @ self.params["W"].data + self.params["b"].data   # (N, O)

    skips_input_grad = True

    def backward(self, dy, input_grad=True):
        W, b = self.params["W"], self.params["b"]
        if self.requires_grad:
            W.add_matmul(self.x.T, dy)                             # (I, N)(N, O) -> (I, O)
            b.add_sum(dy, axis=0)                                  # (O,)
        return dy @ W.data.T if input_grad else None               # (N, I)

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features})"
