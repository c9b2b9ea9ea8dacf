"""Time a convolution's parts at D's second layer (batch 128, Conv2d(64, 128, k=4, s=2, p=1)),
the im2col layers of commit d4087a7 beside today's row products (nanogan/nn/conv_rows.py).

    OPENBLAS_NUM_THREADS=1 python docs/scripts/conv_parts.py      # from the repository's root

The old conv.py is read from git history (`git show d4087a7:nanogan/nn/conv.py`) and run in
place, so that both sides are timed in one process on the same arrays. Prints the median of
15 calls of each part, in ms, and checks that both give the same numbers.
"""
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from nanogan.nn import conv_rows as rows  # noqa: E402

OLD = "d4087a7"


def old_conv():
    """nanogan/nn/conv.py as it was at OLD, as a module of the nanogan.nn package."""
    source = subprocess.run(["git", "show", f"{OLD}:nanogan/nn/conv.py"], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[2]).stdout
    module = types.ModuleType("old_conv")
    module.__package__ = "nanogan.nn"
    exec(source, module.__dict__)
    return module


def ms(f, n=15):
    f()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main():
    old = old_conv()
    rng = np.random.default_rng(0)
    N, C, F, H, k, s, p = 128, 64, 128, 14, 4, 2, 1
    Ho = rows.conv_output_size(H, k, s, p)
    x = rng.standard_normal((C, H, H, N), dtype=np.float32).transpose(3, 0, 1, 2)   # batch-last, as in a step
    W = rng.standard_normal((F, C, k, k), dtype=np.float32) * 0.02
    G = rng.standard_normal((F, Ho, Ho * N), dtype=np.float32)                        # dL/dY, (F, Ho, Wo N)

    W2o, cols, Gf = W.reshape(F, -1), old.im2col(x, k, k, s, p), G.reshape(F, -1)
    dcols = W2o.T @ Gf
    W2, Z, Gu = rows.weight_rows(W), rows.lower(x, k, s, p), G.transpose(1, 0, 2)   # Gu: (Ho, F, Wo N), a view
    dZ = rows.conv_rows_input_grad(Gu, W2, x.shape, k, s, p)

    y_old, y_new = W2o @ cols, rows.conv_rows(W2, Z, Ho, k, s, p).reshape(F, -1)
    dW_old, dW_new = Gf @ cols.T, rows.weight_from_rows(rows.conv_rows_weight_grad(Gu, Z, C, k, s, p), C, k)
    dx_old, dx_new = old.col2im(dcols, x.shape, k, k, s, p), rows.unlower(dZ, x.shape, k, s, p)
    for name, a, b in [("forward", y_old, y_new), ("weight gradient", dW_old.reshape(W.shape), dW_new),
                       ("input gradient", dx_old, dx_new)]:
        err = float(np.abs(a - b).max() / np.abs(a).max())
        print(f"{name}: largest difference {err:.1e} of the largest value")
        assert err < 1e-5, name                                # float32 sums in another order

    print("part | im2col layers (ms) | row products (ms)")
    print(f"unfold the input | im2col {ms(lambda: old.im2col(x, k, k, s, p)):.2f} | "
          f"lower {ms(lambda: rows.lower(x, k, s, p)):.2f}")
    print(f"forward products | {ms(lambda: W2o @ cols):.2f} | {ms(lambda: rows.conv_rows(W2, Z, Ho, k, s, p)):.2f}")
    print(f"weight gradient | {ms(lambda: Gf @ cols.T):.2f} | "
          f"{ms(lambda: rows.conv_rows_weight_grad(Gu, Z, C, k, s, p)):.2f}")
    print(f"input gradient products | {ms(lambda: W2o.T @ Gf):.2f} | "
          f"{ms(lambda: rows.conv_rows_input_grad(Gu, W2, x.shape, k, s, p)):.2f}")
    print(f"fold back | col2im {ms(lambda: old.col2im(dcols, x.shape, k, k, s, p)):.2f} | "
          f"unlower {ms(lambda: rows.unlower(dZ, x.shape, k, s, p)):.2f}")
    print(f"unfolded input, MB | {cols.nbytes / 1e6:.1f} | {sum(band[4].nbytes for band in Z) / 1e6:.1f}")


if __name__ == "__main__":
    main()
