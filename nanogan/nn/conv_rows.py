"""A convolution's three products, one output row at a time (the math behind nn/conv.py).

For an input x (N, C, H, W), weights W (F, C, k, k), stride s and zero padding p:

    y[n, f, u, v] = sum over c, i, j of W[f, c, i, j] x_pad[n, c, s u + i, s v + j]

with x_pad = x padded by p zeros on each side: output row u reads padded rows s u .. s u + k-1.
(In the code x_pad is held batch-innermost, as (C, H + 2p, W + 2p, N).)

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
  it, not copied for each): 14 MB instead of 26 at batch 128;
- on the CPU, the kernel rows and columns that fall on the padding are left out of the
  products instead of multiplied by zeros: the output rows whose windows reach into the
  padding are computed apart (`row_groups`), and so are the output columns, in bands of
  Z of their own (`lower`). At D's sizes 26 of 28 kernel rows are used along each axis, so
  1 - (26/28)^2 = 14% fewer multiply-adds, for a few more products a call. On a GPU a
  product is a launch, which costs more than those multiply-adds, so there the zeros are
  multiplied and Z is the one band above (`skip_padding`). (There CuPy's batched matmul
  copies the overlapping windows out before calling cuBLAS, an im2col-sized temporary: the
  memory saving is the CPU's.)

Rows that are computed alike go through one batched product (NumPy's and CuPy's matmul over
a leading axis) on an as_strided view whose blocks may overlap: such a view is only read.

The batch is innermost throughout, as nn/conv.py explains: Z, Y and G are rows of
W_out N numbers, (v, n); images are (N, C, H, W) only at `lower`'s input and `unlower`'s
output, as views of (C, H, W, N) memory.
"""
from functools import lru_cache

import numpy as np

from ..backend import array_module


def conv_output_size(size, k, stride, pad):
    """Output length of a convolution along one axis: (size + 2 pad - k) // stride + 1."""
    return (size + 2 * pad - k) // stride + 1


def skip_padding(xp):
    """Leave the padding's kernel rows and columns out of the products (CPU), or multiply its
    zeros (GPU). Either way the same sums, up to rounding; the tests run both."""
    return xp is np


def lower(x, k, stride, pad):
    """x (N, C, H, W) -> Z, a list of bands [(v0, v1, j0, j1, Z_b)]: output columns v0 .. v1-1
    use kernel columns j0 .. j1-1 (`row_groups` across the width), and

        Z_b[h, (j - j0, c), (v - v0, n)] = x_pad[c, h, s v + j, n]     (H + 2p, (j1-j0) C, (v1-v0) N)

    On a GPU there is one band, all W_out columns and all k kernel columns: Z as the module
    docstring has it. On the CPU the columns whose windows reach into the padding get bands of
    their own that leave those kernel columns out, as `row_groups` leaves out kernel rows.
    Plain form: Z_b[h, (j - j0) C + c, (v - v0) N + n] = x[n, c, h - p, s v + j - p], 0 where
    that is outside the image. Each band is one copy of a strided view of the padded input
    (steps of one row, one column, one channel, s columns, one image)."""
    xp = array_module(x)
    N, C, H, W = x.shape
    Hp, Wp, Wo = H + 2 * pad, W + 2 * pad, conv_output_size(W, k, stride, pad)
    x_pad = xp.zeros((C, Hp, Wp, N), dtype=x.dtype)                     # (C, Hp, Wp, N)
    x_pad[:, pad:pad + H, pad:pad + W] = x.transpose(1, 2, 3, 0)         # one copy, any layout
    # strides in bytes from the shape, not x_pad.strides: NumPy may give any stride to an axis of length 1
    e = x_pad.itemsize
    sc, sh, sw = Hp * Wp * N * e, Wp * N * e, N * e
    Z = []
    for v0, v1, j0, j1 in row_groups(Wo, W, k, stride, pad, skip_padding(xp)):
        view = xp.lib.stride_tricks.as_strided(
            x_pad[:, :, stride * v0 + j0:], (Hp, j1 - j0, C, v1 - v0, N), (sh, sw, sc, stride * sw, e))
        Z.append((v0, v1, j0, j1, xp.ascontiguousarray(view).reshape(Hp, (j1 - j0) * C, (v1 - v0) * N)))
    return Z


def unlower(dZ, x_shape, k, stride, pad):
    """The adjoint of `lower`: bands dZ = [(v0, v1, j0, j1, dZ_b)] shaped as lower's -> (N, C, H, W),
    each entry added back into the pixel it was copied from. The padding's rows of each dZ_b
    are not read (they may be unwritten: conv_rows_input_grad leaves them so). Returns a view
    of a padded buffer.

    Plain form: dx_pad[:, :, s v + j, :] += dZ_b[:, j - j0, :, v - v0, :] for every band, v and
    j. Splitting j = s q + a (0 <= a < s), column s v + j is s (v + q) + a: viewed as
    (column // s, column % s), the taps of one q land on a block in which no two overlap, so
    one `+=` per q and band adds up to s of them (2 instead of 4 at the DCGAN's k = 4, s = 2).
    The first group lands on untouched pixels and is copied in: a write, not a
    read-modify-write (the widest band goes first, so that this covers the most)."""
    xp = array_module(dZ[0][4])
    N, C, H, W = x_shape
    Wo = conv_output_size(W, k, stride, pad)
    s, Q = stride, -(-k // stride)                                      # Q = ceil(k / s)
    S = s * -(-max(s * (Q + Wo - 1), W + 2 * pad) // s)                 # columns, a multiple of s
    x_pad = xp.zeros((C, H, S, N), dtype=dZ[0][4].dtype)                # padded along the width
    blocks = x_pad.reshape(C, H, S // s, s, N)                          # (c, h, column // s, column % s, n)
    first = True
    for v0, v1, j0, j1, dZb in sorted(dZ, key=lambda band: band[0] - band[1]):
        taps = dZb[pad:pad + H].reshape(H, j1 - j0, C, v1 - v0, N)      # (h, j - j0, c, v - v0, n)
        for q in range(j0 // s, -(-j1 // s)):
            a0, a1 = max(j0 - s * q, 0), min(j1 - s * q, s)             # taps j = s q + a0 .. s q + a1 - 1
            group = taps[:, s * q + a0 - j0:s * q + a1 - j0].transpose(2, 0, 3, 1, 4)   # (C, H, v1-v0, a1-a0, N)
            if first:
                blocks[:, :, v0 + q:v1 + q, a0:a1] = group
                first = False
            else:
                blocks[:, :, v0 + q:v1 + q, a0:a1] += group
    return x_pad[:, :, pad:pad + W].transpose(3, 0, 1, 2)               # (N, C, H, W)


def weight_rows(W):
    """W (F, C, k, k) -> W2 (F, k k C), columns in Z's row order (i, j, c). A copy."""
    F = W.shape[0]
    return array_module(W).ascontiguousarray(W.transpose(0, 2, 3, 1)).reshape(F, -1)


def weight_from_rows(dW2, C, k):
    """dW2 (F, k k C), columns in the order (i, j, c) -> (F, C, k, k), W's layout (a view)."""
    return dW2.reshape(dW2.shape[0], k, k, C).transpose(0, 3, 1, 2)


@lru_cache(maxsize=None)            # a plan from sizes alone: made once per layer geometry
def row_groups(H_out, H, k, stride, pad, skip):
    """Runs of output rows computed alike: ((u0, u1, i0, i1), ...) says rows u0 .. u1-1 each
    use kernel rows i0 .. i1-1. With `skip`, those are the rows that land in the image,
    pad <= s u + i < pad + H (none, i1 = i0, where the window lies wholly on the padding: the
    products then have nothing to sum, and give zeros); without, every row uses all k, one run.
    The same rule across the width gives `lower`'s bands of columns."""
    if not skip:
        return ((0, H_out, 0, k),)
    groups = []
    for u in range(H_out):
        i0 = min(k, max(0, pad - stride * u))
        i1 = max(i0, min(k, H + pad - stride * u))
        if groups and groups[-1][2:] == (i0, i1):
            groups[-1] = (groups[-1][0], u + 1, i0, i1)
        else:
            groups.append((u, u + 1, i0, i1))
    return tuple(groups)


def _blocks(a, start, count, rows, step, columns=None):
    """`count` blocks of `rows` consecutive rows of a contiguous a (H, M, L), the first at row
    `start`, each `step` rows after the last: (count, rows M, L), a view that may overlap
    (and is then only read). columns=(c0, c1): only those columns, (count, rows M, c1 - c0)."""
    xp = array_module(a)
    _, M, L = a.shape
    c0, c1 = columns or (0, L)
    e = a.itemsize
    return xp.lib.stride_tricks.as_strided(a[start:, :, c0:], (count, rows * M, c1 - c0), (step * M * L * e, L * e, e))


def _band_weights(W2, k, j0, j1):
    """W2 (F, k k C) -> the columns of kernel columns j0 .. j1-1: (F, k (j1-j0) C), in the order
    (i, j, c); W2 itself when that is all of them, else a copy."""
    if (j0, j1) == (0, k):
        return W2
    F = W2.shape[0]
    W4 = W2.reshape(F, k, k, -1)                                        # (F, i, j, c)
    return array_module(W2).ascontiguousarray(W4[:, :, j0:j1]).reshape(F, -1)


def conv_rows(W2, Z, H_out, k, stride, pad):
    """Y = the convolution, (F, H_out, W_out N), from W2 (F, k k C) and the bands Z = lower(x).

    Plain form, for each output row u using kernel rows i0 .. i1-1 (`row_groups`), in each
    band (columns v0 .. v1-1 using kernel columns j0 .. j1-1, kb = (j1-j0) C numbers a row):
        Y[:, u, v0 N : v1 N] = W2_b[:, i0 kb : i1 kb] @ Z_b[s u + i0 : s u + i1].reshape(-1, (v1-v0) N)
    with W2_b = W2's columns of kernel columns j0 .. j1-1: a product over K' = (i1-i0)(j1-j0) C
    kernel positions, here and in the weight gradient."""
    xp = array_module(W2)
    F = W2.shape[0]
    Hp, N = Z[0][4].shape[0], Z[0][4].shape[2] // (Z[0][1] - Z[0][0])
    Wo = Z[-1][1]
    Y = xp.empty((F, H_out, Wo * N), dtype=W2.dtype)
    row_runs = row_groups(H_out, Hp - 2 * pad, k, stride, pad, skip_padding(xp))
    for v0, v1, j0, j1, Zb in Z:
        Wb, kb = _band_weights(W2, k, j0, j1), Zb.shape[1]
        for u0, u1, i0, i1 in row_runs:
            rows = _blocks(Zb, stride * u0 + i0, u1 - u0, i1 - i0, stride)   # (u1 - u0, K', (v1-v0) N)
            xp.matmul(Wb[:, i0 * kb:i1 * kb], rows, out=Y[:, u0:u1, v0 * N:v1 * N].transpose(1, 0, 2))
    return Y


def conv_rows_weight_grad(G, Z, C, k, stride, pad):
    """dL/dW2 (F, k k C) from G = dL/dY (H_out, F, W_out N) (any strides) and the bands
    Z = lower(x) of a C-channel x.

    Plain form: dW2[:, (i0 .. i1-1, j0 .. j1-1, :)] += G[u][:, v0 N : v1 N] @ Z_bu^T for each
    output row u and band b, Z_bu its rows of Z_b as in `conv_rows`. When k k C >= F the
    products are taken transposed, Z_bu @ G[u]^T (K', F): OpenBLAS runs these products faster
    with the longer side as their rows (one thread, the middle rows of D's second layer,
    K' = 1024 and F = 128: 11.8 ms against 13.5; of its first, K' = 16 and F = 64, the other way
    round: 0.70 against 1.07). The result is then copied once into W2's order (F, k k C), from
    which the layer's reordering to W's (F, C, k, k) reads whole rows (0.06 ms at D's second
    layer, against 0.21 straight from the transposed result)."""
    xp = array_module(G)
    H_out, F, L = G.shape
    Hp, N = Z[0][4].shape[0], L // Z[-1][1]
    transposed = k * k * C >= F
    row_runs = row_groups(H_out, Hp - 2 * pad, k, stride, pad, skip_padding(xp))
    dW2 = None                                                          # (F, k k C) once made
    # the widest region first: when it spans every kernel row and column, its sum *is* dW2's
    # first value (no zero fill and no addition: two operations fewer on a GPU)
    regions = [(u0, u1, i0, i1, v0, v1, j0, j1, Zb) for v0, v1, j0, j1, Zb in Z for u0, u1, i0, i1 in row_runs]
    for u0, u1, i0, i1, v0, v1, j0, j1, Zb in sorted(regions, key=lambda r: (r[2] - r[3]) * (r[7] - r[6])):
        if i1 <= i0 or j1 <= j0:
            continue
        rows = _blocks(Zb, stride * u0 + i0, u1 - u0, i1 - i0, stride)   # (u1 - u0, K', (v1-v0) N)
        Gb = G[u0:u1, :, v0 * N:v1 * N]                                 # (u1 - u0, F, (v1-v0) N)
        if transposed:
            part = xp.matmul(rows, Gb.transpose(0, 2, 1))              # (u1 - u0, K', F)
        else:
            part = xp.matmul(Gb, rows.transpose(0, 2, 1))              # (u1 - u0, F, K')
        part = part.sum(axis=0) if u1 > u0 + 1 else part[0]
        part = part.T if transposed else part                           # (F, K'), K' = (i, j, c)
        if dW2 is None and (i1 - i0, j1 - j0) == (k, k):
            dW2 = xp.ascontiguousarray(part)                            # a copy only when transposed
            continue
        if dW2 is None:
            dW2 = xp.zeros((F, k * k * C), dtype=G.dtype)
        dW2.reshape(F, k, k, C)[:, i0:i1, j0:j1] += part.reshape(F, i1 - i0, j1 - j0, C)
    if dW2 is None:                                                     # every window on the padding
        dW2 = xp.zeros((F, k * k * C), dtype=G.dtype)
    return dW2


@lru_cache(maxsize=None)            # a plan from sizes alone: made once per layer geometry
def _input_plan(H, H_out, k, stride, pad):
    """conv_rows_input_grad's blocks for an input of H rows: (runs, unread). A run
    (h0, R, u_lo, n, count) is `count` blocks of R padded rows, the first from row h0, each s
    rows and one output row after the last, each read by the n output rows from u_lo on;
    `unread` holds the (h0, h1) ranges of rows no window reads."""
    spans = []                                                          # [h0, h1, u_lo, n]: rows sharing u's
    for h in range(pad, pad + H):
        u_lo, u_hi = max(0, -(-(h - k + 1) // stride)), min(H_out - 1, h // stride)
        if spans and spans[-1][1] == h and spans[-1][2:] == [u_lo, u_hi - u_lo + 1]:
            spans[-1][1] = h + 1
        else:
            spans.append([h, h + 1, u_lo, u_hi - u_lo + 1])
    runs, last, unread = [], {}, []      # a run: [h0, R, u_lo, n, count]; last: (R, n, i0) -> latest
    for h0, h1, u_lo, n in spans:
        if n <= 0:
            unread.append((h0, h1))
            continue
        key = (h1 - h0, n, h0 - stride * u_lo)
        run = last.get(key)
        if run and run[0] + stride * run[4] == h0 and run[2] + run[4] == u_lo:
            run[4] += 1
        else:
            last[key] = run = [h0, h1 - h0, u_lo, n, 1]
            runs.append(run)
    return tuple(map(tuple, runs)), tuple(unread)


def conv_rows_input_grad(G, W2, x_shape, k, stride, pad):
    """dL/dZ from G = dL/dY (H_out, F, W_out N) and W2 (F, k k C), for an input x of shape
    x_shape (N, C, H, W): bands [(v0, v1, j0, j1, dZ_b)] shaped as lower(x)'s (each with s spare
    rows at the end, see below), which `unlower` turns into dL/dx. Only the image's rows of
    each dZ_b are written (the padding has no gradient, and unlower does not read it).
    Written below for one band, all columns.

    Padded row h was read by the output rows u with kernel row i = h - s u in [0, k). Those
    u are consecutive, u_lo .. u_lo + n-1, and consecutive rows h share them (up to s rows,
    all s when s divides k; more only where the output rows run out), so a block of rows
    h0 .. h0 + R-1 is one product:

        dZ[h0 + r] = sum over t < n of W2_{i0 + r - s t}^T G[u_lo + t],   i0 = h0 - s u_lo
                   = r-th (k C)-row block of W_block @ G[u_lo : u_lo + n].reshape(n F, W_out N)

    with W_block (R k C, n F) made of the kernel rows' (k C, F) blocks. The next block, s rows
    down and one output row later, has the same W_block, so the blocks of a run go in one
    batched call; such blocks do not overlap (R <= s), and are written through a plain view,
    s rows a block (hence the spare rows). Plain form: dZ[h] = sum over those (u, i) of
    W2[:, i kC : (i+1) kC].T @ G[u]."""
    xp = array_module(G)
    H_out, F, L = G.shape
    H, Wo = x_shape[2], conv_output_size(x_shape[3], k, stride, pad)
    G = xp.ascontiguousarray(G)                                          # (H_out, F, L)
    N = L // Wo
    runs, unread = _input_plan(H, H_out, k, stride, pad)
    dZ = []
    for v0, v1, j0, j1 in row_groups(Wo, x_shape[3], k, stride, pad, skip_padding(xp)):
        W3 = _band_weights(W2, k, j0, j1).reshape(F, k, -1)             # W3[:, i] = W2_i of the band (F, kb)
        kb = W3.shape[2]
        dZb = xp.empty((H + 2 * pad + stride, kb, (v1 - v0) * N), dtype=G.dtype)
        for h0, h1 in unread:
            dZb[h0:h1] = 0
        for h0, R, u_lo, n, count in runs:
            i0 = h0 - stride * u_lo
            # W_block^T (n F, R kb), stacked from W2's rows (runs of kb numbers: a cheap copy)
            if R == n == 1:
                W_blockT = W3[:, i0]                                    # (F, kb), a view
            else:
                W_blockT = xp.stack([W3[:, i0 - stride * t:i0 - stride * t + R] for t in range(n)])  # (n, F, R, kb)
                W_blockT = W_blockT.reshape(n * F, R * kb)
            G_blocks = _blocks(G, u_lo, count, n, 1, (v0 * N, v1 * N))  # (count, n F, (v1-v0) N), overlapping
            step = stride if count > 1 else R                           # a run of several has R <= s
            out = dZb[h0:h0 + step * count].reshape(count, step * kb, (v1 - v0) * N)[:, :R * kb]   # (count, R kb, .)
            xp.matmul(W_blockT.T, G_blocks, out=out)
        dZ.append((v0, v1, j0, j1, dZb))
    return dZ
