"""A convolution's three products, one output row at a time (the math behind nn/conv.py).

For an input x (N, C, H, W), weights W (F, C, k, k), stride s and zero padding p:

    y[n, f, u, v] = sum over c, i, j of W[f, c, i, j] x_pad[n, c, s u + i, s v + j]

with x_pad = x padded by p zeros on each side, so output row u reads input rows
s u - p + i for i = 0 .. k-1.

im2col would copy every k x k receptive field out as a column (C k k rows, H_out W_out N
columns) and make the whole layer one product. Here only the width is unfolded
(the "memory-efficient convolution" of Cho & Brand, ICML 2017):

    Z[h, (j, c), (v, n)] = x_padw[c, h, s v + j, n]          Z: (H, k C, W_out N)

with x_padw padded along the width only. Output row u needs the k consecutive rows
h = s u - p .. s u - p + k - 1 of Z, and those rows are one contiguous (k k C, W_out N)
block of memory: that row's im2col matrix, as a view, in the row order (i, j, c). So,
with W2 = W laid out as (F, i, j, c), i.e. (F, k k C),

    Y[:, u] = W2 @ Z[s u - p : s u - p + k].reshape(k k C, W_out N)            (F, W_out N)

Two things come of it, both measured on D's second layer (docs/performance.md):
- Z is about s/k of im2col's matrix (each input row is shared by the output rows that read
  it, not copied for each): 13 MB instead of 26 at batch 128;
- a kernel row that falls on the padding is left out of the product rather than multiplied
  by zeros: output row u uses only the kernel rows i0 <= i < i1 that land in the image
  (`row_groups`), 26 of D's 28 (u, i) pairs, 7% fewer multiply-adds.

For G = dL/dY (F, H_out, W_out N), the two gradients are the same blocks read the other way:

    dL/dW2 = sum over u of G[:, u] @ Z_u^T                 (F, k k C)
    dL/dZ[h] = sum over the (u, i) with s u - p + i = h of W2_i^T G[:, u]     (k C, W_out N)

with Z_u the block above and W2_i the (F, k C) columns of kernel row i; `unlower` then adds
dL/dZ back into the pixels it was copied from (the adjoint of `lower`).

Output rows that use the same kernel rows go through NumPy's (and CuPy's) batched product in
one call, on an as_strided view of Z whose windows overlap: it is only read, never written.

The batch is innermost throughout, as nn/conv.py explains: Z, Y and G are rows of
W_out N numbers, (v, n); images are (N, C, H, W) only at `lower`'s input and `unlower`'s
output, as views of (C, H, W, N) memory.
"""
from ..backend import array_module


def conv_output_size(size, k, stride, pad):
    """Output length of a convolution along one axis: (size + 2 pad - k) // stride + 1."""
    return (size + 2 * pad - k) // stride + 1


def lower(x, k, stride, pad):
    """x (N, C, H, W) -> Z (H, k C, W_out N), Z[h, (j, c), (v, n)] = x_padw[c, h, s v + j, n].

    Plain form: Z[h, j*C + c, v*N + n] = x[n, c, h, s*v + j - pad], 0 where s v + j - pad is
    outside [0, W). One copy of a strided view of the width-padded input (steps of one row,
    one column, one channel, s columns, one image)."""
    xp = array_module(x)
    N, C, H, W = x.shape
    Wo = conv_output_size(W, k, stride, pad)
    x_padw = xp.zeros((C, H, W + 2 * pad, N), dtype=x.dtype)            # (C, H, W + 2p, N)
    x_padw[:, :, pad:pad + W] = x.transpose(1, 2, 3, 0)                 # one copy, any layout
    e = x_padw.itemsize
    sc, sh, sw, sn = (H * (W + 2 * pad) * N * e, (W + 2 * pad) * N * e, N * e, e)   # bytes, C order
    view = xp.lib.stride_tricks.as_strided(x_padw, (H, k, C, Wo, N), (sh, sw, sc, stride * sw, sn))
    return xp.ascontiguousarray(view).reshape(H, k * C, Wo * N)


def unlower(dZ, x_shape, k, stride, pad):
    """The adjoint of `lower`: dZ (H, k C, W_out N) -> (N, C, H, W), each entry added back into
    the pixel it was copied from (padding dropped). Returns a view of a padded buffer.

    Plain form: for each j, dx_padw[:, :, j + s v, :] += dZ[:, j, :, v, :] over v. Splitting
    j = s q + b (0 <= b < s), column j + s v is s (q + v) + b: viewed as (column // s,
    column % s), the taps of one q land on a block in which no two overlap, so one `+=` per q
    adds up to s of them (2 instead of 4 at the DCGAN's k = 4, s = 2). The first group lands
    on untouched pixels when k >= s and is copied in: a write, not a read-modify-write."""
    xp = array_module(dZ)
    N, C, H, W = x_shape
    Wo = conv_output_size(W, k, stride, pad)
    s, Q = stride, -(-k // stride)                                      # Q = ceil(k / s)
    S = s * -(-max(s * (Q + Wo - 1), W + 2 * pad) // s)                 # columns, a multiple of s
    taps = dZ.reshape(H, k, C, Wo, N)
    x_padw = xp.zeros((C, H, S, N), dtype=dZ.dtype)
    blocks = x_padw.reshape(C, H, S // s, s, N)                         # (c, h, column // s, column % s, n)
    for q in range(Q):
        b = min(s, k - s * q)                                           # taps j = s q .. s q + b - 1
        group = taps[:, s * q:s * q + b].transpose(2, 0, 3, 1, 4)       # (C, H, Wo, b, N)
        if q == 0 and b == s:
            blocks[:, :, :Wo] = group
        else:
            blocks[:, :, q:q + Wo, :b] += group
    return x_padw[:, :, pad:pad + W].transpose(3, 0, 1, 2)               # (N, C, H, W)


def weight_rows(W):
    """W (F, C, k, k) -> W2 (F, k k C), columns in Z's row order (i, j, c). A copy."""
    F = W.shape[0]
    return array_module(W).ascontiguousarray(W.transpose(0, 2, 3, 1)).reshape(F, -1)


def weight_from_rows(dW2, C, k):
    """dW2 (F, k k C), columns in the order (i, j, c) -> (F, C, k, k), W's layout (a view)."""
    return dW2.reshape(dW2.shape[0], k, k, C).transpose(0, 3, 1, 2)


def row_groups(H_out, H, k, stride, pad):
    """Runs of output rows that use the same kernel rows: [(u0, u1, i0, i1)] says rows
    u0 .. u1-1 each use kernel rows i0 .. i1-1, those whose input row s u - pad + i is in
    [0, H). (i1 <= i0: the window lies wholly on the padding, and the row is zero.)"""
    groups = []
    for u in range(H_out):
        i0, i1 = max(0, pad - stride * u), min(k, H + pad - stride * u)
        if groups and groups[-1][1] == u and groups[-1][2:] == (i0, i1):
            groups[-1] = (groups[-1][0], u + 1, i0, i1)
        else:
            groups.append((u, u + 1, i0, i1))
    return groups


def _windows(Z, h0, count, rows, step):
    """`count` blocks of `rows` consecutive rows of Z (H, kC, L), the first starting at row
    h0, each `step` rows after the last: (count, rows kC, L), a read-only view (they overlap
    where step < rows)."""
    xp = array_module(Z)
    _, kC, L = Z.shape
    e = Z.itemsize                  # strides from the shape: Z is contiguous (NumPy may give
    return xp.lib.stride_tricks.as_strided(    # any stride to an axis of length 1)
        Z[h0:], (count, rows * kC, L), (step * kC * L * e, L * e, e))


def conv_rows(W2, Z, H_out, k, stride, pad):
    """Y = the convolution, (F, H_out, W_out N), from W2 (F, k k C) and Z = lower(x).

    Plain form, for each output row u with kernel rows i0 .. i1-1 inside the image:
        Y[:, u] = W2[:, i0 kC : i1 kC] @ Z[s u - p + i0 : s u - p + i1].reshape(-1, W_out N)"""
    xp = array_module(Z)
    H, kC, L = Z.shape
    Y = xp.empty((W2.shape[0], H_out, L), dtype=Z.dtype)
    for u0, u1, i0, i1 in row_groups(H_out, H, k, stride, pad):
        if i1 <= i0:
            Y[:, u0:u1] = 0
            continue
        rows = _windows(Z, stride * u0 - pad + i0, u1 - u0, i1 - i0, stride)   # (u1 - u0, K', L)
        xp.matmul(W2[:, i0 * kC:i1 * kC], rows, out=Y[:, u0:u1].transpose(1, 0, 2))
    return Y


def conv_rows_weight_grad(G, Z, k, stride, pad):
    """dL/dW2 (F, k k C) from G = dL/dY (F, H_out, W_out N) and Z = lower(x).

    Plain form: dW2[:, i0 kC : i1 kC] += G[:, u] @ Z_u^T for each output row u, Z_u its rows
    of Z as in `conv_rows`. Computed transposed, Z_u @ G[:, u]^T (k k C, F), the faster
    orientation for OpenBLAS here, then viewed back."""
    xp = array_module(Z)
    F, H_out, L = G.shape
    H, kC, _ = Z.shape
    dW2T = None                                                         # (k k C, F) once made
    # the widest group first: when it spans every kernel row, its sum *is* dW2T's first value
    # (no zero fill and no addition; two operations fewer on a GPU)
    for u0, u1, i0, i1 in sorted(row_groups(H_out, H, k, stride, pad), key=lambda g: g[2] - g[3]):
        if i1 <= i0:
            continue
        rows = _windows(Z, stride * u0 - pad + i0, u1 - u0, i1 - i0, stride)   # (u1 - u0, K', L)
        part = xp.matmul(rows, G[:, u0:u1].transpose(1, 2, 0))          # (u1 - u0, K', F)
        part = part.sum(axis=0) if u1 > u0 + 1 else part[0]             # (K', F)
        if dW2T is None and i1 - i0 == k:
            dW2T = part
            continue
        if dW2T is None:
            dW2T = xp.zeros((k * kC, F), dtype=Z.dtype)
        dW2T[i0 * kC:i1 * kC] += part
    if dW2T is None:                                                    # every window on the padding
        dW2T = xp.zeros((k * kC, F), dtype=Z.dtype)
    return dW2T.T                                                       # (F, k k C), a view


def conv_rows_input_grad(G, W2, H, k, stride, pad):
    """dL/dZ (H, k C, W_out N) from G = dL/dY (F, H_out, W_out N) and W2 (F, k k C);
    `unlower` turns it into dL/dx.

    Input row h was read by output rows u with kernel row i = h + p - s u in [0, k). Those u
    are consecutive, u_lo .. u_hi, with i falling by s from i_top = h + p - s u_lo, so

        dZ[h] = [W2_{i_top}^T  W2_{i_top - s}^T ...] @ [G[:, u_lo]; G[:, u_lo + 1]; ...]

    one product of (k C, n F) by (n F, W_out N), on consecutive blocks of G held as
    (H_out, F, W_out N). Rows h, h + s, ... that share i_top and n go in one batched call.
    Plain form: dZ[h] = sum over those (u, i) of W2[:, i kC : (i+1) kC].T @ G[:, u]."""
    xp = array_module(G)
    F, H_out, L = G.shape
    kC = W2.shape[1] // k
    Gu = xp.ascontiguousarray(G.transpose(1, 0, 2))                     # (H_out, F, L)
    W3 = W2.reshape(F, k, kC).transpose(1, 2, 0)                        # (k, kC, F): W3[i] = W2_i^T
    dZ = xp.empty((H, kC, L), dtype=G.dtype)
    runs, last = [], {}                     # runs: [key, h0, u_lo, count]; last: key -> its latest run
    for h in range(H):
        u_lo = max(0, -(-(h + pad - k + 1) // stride))                   # ceil((h + p - k + 1) / s)
        u_hi = min(H_out - 1, (h + pad) // stride)
        n = u_hi - u_lo + 1
        if n <= 0:                                                      # no window reads row h
            dZ[h] = 0
            continue
        key = (h + pad - stride * u_lo, n)                              # (i_top, n)
        run = last.get(key)
        if run and run[1] + stride * run[3] == h:                       # the next row of that run
            run[3] += 1
        else:
            last[key] = run = [key, h, u_lo, 1]
            runs.append(run)
    e = Gu.itemsize                                                     # Gu is contiguous
    for (i_top, n), h0, u_lo, count in runs:
        i_low = i_top - stride * (n - 1)
        stacked = W3[i_low:i_top + 1:stride][::-1]                      # (n, kC, F): i_top, i_top - s, ...
        Wst = xp.ascontiguousarray(stacked.transpose(1, 0, 2)).reshape(kC, n * F)   # (kC, n F)
        Gwin = xp.lib.stride_tricks.as_strided(Gu[u_lo:], (count, n * F, L), (F * L * e, L * e, e))  # (count, n F, L)
        xp.matmul(Wst, Gwin, out=dZ[h0:h0 + stride * (count - 1) + 1:stride])
    return dZ
