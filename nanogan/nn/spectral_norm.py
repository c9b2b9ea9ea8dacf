"""Spectral normalisation (Miyato et al. 2018): a layer whose weight is divided by its
largest singular value, so that the layer can stretch no input by more than a factor 1.

A discriminator whose layers are all 1-Lipschitz (LeakyReLU already is) is itself
1-Lipschitz: its output cannot jump between two nearby images, so its gradient, which is
all that G learns from, stays informative even when D is strong. That lets D train at a
normal rate and width instead of being kept weak.

The weight as a matrix M (out, in): a Dense's W (I, O) is M = W^T (O, I); a Conv2d's
W (F, C, k, k) is M = W.reshape(F, C*k*k), each row one filter. Its largest singular value

    sigma(M) = max over unit v of |M v| = u1^T M v1     (u1, v1 the top singular vectors)

is estimated by the power iteration, one step per training forward pass, starting from the
u the previous step left behind (persistent buffers u (out,) and v (in,)):

    v <- M^T u / |M^T u|,    u <- M v / |M v|,    sigma = u^T M v,    W_SN = W / sigma.

Because the weights change little from one step to the next, one step each time is enough
for u and v to follow the top singular vectors (the tests check sigma against the SVD after
a few dozen). In eval mode the stored u and v are used as they are: no iteration, so that
drawing samples or scoring never changes the network.

Backward. The iteration is a way of *estimating* sigma, not part of the function being
trained, so u and v are held constant: sigma = u^T M v is then linear in M, with
d sigma / dM = u v^T. For G = dL/dW_SN (as a matrix, what the wrapped layer's backward
computes) and W_SN = M / sigma:

    dL/dM_ij = sum_kl G_kl d(M_kl / sigma)/dM_ij
             = G_ij / sigma - sum_kl G_kl M_kl / sigma^2 * u_i v_j
    dL/dM    = (G - (sum(G * W_SN)) u v^T) / sigma                     (out, in)

The first term is the plain layer's gradient scaled by 1/sigma; the second removes from it
the part that would only grow the top singular value, which W_SN cannot use (its sigma is
held at 1). PyTorch's `torch.nn.utils.spectral_norm` computes the same: it runs the
iteration under no_grad and differentiates W / (u^T W v) with u, v constant.

Bookkeeping: the wrapper presents the layer's own parameters under their own names ("W",
"b": the W that Adam trains is the unnormalised one) plus the buffers "u" and "v", so a
checkpoint holds them and a resumed run continues exactly. The wrapped layer computes with a
private Parameter holding W_SN, whose gradient is G; the wrapper turns G into dL/dW.
u, v, sigma and W_SN have the layer's dtype (float32 to train, float64 in the gradient
checks) and live on its device.
"""
from ..backend import array_module
from .conv import Conv2d
from .dense import Dense
from .module import Module, Parameter


# -- the math, on the weight as a matrix M (out, in) ----------------------------------------

def normalize(a, eps=1e-12):
    """a / |a| for a vector a, or a / eps for a (near) zero one (never a division by zero)."""
    xp = array_module(a)
    return a / xp.maximum(xp.sqrt(a @ a), eps)


def power_iteration(M, u):
    """One step from u (out,): v = M^T u / |M^T u| (in,), u = M v / |M v| (out,)."""
    v = normalize(M.T @ u)                                             # (in,)
    u = normalize(M @ v)                                               # (out,)
    return u, v


def sn_forward(M, u, v):
    """sigma = u^T M v (0-d) and W_SN = M / sigma (out, in)."""
    sigma = u @ (M @ v)                                                # ()
    return sigma, M / sigma


def sn_backward(G, W_SN, sigma, u, v):
    """dL/dM = (G - sum(G * W_SN) u v^T) / sigma for G = dL/dW_SN (out, in), u and v constant."""
    return (G - (G * W_SN).sum() * (u[:, None] * v[None, :])) / sigma  # (out, in)


# -- the layer -----------------------------------------------------------------------------

class SpectralNorm(Module):
    """layer (a Dense or Conv2d) computed with W_SN = W / sigma(W) in place of W.

    SpectralNorm(nn.Conv2d(1, 8, 4, rng, stride=2, padding=1), rng): u is drawn from rng
    (on the host, like every weight) and v follows from it by half an iteration step.
    """

    skips_input_grad = True

    def __init__(self, layer, rng):
        if not isinstance(layer, (Dense, Conv2d)):
            raise TypeError(f"SpectralNorm wraps a Dense or a Conv2d, not {layer!r}")
        super().__init__(layer.dtype)
        self.layer = layer
        self.transposed = isinstance(layer, Dense)                     # Dense stores M^T
        W = layer.params["W"]
        # the trained W and the other parameters, under the layer's own names
        self.params = dict(layer.params)
        # the layer computes with W_SN (a private Parameter: not trained, not saved)
        self.w_sn = Parameter(W.data.copy())
        layer.params = {**layer.params, "W": self.w_sn}
        M = self.matrix(W.data)
        xp = array_module(M)
        u = normalize(xp.asarray(rng.standard_normal(M.shape[0]).astype(self.dtype)))  # (out,)
        self.buffers = {"u": u, "v": normalize(M.T @ u)}                  # (out,), (in,)

    def matrix(self, A):
        """A weight-shaped array as the (out, in) matrix (a view)."""
        return A.T if self.transposed else A.reshape(A.shape[0], -1)

    def unmatrix(self, M):
        """An (out, in) matrix back in the weight's layout (a view)."""
        return M.T if self.transposed else M.reshape(self.params["W"].data.shape)

    def forward(self, x):
        M = self.matrix(self.params["W"].data)                          # (out, in)
        if self.training:
            self.buffers["u"], self.buffers["v"] = power_iteration(M, self.buffers["u"])
        self.sigma, W_SN = sn_forward(M, self.buffers["u"], self.buffers["v"])
        self.w_sn.data = self.unmatrix(W_SN)                            # the layer's weight shape
        return self.layer.forward(x)

    def backward(self, dy, input_grad=True):
        if self.requires_grad:                                          # the layer writes G here
            self.w_sn.grad = array_module(dy).empty(self.w_sn.data.shape, dtype=self.dtype)
            self.w_sn.fresh = True
        dx = self.layer.backward(dy, input_grad=input_grad)             # also adds dL/db
        if self.requires_grad:
            dM = sn_backward(self.matrix(self.w_sn.grad), self.matrix(self.w_sn.data),
                             self.sigma, self.buffers["u"], self.buffers["v"])   # (out, in)
            self.params["W"].add(self.unmatrix(dM))
        return dx

    # The wrapped layer is not a child (its parameters are the wrapper's), so the switches
    # that Module passes down to children are passed to it here.
    def train(self, mode=True):
        self.layer.train(mode)
        return super().train(mode)

    def requires_grad_(self, flag=True):
        self.layer.requires_grad_(flag)
        return super().requires_grad_(flag)

    def to(self, xp):
        super().to(xp)
        self.layer.to(xp)                                               # moves W_SN; the rest are ours
        return self

    def astype(self, dtype):
        super().astype(dtype)
        self.layer.astype(dtype)
        return self

    def __repr__(self):
        return f"SpectralNorm({self.layer!r})"

