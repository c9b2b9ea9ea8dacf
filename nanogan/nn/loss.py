"""The GAN losses on D's logits: binary cross-entropy, and the hinge loss."""
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


class Hinge:
    """The hinge loss of a GAN (Lim & Ye 2017; Miyato et al. 2018), on D's logits x.

        D minimises  mean relu(1 - D(x)) + mean relu(1 + D(G(z)))
        G minimises  -mean D(G(z))

    D is asked for a margin, logits >= 1 on real images and <= -1 on fakes, and no more:
    an image already beyond its margin adds nothing to the loss or the gradient, so D stops
    pushing on images it already gets right, where BCE keeps pushing (by less and less)
    forever. G simply raises D's logits on its fakes (the hinge's G loss is linear, so its
    gradient never fades as D grows sure). With a spectrally normalised D, whose logits can
    move only as far as its inputs do, this is the pairing of Miyato et al.

    The same interface as BCEWithLogits: forward(x, t, n) and backward(), with targets
    t = 1 for real and 0 for fake (BCE's), read as the sign s = 2t - 1 = +1 or -1 of the
    side each logit belongs on. Per element:

        D (Hinge()):                l = relu(1 - s x),   dl/dx = -s [s x < 1]
        G (Hinge(generator=True)):  l = -s x,            dl/dx = -s

    (at the kink s x = 1 the subgradient 0 is taken, as PyTorch's relu does). The loss is
    the sum of the l over n, by default x.size (their mean), and dL/dx = dl/dx / n; n = B on
    D's joined [real; fake] pass of 2B gives the sum of the two means, as above. G's loss
    uses t = 1 (fakes it wants called real): -mean D(G(z)).

    The targets must be exactly 0 or 1: the hinge has no label smoothing (t = 0.9 would
    shrink the margin to 0.8 of a logit), and it is not checked here, which on a GPU would
    cost a wait every step.
    """

    def __init__(self, generator=False):
        self.generator = generator

    def forward(self, x, t, n=None):
        """Loss as a 0-d array on x's device: the per-element losses summed over n, by
        default x.size (their mean)."""
        xp = array_module(x)
        if x.shape != t.shape:
            raise ValueError(f"Hinge: logits {tuple(x.shape)} and targets "
                             f"{tuple(t.shape)} must have the same shape")
        if x.dtype != t.dtype:
            raise ValueError(f"Hinge: logits are {x.dtype} but targets are {t.dtype}; "
                             f"make the targets {x.dtype}")
        self.n = x.size if n is None else n
        self.s = 2 * t - 1                                  # +1 real, -1 fake; x's dtype
        self.sx = self.s * x
        losses = -self.sx if self.generator else xp.maximum(1 - self.sx, 0)
        return losses.mean() if n is None else (losses / n).sum()

    __call__ = forward

    def backward(self):
        """dL/dx, in x's dtype."""
        if self.generator:
            return -self.s / self.n
        return -self.s * (self.sx < 1) / self.n
