"""A convolution's three products, one output row at a time (the math behind nn/conv.py).

For an input x (N, C, H, W), weights W (F, C, k, k), stride s and zero padding p:

    y[n, f, u, v] = sum over c, i, j of W[f, c, i, j] x_pad[n, c, s u + i, s v + j]

with x_pad = x padded by p zeros on each side: output row u reads padded rows s u .. s u + k-1.

im2col would copy every k x k receptive field out as a column (C k k rows, H_out W_out N
columns) and make the whole layer one product. Here only the width is unfolded
(the "memory-efficient convolution" of Cho & Brand, ICML 2017):

    Z[h, (j, c), (v, n)] = x_pad[c, h, s v + j, n]          Z: (H + 2p, k C, W_out N)

Output row u needs the k consecutive rows s u .. s u + k-1 of Z, and those rows are one
contiguous (k k C, W_out N) block of memory: that row's im2col matrix, as a view, in the
row order (i, j, c). So, with W2 = W laid out as (F, i, j, c), i.e. (F, k k C),

    Y[:, u] = W2 @ Z[s u : s u + k].reshape(k k C, W_out N)            (F, W_out N)

For G = dL/dY, held as (H_out, F, W_out N), the two gradients read the same blocks the
other way:

    dL/dW2 = sum over u of G[u] @ Z_u^T                                (F, k k C)
    dL/dZ[h] = sum over the (u, i) with s u + i = h of W2_i^T G[u]     (k C, W_out N)

with Z_u the block above and W2_i the (F, k C) columns of kernel row i; `unlower` then adds
dL/dZ back into the pixels it was copied from (the adjoint of `lower`).

What it buys, measured on D's second layer (docs/performance.md):
- Z is about s/k of im2col's matrix (each input row is shared by the output rows that read
  it, not copied for each): 15 MB instead of 26 at batch 128;
- on the CPU, a kernel row that falls on the padding is left out of the products instead of
  multiplied by zeros (`row_groups`): 26 of D's 28 (u, i) pairs, 7% fewer multiply-adds, for
  two more products a call. On a GPU a product is a launch, which costs more than those
  multiply-adds, so there the zeros are multiplied (`skip_padding`).

Rows that are computed alike go through one batched product (NumPy's and CuPy's matmul over
a leading axis) on an as_strided view whose blocks may overlap: such a view is only read.

The batch is innermost throughout, as nn/conv.py explains: Z, Y and G are rows of
W_out N numbers, (v, n); images are (N, C, H, W) only at `lower`'s input and `unlower`'s
output, as views of (C, H, W, N) memory.
"""
import numpy as np

from ..backend import array_module


def conv_output_size(size, k, stride, pad):
    """Output length of a convolution along one axis: (size + 2 pad - k) // stride + 1."""
    return (size + 2 * pad - k) // stride + 1


def skip_padding(xp):
    """Leave the padding's kernel rows out of the products (CPU), or multiply its zeros (GPU)."""
    return xp is np


def lower(x, k, stride, pad):
    """x (N, C, H, W) -> Z (H + 2p, k C, W_out N), Z[h, (j, c), (v, n)] = x_pad[c, h, s v + j, n].

    Plain form: Z[h, j*C + c, v*N + n] = x[n, c, h - p, s*v + j - p], 0 where that is outside
    the image. One copy of a strided view of the padded input (steps of one row, one
    column, one channel, s columns, one image)."""
    xp = array_module(x)
    N, C, H, W = x.shape
    Hp, Wp, Wo = H + 2 * pad, W + 2 * pad, conv_output_size(W, k, stride, pad)
    x_pad = xp.zeros((C, Hp, Wp, N), dtype=x.dtype)                     # (C, Hp, Wp, N)
    x_pad[:, pad:pad + H, pad:pad + W] = x.transpose(1, 2, 3, 0)         # one copy, any layout
    e = x_pad.itemsize                      # strides from the shape (NumPy may give any stride
    sc, sh, sw = Hp * Wp * N * e, Wp * N * e, N * e                      # to an axis of length 1)
    view = xp.lib.stride_tricks.as_strided(x_pad, (Hp, k, C, Wo, N), (sh, sw, sc, stride * sw, e))
    return xp.ascontiguousarray(view).reshape(Hp, k * C, Wo * N)


def unlower(dZ, x_shape, k, stride, pad):
    """The adjoint of `lower`: dZ (H + 2p, k C, W_out N) -> (N, C, H, W), each entry added back
    into the pixel it was copied from. The padding's rows of dZ are not read (they may be
    unwritten: conv_rows_input_grad leaves them so). Returns a view of a padded buffer.

    Plain form: for each j, dx_pad[:, :, j + s v, :] += dZ[:, j, :, v, :] over v. Splitting
    j = s q + b (0 <= b < s), column j + s v is s (q + v) + b: viewed as (column // s,
    column % s), the taps of one q land on a block in which no two overlap, so one `+=` per q
    adds up to s of them (2 instead of 4 at the DCGAN's k = 4, s = 2). The first group lands
    on untouched pixels when k >= s and is copied in: a write, not a read-modify-write."""
    xp = array_module(dZ)
    N, C, H, W = x_shape
    Wo = conv_output_size(W, k, stride, pad)
    s, Q = stride, -(-k // stride)                                      # Q = ceil(k / s)
    S = s * -(-max(s * (Q + Wo - 1), W + 2 * pad) // s)                 # columns, a multiple of s
    taps = dZ[pad:pad + H].reshape(H, k, C, Wo, N)
    x_pad = xp.zeros((C, H, S, N), dtype=dZ.dtype)                      # padded along the width
    blocks = x_pad.reshape(C, H, S // s, s, N)                          # (c, h, column // s, column % s, n)
    for q in range(Q):
        b = min(s, k - s * q)                                           # taps j = s q .. s q + b - 1
        group = taps[:, s * q:s * q + b].transpose(2, 0, 3, 1, 4)       # (C, H, Wo, b, N)
        if q == 0 and b == s:
            blocks[:, :, :Wo] = group
        else:
            blocks[:, :, q:q + Wo, :b] += group
    return x_pad[:, :, pad:pad + W].transpose(3, 0, 1, 2)               # (N, C, H, W)


def weight_rows(W):
    """W (F, C, k, k) -> W2 (F, k k C), columns in Z's row order (i, j, c). A copy."""
    F = W.shape[0]
    return array_module(W).ascontiguousarray(W.transpose(0, 2, 3, 1)).reshape(F, -1)


def weight_from_rows(dW2, C, k):
    """dW2 (F, k k C), columns in the order (i, j, c) -> (F, C, k, k), W's layout (a view)."""
    return dW2.reshape(dW2.shape[0], k, k, C).transpose(0, 3, 1, 2)


def row_groups(H_out, H, k, stride, pad, skip):
    """Runs of output rows computed alike: [(u0, u1, i0, i1)] says rows u0 .. u1-1 each use
    kernel rows i0 .. i1-1. With `skip`, those are the rows that land in the image,
    pad <= s u + i < pad + H (i1 <= i0: the window lies wholly on the padding, and the
    output row is zero); without, every row uses all k, one run."""
    if not skip:
        return [(0, H_out, 0, k)]
    groups = []
    for u in range(H_out):
        i0, i1 = max(0, pad - stride * u), min(k, H + pad - stride * u)
        if groups and groups[-1][2:] == (i0, i1):
            groups[-1] = (groups[-1][0], u + 1, i0, i1)
        else:
            groups.append((u, u + 1, i0, i1))
    return groups


def _blocks(a, start, count, rows, step):
    """`count` blocks of `rows` consecutive rows of a contiguous a (R, M, L), the first at row
    `start`, each `step` rows after the last: (count, rows M, L), a view that may overlap."""
    xp = array_module(a)
    _, M, L = a.shape
    e = a.itemsize
    return xp.lib.stride_tricks.as_strided(a[start:], (count, rows * M, L), (step * M * L * e, L * e, e))


def conv_rows(W2, Z, H_out, k, stride, pad):
    """Y = the convolution, (F, H_out, W_out N), from W2 (F, k k C) and Z = lower(x).

    Plain form, for each output row u using kernel rows i0 .. i1-1 (`row_groups`):
        Y[:, u] = W2[:, i0 kC : i1 kC] @ Z[s u + i0 : s u + i1].reshape(-1, W_out N)"""
    xp = array_module(Z)
    Hp, kC, L = Z.shape
    Y = xp.empty((W2.shape[0], H_out, L), dtype=Z.dtype)
    for u0, u1, i0, i1 in row_groups(H_out, Hp - 2 * pad, k, stride, pad, skip_padding(xp)):
        if i1 <= i0:
            Y[:, u0:u1] = 0
            continue
        rows = _blocks(Z, stride * u0 + i0, u1 - u0, i1 - i0, stride)  # (u1 - u0, K', L)
        xp.matmul(W2[:, i0 * kC:i1 * kC], rows, out=Y[:, u0:u1].transpose(1, 0, 2))
    return Y


def conv_rows_weight_grad(G, Z, k, stride, pad):
    """dL/dW2 (F, k k C) from G = dL/dY (H_out, F, W_out N) (any strides) and Z = lower(x).

    Plain form: dW2[:, i0 kC : i1 kC] += G[u] @ Z_u^T for each output row u, Z_u its rows of
    Z as in `conv_rows`. When k k C >= F the products are taken transposed, Z_u @ G[u]^T
    (K', F), and the result is a view of that: OpenBLAS runs these products faster with the
    longer side as their rows (one thread, the middle rows of D's second layer, K' = 1024 and
    F = 128: 11.8 ms against 13.5; of its first, K' = 16 and F = 64, the other way round:
    0.70 against 1.07)."""
    xp = array_module(Z)
    H_out, F, L = G.shape
    Hp, kC, _ = Z.shape
    transposed = k * kC >= F
    groups = row_groups(H_out, Hp - 2 * pad, k, stride, pad, skip_padding(xp))
    dW2 = None                                                          # (F, k k C) once made
    # the widest run first: when it spans every kernel row, its sum *is* dW2's first value
    # (no zero fill and no addition: two operations fewer on a GPU)
    for u0, u1, i0, i1 in sorted(groups, key=lambda g: g[2] - g[3]):
        if i1 <= i0:
            continue
        rows = _blocks(Z, stride * u0 + i0, u1 - u0, i1 - i0, stride)  # (u1 - u0, K', L)
        if transposed:
            part = xp.matmul(rows, G[u0:u1].transpose(0, 2, 1))         # (u1 - u0, K', F)
        else:
            part = xp.matmul(G[u0:u1], rows.transpose(0, 2, 1))         # (u1 - u0, F, K')
        part = part.sum(axis=0) if u1 > u0 + 1 else part[0]
        part = part.T if transposed else part                           # (F, K')
        if dW2 is None and i1 - i0 == k:
            dW2 = part
            continue
        if dW2 is None:
            dW2 = xp.zeros((k * kC, F), dtype=Z.dtype).T if transposed else xp.zeros((F, k * kC), dtype=Z.dtype)
        dW2[:, i0 * kC:i1 * kC] += part
    if dW2 is None:                                                     # every window on the padding
        dW2 = xp.zeros((F, k * kC), dtype=Z.dtype)
    return dW2


def conv_rows_input_grad(G, W2, H, k, stride, pad):
    """dL/dZ (H + 2p, k C, W_out N) from G = dL/dY (H_out, F, W_out N) and W2 (F, k k C),
    for an input of H rows; `unlower` turns it into dL/dx. Only the image's rows of dL/dZ are
    written (the padding has no gradient, and unlower does not read it).

    Padded row h was read by the output rows u with kernel row i = h - s u in [0, k). Those
    u are consecutive, u_lo .. u_lo + n-1, and up to s consecutive rows h share them (all s
    when s divides k), so a block of rows h0 .. h0 + R-1 is one product:

        dZ[h0 + r] = sum over t < n of W2_{i0 + r - s t}^T G[u_lo + t],   i0 = h0 - s u_lo
                   = (W_block @ G[u_lo : u_lo + n].reshape(n F, W_out N))[r]

    with W_block (R k C, n F) made of the kernel rows' (k C, F) blocks. The next block, s rows
    down and one output row later, has the same W_block, so the blocks of a run go in one
    batched call. Plain form: dZ[h] = sum over those (u, i) of W2[:, i kC : (i+1) kC].T @ G[u]."""
    xp = array_module(G)
    H_out, F, L = G.shape
    kC = W2.shape[1] // k
    G = xp.ascontiguousarray(G)                                          # (H_out, F, L)
    W3 = W2.reshape(F, k, kC)                                           # W3[:, i] = W2_i (F, kC)
    dZ = xp.empty((H + 2 * pad, kC, L), dtype=G.dtype)
    spans = []                                                          # [h0, h1, u_lo, n]: rows sharing u's
    for h in range(pad, pad + H):
        u_lo, u_hi = max(0, -(-(h - k + 1) // stride)), min(H_out - 1, h // stride)
        if spans and spans[-1][1] == h and spans[-1][2:] == [u_lo, u_hi - u_lo + 1]:
            spans[-1][1] = h + 1
        else:
            spans.append([h, h + 1, u_lo, u_hi - u_lo + 1])
    runs, last = [], {}                  # a run: [h0, R, u_lo, n, count]; last: (R, n, i0) -> latest
    for h0, h1, u_lo, n in spans:
        if n <= 0:                                                      # no window reads these rows
            dZ[h0:h1] = 0
            continue
        key = (h1 - h0, n, h0 - stride * u_lo)
        run = last.get(key)
        if run and run[0] + stride * run[4] == h0 and run[2] + run[4] == u_lo:
            run[4] += 1
        else:
            last[key] = run = [h0, h1 - h0, u_lo, n, 1]
            runs.append(run)
    for h0, R, u_lo, n, count in runs:
        i0 = h0 - stride * u_lo
        # W_block^T (n F, R kC), stacked from W2's rows (runs of kC numbers: a cheap copy)
        if R == n == 1:
            W_blockT = W3[:, i0]                                        # (F, kC), a view
        else:
            W_blockT = xp.stack([W3[:, i0 - stride * t:i0 - stride * t + R] for t in range(n)])  # (n, F, R, kC)
            W_blockT = W_blockT.reshape(n * F, R * kC)
        W_block = W_blockT.T                                            # (R kC, n F), a view
        G_blocks = _blocks(G, u_lo, count, n, 1)                        # (count, n F, L), overlapping
        # the output blocks are R <= s rows every s rows: they never overlap, so this write is safe
        xp.matmul(W_block, G_blocks, out=_blocks(dZ, h0, count, R, stride))
    return dZ
