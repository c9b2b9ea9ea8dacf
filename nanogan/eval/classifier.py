"""An MNIST (or Fashion-MNIST) classifier built from nanogan's own layers: the judge of the GANs' samples.

The metrics (nanogan.eval.metrics) need a network that knows what digits look like:
its 128-d penultimate features are the space in which the Fréchet distance
compares generated and real digits, and its class probabilities give the
classifier score, the class coverage and the conditional accuracy. It plays the
part Inception-v3 plays for FID and the Inception score on natural images.

    conv(x)     = ReLU(BN(Conv 32 -> 64, 5x5, stride 2)(ReLU(BN(Conv 1 -> 32, 5x5, stride 2)(x))))
    features(x) = ReLU(Dense(3136 -> 128)(flatten(conv(x))))
    logits      = Dense(128 -> 10)(features(x))

28x28 -> 14x14 -> 7x7: strided convolutions downsample instead of pooling (nanogan
has no pooling layer, and a GAN's discriminator is built the same way). Trained
with softmax cross-entropy and Adam on digits shifted by up to 1 pixel, six
epochs (learning rate halved after each) reach 99.26% on the 10,000 test digits
(1425 s on 2 busy CPU cores). Four epochs with shifts of up to 2 pixels stopped
at 98.95% (still underfitting); without shifts the network fits the training set
(loss 0.012) and stops at 98.96%; without batch normalisation, at 98.7% after
three epochs. The trained weights ship as nanogan/eval/classifier.npz:

    python -m nanogan.eval.classifier --train --epochs 6 --shift 1 --seed 0 --out nanogan/eval/classifier.npz
    python -m nanogan.eval.classifier                 # accuracy of the shipped weights

Fashion-MNIST's ten kinds of clothing have the same format, so the same network and
recipe judge a GAN trained with --dataset fashion-mnist. It reaches 90.75% on the
10,000 test images (132 s with one BLAS thread on a 2-core AMD EPYC, nearly idle at the
time); the task is harder (shirts, T-shirts, pullovers and coats look alike) and this
small network stops far from fitting it (training loss 0.25). Without shifts it reaches
90.90% (205 s, loss 0.14), and ten epochs with shifts 90.84%: the decaying learning
rate has all but stopped the training by then. The shifted six-epoch weights ship as
nanogan/eval/classifier-fashion-mnist.npz, where --out defaults to for this dataset:

    python -m nanogan.eval.classifier --train --dataset fashion-mnist --epochs 6 --shift 1 --seed 0
    python -m nanogan.eval.classifier --dataset fashion-mnist
"""
import os
import sys
import time

import numpy as np

from ..nn.activations import ReLU
from ..nn.adam import Adam
from ..backend import array_module, make_rng, to_device, to_host
from ..data.batches import iterate
from ..nn.batchnorm import BatchNorm
from ..nn.conv import Conv2d
from ..data.datasets import load_dataset
from ..nn.dense import Dense
from ..errors import NanoganError
from ..command import Parser, main as run_command, whole
from ..files import atomic_open, check_output_file, read_npz, shown
from ..nn.module import Sequential
from ..nn.reshape import Flatten
from ..nn.softmax import SoftmaxCrossEntropy, log_softmax

FORMAT = "nanogan-classifier-1"
_DATA = os.path.dirname(os.path.abspath(__file__))
# The shipped weights, one file per dataset the judge knows (nanogan.data.datasets.DATASETS).
WEIGHTS = {"mnist": os.path.join(_DATA, "classifier.npz"),
           "fashion-mnist": os.path.join(_DATA, "classifier-fashion-mnist.npz")}
DEFAULT_PATH = WEIGHTS["mnist"]
FEATURES = 128


def make_classifier(rng, dtype=np.float32):
    """The untrained network; its last layer maps the FEATURES-d penultimate layer to 10 logits."""
    return Sequential(
        Conv2d(1, 32, 5, rng, stride=2, padding=2, init="he", bias=False, dtype=dtype),          # (N, 32, 14, 14)
        BatchNorm(32, dtype=dtype), ReLU(dtype=dtype),
        Conv2d(32, 64, 5, rng, stride=2, padding=2, init="he", bias=False, dtype=dtype),         # (N, 64, 7, 7)
        BatchNorm(64, dtype=dtype), ReLU(dtype=dtype),
        Flatten(dtype=dtype),                                                                     # (N, 3136)
        Dense(64 * 7 * 7, FEATURES, rng, init="he", dtype=dtype), ReLU(dtype=dtype),              # (N, 128)
        Dense(FEATURES, 10, rng, dtype=dtype),                                                    # (N, 10)
    )


def features(model, images, batch_size=500):
    """Penultimate features and class probabilities of `images`, a batch at a time.

    images: float array (N, 1, 28, 28) in [-1, 1], on any device.
    Returns (features (N, 128), probabilities (N, 10)), both float64 NumPy arrays:
    the statistics computed from them (means, covariances, entropies) want float64,
    and they are small. Batching keeps memory bounded: the second convolution's
    lowered input (nn/conv_rows.py) alone is 18 x 160 x 7 floats per image, 0.8 GB for
    10,000 images. Put the model in eval mode first (load_classifier does).
    """
    xp = array_module(model.parameters()[0].data)
    feats, probs = [], []
    for start in range(0, len(images), batch_size):
        h = to_device(images[start:start + batch_size], xp).astype(model.dtype, copy=False)
        for layer in model.layers[:-1]:
            h = layer.forward(h)                                      # ends as (B, 128)
        logits = model.layers[-1].forward(h)                          # (B, 10)
        feats.append(to_host(h).astype(np.float64))
        probs.append(np.exp(log_softmax(to_host(logits).astype(np.float64))))
    if not feats:
        return np.zeros((0, FEATURES)), np.zeros((0, 10))
    return np.concatenate(feats), np.concatenate(probs)


def accuracy(model, images, labels, batch_size=500):
    """Fraction of `images` whose most probable class is the label."""
    _, probs = features(model, images, batch_size)
    return float((probs.argmax(axis=1) == to_host(labels)).mean())


def save_classifier(path, model, meta):
    """Weights and a few facts about the run (`meta`: name -> number or string) as .npz,
    written to a temporary file and renamed into place, so `path` is never half written."""
    arrays = {"format": np.array(FORMAT)}
    arrays.update({f"meta/{k}": np.array(v) for k, v in meta.items()})
    arrays.update({f"model/{k}": to_host(v) for k, v in model.state_dict().items()})
    with atomic_open(path) as f:
        np.savez(f, **arrays)   # members stored, not compressed: what nanogan.files.read_npz reads


def load_classifier(path=None, xp=np, dataset="mnist"):
    """The trained classifier in eval mode on the array module `xp`.

    path: a weights file; default: the shipped weights for `dataset`. The model's
    `.dataset` attribute names the data it was trained on (files saved before the
    name was recorded are MNIST classifiers), so the metrics can refuse to judge
    Fashion-MNIST samples with the digit classifier.
    """
    whose = "the classifier"
    if path is None:
        if dataset not in WEIGHTS:
            raise NanoganError(f"no classifier for dataset {dataset!r}; nanogan ships one for: {', '.join(WEIGHTS)}.")
        path, whose = WEIGHTS[dataset], f"nanogan's {dataset} classifier"
    if not os.path.exists(path):
        raise NanoganError(f"{whose} is missing: {shown(path)} does not exist; train it with "
                           f"`python -m nanogan.eval.classifier --train --dataset {dataset} --out {shown(path)}`.")
    arrays = read_npz(path, "classifier file")                     # checked reads; nothing is unpickled
    marker = arrays.get("format")
    if marker is None or marker.shape != () or marker.dtype.kind != "U" or marker.item() != FORMAT:
        raise NanoganError(f"{shown(path)} is not a nanogan classifier (no '{FORMAT}' marker).")
    weights = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    if not all(v.dtype.kind == "f" and np.isfinite(v).all() for v in weights.values()):
        raise NanoganError(f"{shown(path)}: the classifier's weights must be finite floating-point numbers.")
    model = make_classifier(make_rng(0))  # weights are overwritten; the seed does not matter
    try:
        model.load_state_dict(weights)
    except ValueError as e:
        raise NanoganError(f"{shown(path)} does not hold this classifier's weights: {shown(str(e))}.") from None
    name = arrays.get("meta/dataset", np.array("mnist"))
    model.dataset = str(name.item()) if name.shape == () else "?"
    return model.to(xp).eval()


def random_shift(x, rng, max_shift=2):
    """Translate each image (N, 1, 28, 28) by its own random whole-pixel offset in
    [-max_shift, max_shift]^2, filling with background (-1): a cheap augmentation that
    teaches the classifier that a digit moved by a pixel or two is the same digit."""
    xp = array_module(x)
    N, _, H, W = x.shape
    m = max_shift
    padded = xp.pad(x, ((0, 0), (0, 0), (m, m), (m, m)), constant_values=-1)   # (N, 1, H+2m, W+2m)
    dy, dx = rng.integers(0, 2 * m + 1, (2, N))                                 # host offsets
    return xp.stack([padded[n, :, dy[n]:dy[n] + H, dx[n]:dx[n] + W] for n in range(N)])  # (N, 1, H, W)


def train(epochs=4, seed=0, batch_size=128, lr=1e-3, decay=0.5, shift=0, xp=np, log=print, dataset="mnist"):
    """Train from scratch; returns (model, test accuracy after each epoch).

    Adam with the usual betas (0.9, 0.999) (this is plain supervised learning, not a
    GAN); the learning rate is multiplied by `decay` after every epoch, so the last
    epoch fine-tunes with small steps. `shift` > 0 augments each batch with
    `random_shift`. Initial weights, shuffling and shifts all come from
    make_rng(seed), so a seed fixes the run. `dataset`: "mnist" or "fashion-mnist"
    (the same sizes and ten classes, so the same network).
    """
    rng = make_rng(seed)
    train_x, train_y = load_dataset(dataset, "train")
    test_x, test_y = load_dataset(dataset, "test")
    model = make_classifier(rng).to(xp)
    opt = Adam(model.parameters(), lr=lr, betas=(0.9, 0.999))
    loss_fn = SoftmaxCrossEntropy()
    history = []
    for epoch in range(epochs):
        opt.lr = lr * decay ** epoch
        model.train()
        start, total, count = time.perf_counter(), 0.0, 0
        for x, y in iterate(train_x, train_y, batch_size, rng, xp):
            opt.zero_grad()
            if shift:
                x = random_shift(x, rng, shift)
            loss = loss_fn(model(x), y)
            model.backward(loss_fn.backward())
            opt.step()
            total, count = total + float(loss), count + 1
        model.eval()
        acc = accuracy(model, test_x, test_y)
        history.append(acc)
        log(f"epoch {epoch + 1}/{epochs}: lr {opt.lr:.1e}, train loss {total / count:.4f}, "
            f"test accuracy {acc:.4f} ({time.perf_counter() - start:.0f} s)")
    return model, history


def main(argv=None):
    p = Parser(prog="python -m nanogan.eval.classifier", description=__doc__.split("\n")[0])
    p.add_argument("--train", action="store_true", help="train a classifier and save it to --out")
    p.add_argument("--epochs", type=whole(1, 1000), default=4)
    p.add_argument("--seed", type=whole(0, 2**63 - 1), default=0)
    p.add_argument("--batch-size", type=whole(1, 60_000), default=128)
    p.add_argument("--shift", type=whole(0, 13), default=0, help="augment: translate images by up to this many pixels")
    p.add_argument("--dataset", choices=sorted(WEIGHTS), default="mnist", help="the data to train or test on")
    p.add_argument("--out", default=None, help="weights file (.npz); default: the shipped one for --dataset")
    args = p.parse_args(argv)
    args.out = args.out or WEIGHTS[args.dataset]
    if args.train:
        check_output_file(args.out, "--out")        # before the training, not after
    else:  # evaluate existing weights
        model = load_classifier(args.out, dataset=args.dataset)
        test_x, test_y = load_dataset(args.dataset, "test")
        print(f"{args.out}: {args.dataset} test accuracy {accuracy(model, test_x, test_y):.4f}")
        return 0
    start = time.perf_counter()
    model, history = train(args.epochs, args.seed, args.batch_size, shift=args.shift, dataset=args.dataset)
    seconds = time.perf_counter() - start
    save_classifier(args.out, model, {"dataset": args.dataset, "epochs": args.epochs, "seed": args.seed,
                                      "batch_size": args.batch_size, "shift": args.shift,
                                      "test_accuracy": history[-1], "train_seconds": seconds})
    print(f"saved {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB); test accuracy {history[-1]:.4f}, "
          f"training took {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
