"""What a trained generator is for besides training: drawing samples, scoring them (and
asking whether they copy the training data), and walking through its latent space.

train.py builds the GAN from a checkpoint and hands it to these functions, which use
only its sampling side: `gan.sample(z, y)` (y: digits, or soft one-hot rows), `gan.noise`,
`gan.z_dim`, `gan.conditional` and `gan.xp`.
"""
import json
import os
import time

import numpy as np

from ..backend import make_rng, to_device
from ..errors import NanoganError
from ..files import atomic_open, read_npy
from ..eval.images import grid, save_png, to_uint8
from ..eval.metrics import evaluate

CHUNK = 10_000  # samples per pass through G: bounded device memory for any --num-samples


def draw(gan, n, rng, digit=None):
    """n samples (device images in [-1, 1], (n, 1, 28, 28)) and, for the conditional GAN,
    the digits asked for: `digit`, or 0, 1, ..., 9, 0, ... in turn (host int64 (n,), else None)."""
    y = None
    if gan.conditional:
        y = np.full(n, digit, dtype=np.int64) if digit is not None else np.arange(n, dtype=np.int64) % 10
    return gan.sample(gan.noise(n, rng), None if y is None else to_device(y, gan.xp)), y


def grid_inputs(gan, seed):
    """The inputs behind every epoch's sample grid, from their own generator so that they are
    the same each epoch: 64 noise vectors in an 8x8 grid, or for the conditional GAN a 10x10
    grid with one row per digit and the noise fixed per column. Returns (z, y, columns)."""
    draw_noise = make_rng([seed, 1]).standard_normal
    if not gan.conditional:
        return to_device(draw_noise((64, gan.z_dim), dtype=np.float32), gan.xp), None, 8
    z = np.tile(draw_noise((10, gan.z_dim), dtype=np.float32), (10, 1))  # row r, column c: noise c
    y = np.repeat(np.arange(10, dtype=np.int64), 10)                       # row r: digit r
    return to_device(z, gan.xp), to_device(y, gan.xp), 10


def grid_picture(gan, inputs):
    """The uint8 picture of G's samples of `inputs` (grid_inputs)."""
    z, y, columns = inputs
    return grid(to_uint8(gan.sample(z, y)), columns)


def classifier_on(xp, dataset, _loaded={}):
    """The classifier of `dataset` on the array module xp, loaded once per process."""
    from ..eval.classifier import load_classifier
    if (xp, dataset) not in _loaded:
        _loaded[xp, dataset] = load_classifier(xp=xp, dataset=dataset)
    return _loaded[xp, dataset]


def score(gan, n, seed, dataset):
    """The classifier's metrics (nanogan.eval.metrics) on n fresh samples. The noise comes from a
    generator of its own, never the run's, so evaluating leaves a run's stream untouched."""
    samples, y = draw(gan, n, make_rng([seed, 2]))
    return evaluate(samples, classifier_on(gan.xp, dataset), labels=y, dataset=dataset)


def sample_command(gan, args):
    """--sample-from: --num-samples uint8 digits into a .npy, or a grid into a .png."""
    if args.digit is not None and not gan.conditional:
        raise NanoganError(f"--digit needs a conditional GAN (--arch cgan); {args.sample_from} is not one.")
    rng = make_rng(args.seed or 0)
    digits = np.empty((args.num_samples, 28, 28), dtype=np.uint8)
    for i in range(0, args.num_samples, CHUNK):
        digits[i:i + CHUNK] = to_uint8(draw(gan, len(digits[i:i + CHUNK]), rng, args.digit)[0])
    if args.sample_out.lower().endswith(".npy"):
        with atomic_open(args.sample_out) as f:
            np.save(f, digits)
    else:
        save_png(args.sample_out, grid(digits))
    print(f"wrote {args.num_samples} samples to {args.sample_out}")
    return 0


NAMES = {"frechet": "Fréchet distance (lower is better)", "classifier_score": "classifier score (max 10)",
         "precision": "precision (fidelity)", "recall": "recall (diversity)",
         "entropy": "class entropy / log 10", "covered": "classes with >= 5% of samples",
         "top_share": "share of the most frequent class", "conditional_accuracy": "conditional accuracy",
         "copy_ratio_features": "copy ratio, features (< 1: copies)", "copy_share_features":
         "samples closer than 99% of test, feat.", "copy_ratio_pixels": "copy ratio, pixels (< 1: copies)",
         "copy_share_pixels": "samples closer than 99% of test, pix.", "seconds": "seconds"}


def evaluate_command(args, gan=None, dataset="mnist"):
    """--evaluate: score a generator (gan) or the uint8 samples in args.evaluate (.npy) with
    the classifier of `dataset`, check them for copies of training images (against
    --copy-check training images), print a table and JSON, and draw the figures."""
    from ..eval.classifier import features
    from ..eval.galleries import most_and_least_sure, save_gallery, save_pairs
    from ..eval.metrics import as_images, memorisation
    t0 = time.perf_counter()
    labels = None
    if gan is None:
        samples = read_npy(args.evaluate, "samples file")
        if samples.dtype != np.uint8 or samples.ndim != 3 or samples.shape[1:] != (28, 28) or \
                not 4 <= len(samples) <= 100_000:
            raise NanoganError(f"{args.evaluate} holds {samples.dtype} {samples.shape}; expected uint8 (N, 28, 28) "
                               "with 4 <= N <= 100000, as --sample-out FILE.npy writes.")
        from ..backend import get_xp
        xp = get_xp(args.device)
    else:
        samples, labels = draw(gan, args.num_samples, make_rng([args.seed or 0, 2]))
        samples, xp = to_uint8(samples), gan.xp      # what --sample-out would save, so both paths agree
    classifier = classifier_on(xp, dataset)
    scores = evaluate(samples, classifier, labels=labels, dataset=dataset)
    nearest = {}
    if args.copy_check:
        copies, nearest = memorisation(samples, classifier, dataset, train_subset=args.copy_check)
        scores.update(copies)
    if args.figures:
        from ..data.datasets import load_dataset
        os.makedirs(args.figures, exist_ok=True)
        surest, least = most_and_least_sure(features(classifier, as_images(samples))[1])
        save_gallery(os.path.join(args.figures, "surest.png"), samples, surest)
        save_gallery(os.path.join(args.figures, "least_sure.png"), samples, least)
        train_images = load_dataset(dataset, "train")[0] if nearest else None
        for space, (distances, index) in nearest.items():  # the closest pairs first: where copies would show
            save_pairs(os.path.join(args.figures, f"nearest_{space}.png"), samples, train_images, index,
                       order=np.argsort(distances, kind="stable"), n=24, ncols=4)
    scores["seconds"] = round(time.perf_counter() - t0, 2)
    print(f"scores of {len(samples)} samples from {args.evaluate}" +
          (f" (copies sought among {args.copy_check} training images)" if args.copy_check else ""))
    for key, label in NAMES.items():
        if key in scores:
            value = scores[key]
            print(f"  {label:<40} {value:.4f}" if isinstance(value, float) else f"  {label:<40} {value}")
    print(f"  {'predicted-class counts':<40} {list(scores['counts'])}")
    text = json.dumps({k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in scores.items()})
    print(text)
    if args.eval_json:
        with atomic_open(args.eval_json, "w") as f:
            f.write(text + "\n")
    return 0


def walk_command(gan, args):
    """--walk: a grid of latent walks (DCGAN paper, sec. 6.1), one walk a row: between random
    noise vectors (slerp or lerp, nanogan.eval.walks), or for the conditional GAN, at fixed noise,
    from each digit to the next (0 -> 1, ..., 9 -> 0) through soft labels."""
    from ..eval.walks import label_walks, random_walks
    rng = make_rng([args.seed or 0, 3])
    if gan.conditional:
        z0 = rng.standard_normal((10, gan.z_dim), dtype=np.float32)              # (10, z_dim)
        z, y = label_walks(z0, np.arange(10), (np.arange(10) + 1) % 10, args.walk_steps)
        images = gan.sample(to_device(z, gan.xp), to_device(y, gan.xp))           # (10 * steps, 1, 28, 28)
    else:
        z = random_walks(rng, args.walk_rows, args.walk_steps, gan.z_dim, args.walk_method)
        images = gan.sample(to_device(z, gan.xp))                                 # (rows * steps, 1, 28, 28)
    save_png(args.sample_out, grid(to_uint8(images), args.walk_steps))
    print(f"wrote {len(images) // args.walk_steps} walks of {args.walk_steps} steps to {args.sample_out}")
    return 0
