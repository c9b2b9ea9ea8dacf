"""Element-wise activations. Each caches what its derivative needs, nothing more.

They accept any shape and keep the input's dtype (a Python float such as Sigmoid's
0.5 stays "weak" under NumPy's promotion rules, so float32 stays float32; LeakyReLU
rounds its slope to the input's dtype itself, for exactness), and its memory layout:
every new array is made with `out=new_like(...)` (see backend.new_like).
"""
import numpy as np

from ..backend import array_module, new_like
from .module import Module


class Activation(Module):
    def check(self, x):
        self.check_input(x, (None,) * x.ndim)

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(Activation):
    """y = max(x, 0);   dL/dx = dL/dy * [x > 0].

    The mask is kept as a 0/1 array of x's dtype (the comparison writes it straight into
    a float array) and both passes are one multiply: NumPy's `where(mask, a, b)` measured
    ~50x slower than `a * mask` on the CPU.
    (A finite negative x gives -0.0 rather than 0.0, equal to it in every sum.)
    """

    def forward(self, x):
        self.check(x)
        xp = array_module(x)
        self.mask = xp.greater(x, 0, out=new_like(x))       # 1 where x > 0, else 0
        return xp.multiply(x, self.mask, out=new_like(x))

    def backward(self, dy):
        return array_module(dy).multiply(dy, self.mask, out=new_like(dy))


class LeakyReLU(Activation):
    """y = x if x > 0 else a x;   dL/dx = dL/dy if x > 0 else a dL/dy.
    Both are y = s x and dL/dx = s dL/dy with the local slope s = 1 or a, cached."""

    def __init__(self, slope=0.2, dtype=np.float32):
        super().__init__(dtype)
        self.slope = slope

    def forward(self, x):
        self.check(x)
        # Plain form:  s = where(x > 0, 1, a);  y = s * x.
        # The local slope as a float array, so that both passes are a single multiply:
        # `where` on data of random signs runs ~20x slower than a multiply in NumPy (a
        # branch per element), and so do `copyto(..., where=mask)` and masked ufuncs. From
        # the 0/1 mask m of x > 0, for 0 < a < 1, s = clip(m, a, 1) (1 where m = 1, a where
        # m = 0), in place: two passes. (max(m, a) is the same numbers, but NumPy's maximum
        # with a scalar ran 3.5x slower than this clip, 0.60 against 0.17 ms on
        # (128, 64, 14, 14); a clip with one bound is as slow as the maximum.) For other a,
        # s = m (1 - a) + a, three passes; a and 1 - a are rounded to x's dtype first, so
        # that (1 - a) + a is exactly 1 in that dtype and 0 + a exactly a.
        xp, a = array_module(x), x.dtype.type(self.slope)
        self.scale = xp.greater(x, 0, out=new_like(x))      # 1 where x > 0, else 0
        if 0 < a < 1:
            xp.clip(self.scale, a, 1, out=self.scale)
        else:
            self.scale *= 1 - a
            self.scale += a
        return xp.multiply(x, self.scale, out=new_like(x))

    def backward(self, dy):
        return array_module(dy).multiply(dy, self.scale, out=new_like(dy))

    def __repr__(self):
        return f"LeakyReLU({self.slope})"


class Tanh(Activation):
    """y = tanh(x);   dL/dx = dL/dy * (1 - y^2)."""

    def forward(self, x):
        self.check(x)
        self.y = array_module(x).tanh(x, out=new_like(x))
        return self.y

    def backward(self, dy):
        xp = array_module(dy)
        g = xp.multiply(self.y, self.y, out=new_like(dy))   # y^2
        xp.subtract(1, g, out=g)                            # 1 - y^2
        g *= dy
        return g


class Sigmoid(Activation):
    """y = 1 / (1 + e^-x);   dL/dx = dL/dy * y (1 - y).

    Computed as (1 + tanh(x/2)) / 2, the same function, which cannot overflow
    for any x (e^-x does for x < -88 in float32).
    """

    def forward(self, x):
        self.check(x)
        self.y = 0.5 * (1 + array_module(x).tanh(0.5 * x))
        return self.y

    def backward(self, dy):
        return dy * self.y * (1 - self.y)
