"""The figures in figures/quality/, from a trained FC GAN and a trained cGAN (a one-off script,
until train.py draws them itself):

    python figures/quality/make_figures.py runs/fc10/checkpoint.npz runs/cgan10/checkpoint.npz

Scores 10,000 samples of the FC GAN (evaluate() with precision and recall, memorisation() in
feature and pixel space, both against all 60,000 training digits) and prints them as JSON;
draws the galleries, the nearest-training pairs and the latent and label walks.
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from train import load_gan  # noqa: E402

from nanogan.backend import make_rng  # noqa: E402
from nanogan.commands import draw  # noqa: E402
from nanogan.classifier import features, load_classifier  # noqa: E402
from nanogan.datasets import load_dataset  # noqa: E402
from nanogan.galleries import most_and_least_sure, save_gallery, save_pairs  # noqa: E402
from nanogan.images import grid, save_png, to_uint8  # noqa: E402
from nanogan.metrics import as_images, evaluate, memorisation  # noqa: E402
from nanogan.walks import label_walks, latent_walks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main(fc_ckpt, cgan_ckpt=None):
    out = lambda name: os.path.join(HERE, name)  # noqa: E731
    classifier = load_classifier()
    gan = load_gan(fc_ckpt, "cpu")
    samples = to_uint8(draw(gan, 10_000, make_rng([0, 2]))[0])            # as train.py's score() draws them
    t0 = time.perf_counter()
    scores = evaluate(samples, classifier)
    scores["evaluate_seconds"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    copies, nearest = memorisation(samples, classifier)
    scores.update(copies, memorisation_seconds=round(time.perf_counter() - t0, 1))
    print(json.dumps(scores))

    train_images, _ = load_dataset("mnist", "train")
    for space in ("pixels", "features"):
        distances, index = nearest[space]
        save_pairs(out(f"fc_nearest_{space}.png"), samples, train_images, index,
                   order=np.argsort(distances, kind="stable"), n=24, ncols=4)
    save_pairs(out("fc_nearest_pixels_random.png"), samples, train_images, nearest["pixels"][1], n=24, ncols=4)
    surest, least = most_and_least_sure(features(classifier, as_images(samples))[1], n=64)
    save_gallery(out("fc_surest.png"), samples, surest)
    save_gallery(out("fc_least_sure.png"), samples, least)

    rng = make_rng([0, 3])
    starts, ends = (rng.standard_normal((8, gan.z_dim), dtype=np.float32) for _ in range(2))
    for method in ("slerp", "lerp"):
        z = latent_walks(starts, ends, 10, method)                         # (80, 100), one walk per row
        save_png(out(f"fc_walk_{method}.png"), grid(to_uint8(gan.sample(z)), ncols=10))

    if cgan_ckpt is None:
        return
    cgan = load_gan(cgan_ckpt, "cpu")
    z0 = make_rng([0, 4]).standard_normal((10, cgan.z_dim), dtype=np.float32)
    z, y = label_walks(z0, np.arange(10), (np.arange(10) + 1) % 10, 10)    # row r: digit r -> r + 1
    cgan.G.eval()
    images = cgan.G.forward(np.concatenate([z, y], axis=1))                # the soft label in the one-hot's place
    save_png(out("cgan_label_walk.png"), grid(to_uint8(images), ncols=10))


if __name__ == "__main__":
    main(*sys.argv[1:3])
