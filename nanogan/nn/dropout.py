"""Inverted dropout."""
import numpy as np

from ..backend import array_module, to_device
from .module import Module


class Dropout(Module):
    """Zero each element with probability p in training, and scale the rest by 1/(1-p)
    so that E[y] = x and eval mode is the identity.

    forward:  y = x * m,  m_i = [u_i >= p] / (1 - p),  u_i ~ U[0, 1)
    backward: dL/dx = dL/dy * m

    The mask is drawn from the run's host generator `rng` (then moved to the device),
    so a run is reproducible on either device and resumable exactly. A caller that
    draws many masks at once, to move them to the device in one copy (train.GAN does),
    makes them with `draw_mask` and hands each to the next forward pass with `use_mask`.
    """

    def __init__(self, p, rng, dtype=np.float32):
        super().__init__(dtype)
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p, self.rng = p, rng

    def draw_mask(self, shape, rng, dtype=np.float32):
        """A mask m for an input of `shape`, on the host: [u >= p] / (1 - p), u ~ U[0, 1)."""
        keep = rng.random(shape, dtype=np.float32) >= self.p                  # host, bool
        return keep.astype(dtype) * np.dtype(dtype).type(1 / (1 - self.p))

    def use_mask(self, mask):
        """Let the next training-mode forward pass use `mask` (any device) instead of drawing one."""
        self.given = mask

    def forward(self, x):
        self.check_input(x, (None,) * x.ndim)
        given, self.given = getattr(self, "given", None), None
        if not self.training or self.p == 0:
            self.mask = None
            return x
        mask = given if given is not None else self.draw_mask(x.shape, self.rng, x.dtype)
        if mask.shape != x.shape:
            raise ValueError(f"{self!r}: a mask of shape {tuple(mask.shape)} for an input of shape {tuple(x.shape)}")
        self.mask = to_device(mask, array_module(x))
        return x * self.mask

    def backward(self, dy):
        return dy if self.mask is None else dy * self.mask

    def __repr__(self):
        return f"Dropout({self.p})"
