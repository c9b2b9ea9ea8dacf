#!/usr/bin/env python
"""Draw digits from a trained generator.

    python sample.py runs/dcgan-.../checkpoint.npz --out digits.png              # an 8x8 grid
    python sample.py CKPT --num-samples 10000 --out digits.npy                    # uint8 (N, 28, 28)
    python sample.py runs/cgan-.../checkpoint.npz --digit 7 --out sevens.png     # one digit of a cgan
    python sample.py CKPT --walk --out walks.png                                  # latent walks

Samples come from the moving average of G's weights where the run kept one (--no-ema: G's own).
"""
import signal
import sys

signal.signal(signal.SIGINT, lambda signum, frame: sys.exit(130))  # Ctrl-C while importing: no traceback


import numpy as np

from nanogan.backend import make_rng, to_device
from nanogan.errors import NanoganError
from nanogan.eval.images import grid, save_png, to_uint8
from nanogan.eval.samples import CHUNK, draw
from nanogan.eval.walks import label_walks, random_walks
from nanogan.files import atomic_open
from nanogan.run.cli import main, parse_sample
from nanogan.run.generator import load_gan

signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on, Ctrl-C is handled (run/cli.py)


def sample(args, gan):
    """--num-samples uint8 digits into a .npy, or a grid of them into a .png."""
    if args.digit is not None and not gan.conditional:
        raise NanoganError(f"--digit needs a conditional GAN (--arch cgan); {args.checkpoint!r} is not one.")
    rng = make_rng(args.seed or 0)
    digits = np.empty((args.num_samples, 28, 28), dtype=np.uint8)
    for i in range(0, args.num_samples, CHUNK):
        digits[i:i + CHUNK] = to_uint8(draw(gan, len(digits[i:i + CHUNK]), rng, args.digit, args.truncation)[0])
    if args.out.lower().endswith(".npy"):
        with atomic_open(args.out) as f:
            np.save(f, digits)
    else:
        save_png(args.out, grid(digits))
    print(f"wrote {args.num_samples} samples to {args.out}", flush=True)


def walk(args, gan):
    """A grid of latent walks (DCGAN paper, sec. 6.1), one walk a row: between random noise
    vectors (slerp or lerp, nanogan.eval.walks), or for the conditional GAN, at fixed noise,
    from each digit to the next (0 -> 1, ..., 9 -> 0) through soft labels."""
    rng = make_rng([args.seed or 0, 3])
    if gan.conditional:
        z0 = rng.standard_normal((10, gan.z_dim), dtype=np.float32)              # (10, z_dim)
        z, y = label_walks(z0, np.arange(10), (np.arange(10) + 1) % 10, args.walk_steps)
        images = gan.sample(to_device(z, gan.xp), to_device(y, gan.xp))           # (10 * steps, 1, 28, 28)
    else:
        z = random_walks(rng, args.walk_rows, args.walk_steps, gan.z_dim, args.walk_method)
        images = gan.sample(to_device(z, gan.xp))                                 # (rows * steps, 1, 28, 28)
    save_png(args.out, grid(to_uint8(images), args.walk_steps))
    print(f"wrote {len(images) // args.walk_steps} walks of {args.walk_steps} steps to {args.out}", flush=True)


def run(argv=None):
    args = parse_sample(argv)
    gan = load_gan(args.checkpoint, args.device, not args.no_ema)
    (walk if args.walk else sample)(args, gan)
    return 0


if __name__ == "__main__":
    sys.exit(main(run))
