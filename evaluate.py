#!/usr/bin/env python
"""Score a trained generator, or digits saved by sample.py, with the dataset's classifier.

    python evaluate.py runs/dcgan-.../checkpoint.npz                   # 10,000 samples
    python evaluate.py digits.npy --copy-check 60000 --json scores.json
    python evaluate.py CKPT --figures figs/                            # the surest, least sure, nearest

Prints a table, then the scores as JSON on the last line. What each number means:
docs/metrics.md and nanogan/eval/metrics.py.
"""
import signal
import sys

signal.signal(signal.SIGINT, lambda signum, frame: sys.exit(130))  # Ctrl-C while importing: no traceback

import json
import os
import time

import numpy as np

from nanogan.backend import get_xp, make_rng
from nanogan.errors import NanoganError
from nanogan.eval.images import to_uint8
from nanogan.eval.metrics import evaluate, memorisation
from nanogan.eval.samples import classifier_on, draw
from nanogan.files import atomic_open, read_npy
from nanogan.run.cli import main, parse_evaluate
from nanogan.run.generator import load_gan

signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on, Ctrl-C is handled (run/cli.py)

NAMES = {"frechet": "Fréchet distance (lower is better)", "classifier_score": "classifier score (max 10)",
         "precision": "precision (fidelity)", "recall": "recall (diversity)",
         "entropy": "class entropy / log 10", "covered": "classes with >= 5% of samples",
         "top_share": "share of the most frequent class", "conditional_accuracy": "conditional accuracy",
         "copy_ratio_features": "copy ratio, features (< 1: copies)", "copy_share_features":
         "samples closer than 99% of test, feat.", "copy_ratio_pixels": "copy ratio, pixels (< 1: copies)",
         "copy_share_pixels": "samples closer than 99% of test, pix.", "seconds": "seconds"}


def load_samples(args):
    """(uint8 digits (N, 28, 28), their digits for a cgan or None, array module, data set)."""
    if args.target.lower().endswith(".npy"):
        samples = read_npy(args.target, "samples file")
        if samples.dtype != np.uint8 or samples.ndim != 3 or samples.shape[1:] != (28, 28) or \
                not 4 <= len(samples) <= 100_000:
            raise NanoganError(f"{args.target!r} holds {samples.dtype} {samples.shape}; expected uint8 (N, 28, 28) "
                               "with 4 <= N <= 100000, as sample.py --out FILE.npy writes.")
        return samples, None, get_xp(args.device), args.dataset or "mnist"
    gan = load_gan(args.target, args.device, not args.no_ema)
    dataset = gan.config.dataset
    if args.dataset not in (None, dataset):
        raise NanoganError(f"{args.target!r} was trained on {dataset}; drop --dataset {args.dataset}.")
    samples, labels = draw(gan, args.num_samples, make_rng([args.seed or 0, 2]), truncation=args.truncation)
    return to_uint8(samples), labels, gan.xp, dataset        # what sample.py would save, so both paths agree


def draw_figures(folder, samples, classifier, dataset, nearest):
    """The samples the classifier is surest and least sure of, and those nearest to a training image."""
    from nanogan.data.datasets import load_dataset
    from nanogan.eval.classifier import features
    from nanogan.eval.galleries import most_and_least_sure, save_gallery, save_pairs
    from nanogan.eval.metrics import as_images
    os.makedirs(folder, exist_ok=True)
    surest, least = most_and_least_sure(features(classifier, as_images(samples))[1])
    save_gallery(os.path.join(folder, "surest.png"), samples, surest)
    save_gallery(os.path.join(folder, "least_sure.png"), samples, least)
    train_images = load_dataset(dataset, "train")[0] if nearest else None
    for space, (distances, index) in nearest.items():  # the closest pairs first: where copies would show
        save_pairs(os.path.join(folder, f"nearest_{space}.png"), samples, train_images, index,
                   order=np.argsort(distances, kind="stable"), n=24, ncols=4)


def run(argv=None):
    args = parse_evaluate(argv)
    t0 = time.perf_counter()
    samples, labels, xp, dataset = load_samples(args)
    classifier = classifier_on(xp, dataset)
    scores = evaluate(samples, classifier, labels=labels, dataset=dataset)
    nearest = {}
    if args.copy_check:
        copies, nearest = memorisation(samples, classifier, dataset, train_subset=args.copy_check)
        scores.update(copies)
    if args.figures:
        draw_figures(args.figures, samples, classifier, dataset, nearest)
    scores["seconds"] = round(time.perf_counter() - t0, 2)
    print(f"scores of {len(samples)} samples from {args.target}" +
          (f" (copies sought among {args.copy_check} training images)" if args.copy_check else ""))
    for key, label in NAMES.items():
        if key in scores:
            value = scores[key]
            print(f"  {label:<40} {value:.4f}" if isinstance(value, float) else f"  {label:<40} {value}")
    print(f"  {'predicted-class counts':<40} {list(scores['counts'])}")
    text = json.dumps({k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in scores.items()})
    if args.json:
        with atomic_open(args.json, "w") as f:
            f.write(text + "\n")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(run))
