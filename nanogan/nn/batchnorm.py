"""Batch normalisation (Ioffe & Szegedy 2015) for dense (N, C) and conv (N, C, H, W) features."""
import numpy as np

from ..backend import array_module, new_like
from .module import Module, Parameter
from .sums import channel_dot, channel_sum


class BatchNorm(Module):
    """Per channel c, over the M = N (dense) or N*H*W (conv) values x_i of that channel:

        mu = mean(x_i),  var = mean((x_i - mu)^2),  xhat_i = (x_i - mu) / sqrt(var + eps)
        y_i = gamma * xhat_i + beta

    Training uses the batch's mu and var and updates the running estimates
    (r <- (1 - momentum) r + momentum * batch value; the running variance takes the
    unbiased batch variance, M/(M-1) var, as PyTorch does). Eval mode uses the
    running estimates, and the layer is then a fixed affine map.

    Backward in training, with d_i = dL/dy_i (mu and var depend on every x_i):
        dL/dgamma = sum_i d_i xhat_i,      dL/dbeta = sum_i d_i
        dL/dx_i   = gamma / sqrt(var + eps) * (d_i - mean(d) - xhat_i * mean(d * xhat))
                  = gamma / sqrt(var + eps) * (d_i - (dL/dbeta + xhat_i dL/dgamma) / M)
    so the two parameter gradients are the only reductions the input gradient needs.
    In eval mode mu and var are constants: dL/dx_i = gamma / sqrt(running_var + eps) * d_i.

    The passes over the data (NumPy runs one array operation at a time, each reading and
    writing whole arrays, so their number is the cost). The layer keeps xc = x - mu, never
    xhat: xhat = xc / sqrt(var + eps) is one per-channel factor away, folded into constants.
        forward:  mu (1 read); xc = x - mu (1); var = sum(xc^2) / M (1 read, `channel_dot`);
                  y = xc * (gamma / sqrt(var + eps)) + beta (2)
        backward: dL/dbeta (1 read); dL/dgamma = sum(d xc) / sqrt(var + eps) (1 read);
                  dL/dx (4, below)
    """

    mixes_batch = True   # training mode normalises with the batch's statistics

    def __init__(self, num_features, momentum=0.1, eps=1e-5, dtype=np.float32):
        super().__init__(dtype)
        self.C, self.momentum, self.eps = num_features, momentum, eps
        self.params = {"gamma": Parameter(np.ones(num_features, dtype=dtype)),
                       "beta": Parameter(np.zeros(num_features, dtype=dtype))}
        self.buffers = {"running_mean": np.zeros(num_features, dtype=dtype),
                        "running_var": np.ones(num_features, dtype=dtype)}

    def forward(self, x):
        if x.ndim not in (2, 4):
            raise ValueError(f"{self!r}: expected {self.dtype} input of shape (N, {self.C}) "
                             f"or (N, {self.C}, H, W), got {x.dtype} of shape {tuple(x.shape)}")
        self.check_input(x, (None, self.C) + (None,) * (x.ndim - 2))
        # `shape` broadcasts (C,) against x
        shape = (1, self.C) + (1,) * (x.ndim - 2)
        gamma, beta = self.params["gamma"].data.reshape(shape), self.params["beta"].data.reshape(shape)
        self.batch_stats = self.training           # backward must use the mode forward used
        xp = array_module(x)
        M = x.size // self.C
        if self.batch_stats:
            mu = channel_sum(x, scale=1 / M).reshape(shape)               # (1, C[, 1, 1]): mean(x)
            xc = xp.subtract(x, mu, out=new_like(x))                      # x - mu, in x's layout
            var = (channel_dot(xc, xc) / M).reshape(shape)                 # mean((x - mu)^2)
            m = self.momentum
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            rm *= 1 - m
            rm += m * mu.reshape(-1)
            rv *= 1 - m
            rv += (m * M / max(M - 1, 1)) * var.reshape(-1)
        else:
            mu = self.buffers["running_mean"].reshape(shape)
            var = self.buffers["running_var"].reshape(shape)
            xc = xp.subtract(x, mu, out=new_like(x))
        self.inv_std = (var + self.eps) ** -0.5                           # (1, C[, 1, 1])
        self.xc = xc                                                      # xhat = xc * inv_std
        # y = gamma * xhat + beta, with gamma * inv_std one factor per channel
        y = xp.multiply(xc, gamma * self.inv_std, out=new_like(x))
        y += beta
        return y

    @property
    def xhat(self):
        """The normalised input (x - mu) / sqrt(var + eps) of the last forward pass (a new array)."""
        return self.xc * self.inv_std

    def backward(self, dy):
        shape = self.inv_std.shape
        xp = array_module(dy)
        dbeta = channel_sum(dy)                                           # (C,)
        # dL/dgamma = sum(dy * xhat) = sum(dy * xc) / sqrt(var + eps)
        dgamma = channel_dot(dy, self.xc) * self.inv_std.reshape(-1)      # (C,)
        if self.requires_grad:
            self.params["gamma"].add(dgamma)
            self.params["beta"].add(dbeta)
        scale = self.params["gamma"].data.reshape(shape) * self.inv_std  # gamma / sqrt(var + eps)
        if not self.batch_stats:
            return xp.multiply(dy, scale, out=new_like(self.xc))
        M = dy.size // self.C
        # Plain form:  dx = scale * (dy - (dbeta + xhat * dgamma) / M),  xhat = xc * inv_std.
        # Here: -xhat dgamma / M = xc * k with one factor k per channel, so four passes, each
        # writing into one buffer shaped like xc, so that dx keeps x's memory layout:
        k = (dgamma.reshape(shape) * self.inv_std) / -M
        dx = xp.multiply(self.xc, k, out=new_like(self.xc))               # -xhat dgamma / M
        dx += dy
        dx -= dbeta.reshape(shape) / M
        dx *= scale
        return dx

    def __repr__(self):
        return f"BatchNorm({self.C})"
