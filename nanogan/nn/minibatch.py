"""Minibatch discrimination (Salimans et al. 2016, "Improved techniques for training
GANs", arXiv:1606.03498, sec. 3.2): let the discriminator see the whole batch.

A collapsed generator makes every sample in a batch nearly the same. A
discriminator that looks at one sample at a time cannot notice; one that can
measure how close each sample is to the others in its batch can, and its
gradient then pushes the generator's samples apart.
"""
import numpy as np

from ..backend import array_module, new_like
from .init import init_weight
from .module import Module, Parameter
from .sums import filled


def minibatch_features(f, T):
    """o (N, B) and what the backward pass needs, for features f (N, A) and T (A, B, C).

        M_i = f_i T                                  (B, C) per sample, B rows of length C
        c_b(i, j) = exp(-||M_{i,b} - M_{j,b}||_1)    closeness of i and j in row b, in (0, 1]
        o(x_i)_b = 1/(N-1) sum_{j != i} c_b(i, j)

    The paper sums over all j. Two departures, neither changing what o measures:
    the j = i term is exp(0) = 1 for every sample, a constant that carries no
    information, so it is left out; and the sum is divided by N - 1, so that o is
    the mean closeness to the *other* samples, in [0, 1] whatever the batch size:
    0 for a sample with no close neighbour, 1 for a batch collapsed onto one point.
    Summed, o reaches N - 1 = 127 at batch 128, and D's next layer, initialised for
    inputs of order 1, starts out saturated.

    The pairwise tensor is held as (N, N, C, B), rows b innermost: the L1 sum over the
    C = 5 entries of a row is then 5 whole-array adds instead of a reduction along a
    5-long innermost axis, which NumPy does slowly (the forward pass at batch 128 and
    6272 features ran 1.5x faster: 30.4 -> 20.6 ms).
    """
    xp = array_module(f)
    A, B, C = T.shape
    M = (f @ T.reshape(A, B * C)).reshape(len(f), B, C)       # (N, B, C)
    M = xp.ascontiguousarray(M.transpose(0, 2, 1))             # (N, C, B)
    D = M[:, None] - M[None, :]                                # (N, N, C, B): M_i - M_j
    sign = xp.sign(D)
    D *= sign                                                  # |M_i - M_j|, in place
    c = xp.exp(-D.sum(axis=2))                                 # (N, N, B)
    n_other = max(len(f) - 1, 1)
    o = (c.sum(axis=1) - 1) / n_other                          # (N, B): drop the j = i term, c_b(i, i) = 1
    return o, (sign, c)


def minibatch_features_backward(G, f, T, cache):
    """dL/dM (N, B*C) from G = dL/do (N, B); the layer turns it into dL/df and dL/dT.

    o_{i,b} depends on M_k through c_b(i, j) for i = k (as M_i) and for j = k (as M_j).
    With s = sign(M_{i,b,c} - M_{j,b,c}) (the derivative of |.|, 0 at the kink),
        dc_b(i, j)/dM_{i,b,c} = -c_b(i, j) s,    dc_b(i, j)/dM_{j,b,c} = +c_b(i, j) s.
    Summing over both roles, and using c_b(i, j) = c_b(j, i) and s(j, i) = -s(i, j):
        dL/dM_{k,b,c} = -1/(N-1) sum_j (G_{k,b} + G_{j,b}) c_b(k, j) sign(M_{k,b,c} - M_{j,b,c})
    (the j = k term vanishes since sign(0) = 0).
    """
    sign, c = cache                                            # (N, N, C, B), (N, N, B)
    _, B, C = T.shape
    G = G / max(len(f) - 1, 1)                                 # the 1/(N-1) of the mean
    W = (G[:, None, :] + G[None, :, :]) * c                    # (N, N, B)
    dM = -(W[:, :, None, :] * sign).sum(axis=1)                # (N, C, B)
    return dM.transpose(0, 2, 1).reshape(len(f), B * C)       # (N, B*C), M's row order


EPS = 0.1   # the l2 closeness's smoothing length, in M's units (see euclidean_features)


def euclidean_features(f, T):
    """o (N, B) and what the backward pass needs, as `minibatch_features` but with a
    smoothed Euclidean distance in place of the L1 one:

        r_b(i, j) = sqrt(||M_{i,b} - M_{j,b}||_2^2 + eps^2)
        c_b(i, j) = exp(eps - r_b(i, j))            in (0, 1], 1 for identical rows
        o(x_i)_b  = 1/(N-1) sum_{j != i} c_b(i, j)

    Why: the L1 distance needs every difference M_{i,b,c} - M_{j,b,c}, an (N, N, C, B)
    tensor (4.1 M numbers at N = 128): the L1 layer took 70 ms of the DCGAN recipe's
    161 ms step (batch 128, 2 threads), this one 42 of 137. The squared Euclidean
    distance comes from products instead,
        ||M_i - M_j||^2 = ||M_i||^2 + ||M_j||^2 - 2 M_i . M_j,
    one (N, C)(C, N) product per row b, leaving (N, N, B) element-wise work: C = 5 times
    less. Like the L1 norm (and unlike its square) r grows linearly, so far-apart samples
    are told apart as well as near ones; eps rounds off the cone at r = 0, which makes the
    closeness smooth everywhere (no kink for the gradient check to straddle) and keeps the
    float32 cancellation in the formula above (about 1e-7 ||M||^2) far below eps^2.

    Held as (B, N, N), one N x N block per row b; c's diagonal (j = i) is 0.
    """
    xp = array_module(f)
    A, B, C = T.shape
    N = len(f)
    M = (f @ T.reshape(A, B * C)).reshape(N, B, C)              # (N, B, C)
    M = xp.ascontiguousarray(M.transpose(1, 0, 2))             # (B, N, C)
    sq = (M * M).sum(axis=2)                                   # (B, N): ||M_i||^2
    d2 = M @ M.transpose(0, 2, 1)                              # (B, N, N): M_i . M_j
    d2 *= -2
    d2 += sq[:, :, None]
    d2 += sq[:, None, :]                                       # ||M_i - M_j||^2, up to rounding
    xp.maximum(d2, 0, out=d2)                                  # rounding can dip below 0
    d2 += EPS * EPS
    r = xp.sqrt(d2, out=d2)                                    # (B, N, N)
    r.reshape(B, N * N)[:, ::N + 1] = xp.inf                   # the diagonal j = i: c = 0, left out
    c = xp.exp(EPS - r)
    o = c.sum(axis=2).T / max(N - 1, 1)                        # (N, B)
    return o, (M, r, c)


def euclidean_features_backward(G, f, T, cache):
    """dL/dM (N, B*C) from G = dL/do (N, B), as `minibatch_features_backward`.

    With dr_b(i, j)/dM_{i,b} = (M_{i,b} - M_{j,b}) / r_b(i, j) and c = exp(eps - r), and
    summing over both roles of M_k as in `minibatch_features_backward`,
        dL/dM_{k,b} = -sum_j V_b(k, j) (M_{k,b} - M_{j,b}) = (V_b M_b)_k - (sum_j V_b(k, j)) M_{k,b},
        V_b(k, j)   = (g_k + g_j) W_b(k, j),   g = G_{:,b} / (N-1),   W_b = c_b / r_b,
    a product again (W's diagonal is 0, as c's is). V is a sum of two scaled copies of W,
    V = diag(g) W + W diag(g), so with one product P = W [M, g*M, g, 1] (per b: (N, N) by
    (N, 2C + 2)) and no (N, N) array besides W:
        V M          = g * (W M) + W (g*M),
        sum_j V(k, j) = g_k (W 1)_k + (W g)_k.
    (Plain form: V = (g[:, None] + g[None, :]) * c / r, then V @ M - V.sum(axis=1)[:, None] * M:
    three (N, N) passes instead of one, the first an outer sum whose 128-long rows NumPy
    ran at about 3x the time a copy of its bytes takes from main memory: `bench.py --passes`.)
    """
    xp = array_module(f)
    M, r, c = cache                                            # (B, N, C), (B, N, N), (B, N, N)
    _, B, C = T.shape
    N = len(f)
    g = (G.T / max(N - 1, 1))[:, :, None]                      # (B, N, 1)
    W = xp.divide(c, r, out=new_like(c))                       # (B, N, N)
    ones = filled(xp, B * N, 1, M.dtype).reshape(B, N, 1)
    P = W @ xp.concatenate([M, g * M, g, ones], axis=2)        # (B, N, 2C + 2)
    WM, WgM, Wg, W1 = P[:, :, :C], P[:, :, C:2 * C], P[:, :, 2 * C:2 * C + 1], P[:, :, 2 * C + 1:]
    dM = g * WM
    dM += WgM                                                  # (V M)_k
    dM -= (g * W1 + Wg) * M                                    # - (sum_j V(k, j)) M_k
    return dM.transpose(1, 0, 2).reshape(N, B * C)             # (N, B*C), M's row order


FEATURES = {"l1": (minibatch_features, minibatch_features_backward),
            "l2": (euclidean_features, euclidean_features_backward)}


class MinibatchDiscrimination(Module):
    """y = [f, o(f)], (N, A) -> (N, A + B): the input features with B closeness
    statistics appended (see `minibatch_features`), learned tensor T of shape (A, B, C).
    B = num_kernels statistics of C = kernel_dim numbers each; B = 50, C = 5 is a
    small choice (A * 250 weights).

    Backward: dL/df = G[:, :A] (the copied features) + the term through o, and dL/dT,
    both from dL/dM (`minibatch_features_backward` or `euclidean_features_backward`).

    Every output depends on the whole batch, so the discriminator must be shown
    real and fake samples in separate batches (as nanogan's training loop does),
    never a mixed one. Memory is the (N, N, C, B) difference tensor: 16 MB in
    float32 for N = 128, B = 50, C = 5 (distance "l1", the paper's); distance "l2"
    (`euclidean_features`) needs (N, N, B) arrays only and a fifth of the time.
    """

    mixes_batch = True   # its statistics compare each sample with the rest

    def __init__(self, in_features, num_kernels, kernel_dim, rng, init="dcgan", dtype=np.float32, distance="l1"):
        super().__init__(dtype)
        self.A, self.B, self.C = in_features, num_kernels, kernel_dim
        self.distance = distance
        self.features, self.features_backward = FEATURES[distance]
        T = init_weight((in_features, num_kernels, kernel_dim), in_features, num_kernels * kernel_dim,
                        rng, init, dtype)                       # 'dcgan': N(0, 0.02^2)
        self.params = {"T": Parameter(T)}

    def forward(self, x):
        self.check_input(x, (None, self.A))
        self.f = x                                              # (N, A)
        o, self.cache = self.features(x, self.params["T"].data)
        return array_module(x).concatenate([x, o], axis=1)      # (N, A + B)

    def backward(self, dy):
        """x's gradient passes straight through the concatenation, plus the features' share:
        with M = f T (f = x, T as (A, B*C)) and dL/dM from `features_backward`,
            dL/dT = f^T dL/dM      (A, N)(N, B*C)
            dL/df = dL/dM T^T      (N, B*C)(B*C, A)
        dL/df is made in the memory order of x's share of dy (batch innermost after D's
        Flatten of a convolution, as (T dL/dM^T)^T), so that the sum of the two reads one
        order: a sum of two orders ran ~3.5x slower."""
        T = self.params["T"]
        dM = self.features_backward(dy[:, self.A:], self.f, T.data, self.cache)   # (N, B*C)
        T2 = T.data.reshape(self.A, -1)                                            # (A, B*C)
        if self.requires_grad:
            T.add((self.f.T @ dM).reshape(T.data.shape))                           # (A, B, C)
        g = dy[:, :self.A]                                                         # (N, A)
        df = (T2 @ dM.T).T if g.strides[0] < g.strides[1] else dM @ T2.T          # (N, A)
        return g + df

    def __repr__(self):
        return f"MinibatchDiscrimination({self.A}, B={self.B}, C={self.C}, {self.distance})"
