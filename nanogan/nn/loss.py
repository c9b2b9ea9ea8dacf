"""Binary cross-entropy on logits, the GAN loss."""
from ..backend import array_module


class BCEWithLogits:
    """Mean binary cross-entropy between sigmoid(x) and targets t in [0, 1].

    Per element, with p = sigmoid(x):
        l = -t log p - (1 - t) log(1 - p)
          = log(1 + e^x) - x t                       (log p = x - log(1 + e^x), log(1 - p) = -log(1 + e^x))
    where log(1 + e^x) = logaddexp(0, x), which NumPy and CuPy compute without
    overflowing for any x (as max(x, 0) + log1p(e^{-|x|})), in one operation.
    The loss is the sum of the l over n, by default the number of elements (their mean),
    and its gradient is
        dL/dx = (sigmoid(x) - t) / n.
    Soft targets (e.g. 0.9 for one-sided label smoothing) need no special case.

    Working on logits, rather than on probabilities clipped away from 0 and 1,
    keeps the gradient alive when the discriminator is very sure: at x = -1e4 with
    t = 1 the loss is 1e4 and the gradient -1/M, both finite.
    """

    def forward(self, x, t, n=None):
        """Loss as a 0-d array on x's device (reading it as a float waits for the GPU).

        The per-element losses summed and divided by n, by default x.size: their mean.
        A caller that stacks batches into one pass and wants the sum of their means (as
        GAN.step does with D's real and fake batches) passes the size of one batch."""
        xp = array_module(x)
        if x.shape != t.shape:
            raise ValueError(f"BCEWithLogits: logits {tuple(x.shape)} and targets "
                             f"{tuple(t.shape)} must have the same shape")
        if x.dtype != t.dtype:  # float64 targets would silently promote a float32 loss and gradient
            raise ValueError(f"BCEWithLogits: logits are {x.dtype} but targets are {t.dtype}; "
                             f"make the targets {x.dtype}")
        self.x, self.t, self.n = x, t, x.size if n is None else n
        losses = xp.logaddexp(0, x) - x * t
        # dividing the array, not its 0-d sum, by the int n keeps x's dtype under NumPy 1.x too
        return losses.mean() if n is None else (losses / n).sum()

    __call__ = forward

    def backward(self):
        """dL/dx; also leaves sigmoid(x) in `self.p`, for whoever wants the probabilities."""
        self.p = 0.5 * (1 + array_module(self.x).tanh(0.5 * self.x))   # sigmoid, overflow-free
        return (self.p - self.t) / self.n
