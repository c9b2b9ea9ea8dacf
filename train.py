#!/usr/bin/env python
"""Train a GAN on MNIST with nanogan's hand-written layers.

    python train.py --arch fc --device cpu            # fully connected GAN
    python train.py --arch dcgan --device cuda        # DCGAN on a GPU
    python train.py --resume runs/fc-.../checkpoint.npz --epochs 40
    python train.py --sample-from runs/fc-.../checkpoint.npz --num-samples 100 --sample-out digits.png

Read top to bottom, this file is the whole recipe: the two architectures, the
losses, the alternating updates, then the bookkeeping of a run (logging, sample
grids, curves, checkpoints, exact resume).
"""
import argparse
import csv
import json
import os
import shutil
import sys
import time

import numpy as np

import nanogan as ng
from nanogan.backend import make_rng, rng_state, set_rng_state, synchronize, to_device, to_host
from nanogan.batches import iterate, num_batches
from nanogan.checkpoint import load_checkpoint, save_checkpoint
from nanogan.datasets import DATASETS, load_dataset
from nanogan.errors import NanoganError
from nanogan.files import atomic_open
from nanogan.images import grid, save_gif, save_png, to_uint8
from nanogan.metrics import evaluate
from nanogan.minibatch import MinibatchDiscrimination
from nanogan.plots import plot_curves


# --------------------------------------------------------------------------------------
# The two architectures. G maps noise z (N, z_dim) to images (N, 1, 28, 28) in [-1, 1];
# D maps images to one logit each (N, 1). Both are plain Sequentials of nanogan layers.
# --------------------------------------------------------------------------------------

def build_fc(rng, z_dim=100, minibatch=False, n_classes=0, dropout=0.3):
    """The fully connected GAN (as in Goodfellow et al. 2014's MNIST models, sized as the
    common PyTorch/Keras MNIST GAN examples): LeakyReLU(0.2) hidden layers, tanh output,
    dropout (0.3) in D so that it does not simply memorise the training digits.
    n_classes > 0 widens both inputs for a one-hot label (the conditional GAN below);
    minibatch=True adds minibatch discrimination before D's last layer (see build_dcgan)."""
    G = ng.Sequential(
        ng.Dense(z_dim + n_classes, 256, rng), ng.LeakyReLU(0.2),
        ng.Dense(256, 512, rng), ng.LeakyReLU(0.2),
        ng.Dense(512, 1024, rng), ng.LeakyReLU(0.2),
        ng.Dense(1024, 784, rng), ng.Tanh(),
        ng.Reshape(1, 28, 28))                                        # (N, 1, 28, 28)
    D = ng.Sequential(
        ng.Flatten(),                                                 # (N, 784 + n_classes)
        ng.Dense(784 + n_classes, 1024, rng), ng.LeakyReLU(0.2), ng.Dropout(dropout, rng),
        ng.Dense(1024, 512, rng), ng.LeakyReLU(0.2), ng.Dropout(dropout, rng),
        ng.Dense(512, 256, rng), ng.LeakyReLU(0.2), ng.Dropout(dropout, rng))  # (N, 256)
    if minibatch:
        D.layers.append(MinibatchDiscrimination(256, 50, 5, rng))     # (N, 256 + 50)
    D.layers.append(ng.Dense(256 + 50 * minibatch, 1, rng))            # (N, 1) logits
    return G, D


def build_dcgan(rng, z_dim=100, minibatch=False):
    """DCGAN (Radford et al. 2016) at MNIST's native 28x28: G upsamples 7 -> 14 -> 28 with
    stride-2 transposed convolutions, BatchNorm and ReLU; D downsamples 28 -> 14 -> 7 with
    stride-2 convolutions, BatchNorm (not on D's input layer, as in the paper) and
    LeakyReLU(0.2), no pooling; weights N(0, 0.02) throughout. D always sees a batch that is
    all real or all fake (GAN.step), so its BatchNorm statistics never mix the two.
    (A D with dropout 0.3 in place of BatchNorm stayed near chance, D(x) 0.53 and D(G(z))
    0.47 after 3 epochs, and its G drew blobs; with BatchNorm D leads as DCGAN's does.)
    minibatch=True appends minibatch discrimination (Salimans et al. 2016) to D's features:
    50 closeness statistics per sample, each saying how near it is to the rest of its batch,
    which lets D notice a generator that has collapsed onto a few digits."""
    G = ng.Sequential(
        ng.Dense(z_dim, 128 * 7 * 7, rng, init="dcgan"), ng.BatchNorm(128 * 7 * 7), ng.ReLU(),
        ng.Reshape(128, 7, 7),                                        # (N, 128, 7, 7)
        ng.ConvTranspose2d(128, 64, 4, rng, stride=2, padding=1),     # (N, 64, 14, 14)
        ng.BatchNorm(64), ng.ReLU(),
        ng.ConvTranspose2d(64, 1, 4, rng, stride=2, padding=1),       # (N, 1, 28, 28)
        ng.Tanh())
    D = ng.Sequential(
        ng.Conv2d(1, 64, 4, rng, stride=2, padding=1),                # (N, 64, 14, 14)
        ng.LeakyReLU(0.2),
        ng.Conv2d(64, 128, 4, rng, stride=2, padding=1),              # (N, 128, 7, 7)
        ng.BatchNorm(128), ng.LeakyReLU(0.2),
        ng.Flatten())                                                 # (N, 6272)
    if minibatch:
        D.layers.append(MinibatchDiscrimination(128 * 7 * 7, 50, 5, rng))  # (N, 6272 + 50)
    D.layers.append(ng.Dense(128 * 7 * 7 + 50 * minibatch, 1, rng, init="dcgan"))  # (N, 1) logits
    return G, D


def build_cgan(rng, z_dim=100, minibatch=False, dropout=0.3):
    """A class-conditional GAN (Mirza & Osindero 2014): the FC GAN with a one-hot digit
    label (10 values) joined to G's noise and to D's flattened image, so that G learns
    p(x | digit) and D judges whether an image is a real example *of that digit*.
    GAN.step does the joining; here only the input widths grow by 10."""
    return build_fc(rng, z_dim, minibatch, n_classes=10, dropout=dropout)


ARCHS = {"fc": build_fc, "dcgan": build_dcgan, "cgan": build_cgan}


# --------------------------------------------------------------------------------------
# One training step: D learns to tell real from fake, then G learns to fool D.
# --------------------------------------------------------------------------------------

class GAN:
    """The two networks, their optimizers and the loss, on one device."""

    def __init__(self, arch, rng, xp, z_dim=100, lr=2e-4, betas=(0.5, 0.999), real_label=1.0,
                 minibatch=False, dropout=None):
        # dropout None: the architecture's own default (the DCGAN's D has none to set)
        self.G, self.D = ARCHS[arch](rng, z_dim, minibatch, **({} if dropout is None else {"dropout": dropout}))
        self.G.to(xp), self.D.to(xp)
        self.opt_G = ng.Adam(self.G.parameters(), lr, betas)
        self.opt_D = ng.Adam(self.D.parameters(), lr, betas)
        self.bce = ng.BCEWithLogits()
        self.xp, self.z_dim, self.real_label = xp, z_dim, real_label
        self.conditional = arch == "cgan"

    def noise(self, n, rng):
        """z ~ N(0, I), (n, z_dim) float32, drawn on the host from the run's generator."""
        return to_device(rng.standard_normal((n, self.z_dim), dtype=np.float32), self.xp)

    # The conditional GAN joins a one-hot label to each network's input; for the others
    # these three are the plain forward and backward passes.
    def _join(self, a, y):
        """a (N, K) and labels y (N,) -> (N, K + 10): a with the one-hot digit appended."""
        return self.xp.concatenate([a, self.xp.eye(10, dtype=a.dtype)[y]], axis=1)

    def generate(self, z, y=None):
        return self.G.forward(self._join(z, y) if self.conditional else z)    # (N, 1, 28, 28)

    def discriminate(self, x, y=None):
        return self.D.forward(self._join(x.reshape(len(x), -1), y) if self.conditional else x)  # (N, 1)

    def d_backward(self, dlogits):
        """Backward through D; returns dL/dx for the image part of D's input."""
        d_in = self.D.backward(dlogits)
        return d_in[:, :784].reshape(-1, 1, 28, 28) if self.conditional else d_in

    def step(self, x_real, rng, y_real=None):
        """One alternating update on a real batch x_real (B, 1, 28, 28) (with its labels
        y_real (B,) for the conditional GAN, whose fakes get labels drawn uniformly).

        D minimises  BCE(D(x), 1) + BCE(D(G(z)), 0)     (real_label < 1: one-sided smoothing)
        G minimises  BCE(D(G(z)), 1) = -mean log sigmoid(D(G(z)))
        The second is the "non-saturating" G loss (Goodfellow et al. 2014, sec. 3): it has
        strong gradients exactly when D confidently rejects G's samples, early in training.

        Returns a device array of 6 statistics: D loss, G loss, mean D(x), mean D(G(z)),
        D's accuracy on the real batch and on the fake batch.
        """
        xp, B = self.xp, len(x_real)
        ones = xp.full((B, 1), self.real_label, dtype=np.float32)
        zeros = xp.zeros((B, 1), dtype=np.float32)
        y_fake = to_device(rng.integers(0, 10, B), xp) if self.conditional else None
        fake = self.generate(self.noise(B, rng), y_fake)                # (B, 1, 28, 28)

        # D step: real and fake in separate passes; the gradients add up in D's .grad
        self.D.zero_grad()
        logit_real = self.discriminate(x_real, y_real)                  # (B, 1)
        loss_real = self.bce(logit_real, ones)
        self.D.backward(self.bce.backward())
        logit_fake = self.discriminate(fake, y_fake)                    # fake is just data to D here
        loss_fake = self.bce(logit_fake, zeros)
        self.D.backward(self.bce.backward())
        self.opt_D.step()

        # G step: through the updated D into G; D's gradients from this pass are discarded
        # (zeroed at the start of the next D step), G reuses the forward pass above.
        self.G.zero_grad()
        logit_gen = self.discriminate(fake, y_fake)
        loss_G = self.bce(logit_gen, xp.ones((B, 1), dtype=np.float32))
        self.G.backward(self.d_backward(self.bce.backward()))
        self.opt_G.step()

        sig = lambda t: 0.5 * (1 + xp.tanh(0.5 * t))  # noqa: E731  (overflow-free sigmoid)
        return xp.stack([loss_real + loss_fake, loss_G, sig(logit_real).mean(), sig(logit_fake).mean(),
                         (logit_real > 0).mean(dtype=np.float32), (logit_fake < 0).mean(dtype=np.float32)])

    def sample(self, z, y=None):
        """G(z) (given digits y for the conditional GAN) in eval mode, i.e. BatchNorm on its
        running statistics, so a sample does not depend on the others in its batch."""
        self.G.eval()
        out = [self.generate(z[i:i + 500], None if y is None else y[i:i + 500]) for i in range(0, len(z), 500)]
        self.G.train()
        return self.xp.concatenate(out)

    # -- what a checkpoint holds
    def models(self):
        return {"G": self.G, "D": self.D}

    def optimizers(self):
        return {"optG": self.opt_G, "optD": self.opt_D}

    def load(self, ck):
        for prefix, obj in {**self.models(), **self.optimizers()}.items():
            obj.load_state_dict(ck[prefix])


# --------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------

# hyper-parameters that define a run: a resumed run takes them from its checkpoint
HYPER = {"arch": "fc", "batch_size": 128, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "z_dim": 100,
         "seed": 0, "real_label": 1.0, "dataset": "mnist", "limit": None, "minibatch": False,
         "dropout": None}
EVAL_COLUMNS = ["frechet", "classifier_score", "entropy", "covered", "top_share"]
CSV_COLUMNS = ["epoch", "d_loss", "g_loss", "d_real", "d_fake", "acc_real", "acc_fake",
               "seconds", "images_per_second", *EVAL_COLUMNS]


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Train a GAN on MNIST with nanogan, or draw samples from a checkpoint.")
    p.add_argument("--arch", choices=sorted(ARCHS), default=None,
                   help="fc: fully connected GAN; dcgan: convolutional GAN; cgan: class-conditional "
                        f"(fully connected) GAN (default {HYPER['arch']})")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to compute (default cpu)")
    p.add_argument("--epochs", type=int, default=20, help="train until this many epochs are done (default 20)")
    p.add_argument("--batch-size", type=int, default=None, help=f"images per step (default {HYPER['batch_size']})")
    p.add_argument("--lr", type=float, default=None, help=f"Adam learning rate, both nets (default {HYPER['lr']})")
    p.add_argument("--beta1", type=float, default=None, help=f"Adam beta1 (default {HYPER['beta1']})")
    p.add_argument("--beta2", type=float, default=None, help=f"Adam beta2 (default {HYPER['beta2']})")
    p.add_argument("--z-dim", type=int, default=None, help=f"noise dimensions (default {HYPER['z_dim']})")
    p.add_argument("--real-label", type=float, default=None,
                   help="D's target for real images; 0.9 is one-sided label smoothing (default 1.0)")
    p.add_argument("--minibatch-disc", dest="minibatch", action="store_const", const=True, default=None,
                   help="add minibatch discrimination to D (Salimans et al. 2016), against mode collapse")
    p.add_argument("--dropout", type=float, default=None,
                   help="dropout rate in D of fc and cgan (default 0.3; 0 turns it off)")
    p.add_argument("--seed", type=int, default=None, help="seed of the run's one random generator (default 0)")
    p.add_argument("--dataset", choices=sorted(DATASETS), default=None, help="training data (default mnist)")
    p.add_argument("--data-dir", default=None,
                   help="directory holding (or to download) the IDX files; default: $NANOGAN_DATA_DIR, "
                        "else the copy shipped with nanogan")
    p.add_argument("--limit", type=int, default=None, help="train on the first N training images only")
    p.add_argument("--out", default=None, help="run directory (default runs/<arch>-<date>-<time>)")
    p.add_argument("--resume", metavar="CKPT", default=None,
                   help="continue the run saved in CKPT (its hyper-parameters are kept)")
    p.add_argument("--save-every", type=int, default=0,
                   help="also keep checkpoints/epoch_NNN.npz every this many epochs (0: only the latest)")
    p.add_argument("--eval-every", type=int, default=1,
                   help="score --eval-samples fresh samples with the MNIST classifier every this many "
                        "epochs, into metrics.csv and curves.png (0: never; default 1)")
    p.add_argument("--eval-samples", type=int, default=2000, help="samples per evaluation in training (default 2000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar within an epoch")
    p.add_argument("--sample-from", metavar="CKPT", default=None,
                   help="do not train: draw --num-samples images from CKPT's generator into --sample-out")
    p.add_argument("--evaluate", metavar="CKPT|FILE.npy", default=None,
                   help="do not train: score a checkpoint's generator (or uint8 samples (N, 28, 28) in a "
                        ".npy) with the MNIST classifier: Fréchet distance, classifier score, coverage")
    p.add_argument("--eval-json", metavar="FILE", default=None, help="with --evaluate: also write the scores here")
    p.add_argument("--num-samples", type=int, default=None,
                   help="with --sample-from: how many images (default 64); with --evaluate: how many "
                        "samples to score (default 10000)")
    p.add_argument("--digit", type=int, choices=range(10), default=None, metavar="0-9",
                   help="with --sample-from a cgan checkpoint: draw only this digit (default: 0-9 in turn)")
    p.add_argument("--sample-out", metavar="FILE", default=None,
                   help="with --sample-from: FILE.npy gets uint8 (N, 28, 28), FILE.png a grid")
    return p.parse_args(argv)


def fail(message):
    raise NanoganError(message)


def validate(args):
    """Every check that needs no data, before anything is loaded or written."""
    if args.num_samples is None:
        args.num_samples = 10_000 if args.evaluate else 64
    if args.sample_from or args.evaluate:
        if args.num_samples < 2:
            fail(f"--num-samples must be at least 2, got {args.num_samples}.")
    if args.evaluate:
        return
    if args.sample_from:
        if args.num_samples < 1:
            fail(f"--num-samples must be a positive integer, got {args.num_samples}.")
        if not args.sample_out or os.path.splitext(args.sample_out)[1].lower() not in (".npy", ".png"):
            fail("--sample-from needs --sample-out FILE ending in .npy (uint8 array) or .png (grid).")
        return
    if args.epochs < 1:
        fail(f"--epochs must be a positive integer, got {args.epochs}.")
    if args.eval_every < 0 or args.eval_samples < 2:
        fail("--eval-every must be 0 or more and --eval-samples at least 2.")
    for name in ("batch_size", "z_dim", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            fail(f"--{name.replace('_', '-')} must be a positive integer, got {value}.")
    if args.lr is not None and not args.lr > 0:
        fail(f"--lr must be positive, got {args.lr}.")
    for name in ("beta1", "beta2"):
        value = getattr(args, name)
        if value is not None and not 0 <= value < 1:
            fail(f"--{name} must be in [0, 1), got {value}.")
    if args.real_label is not None and not 0 < args.real_label <= 1:
        fail(f"--real-label must be in (0, 1], got {args.real_label}.")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        fail(f"--dropout must be in [0, 1), got {args.dropout}.")
    if args.dropout is not None and args.arch == "dcgan":
        fail("--dropout sets D's dropout in fc and cgan; the DCGAN's D has BatchNorm and no dropout.")


def run_config(args, ck):
    """The run's hyper-parameters: the checkpoint's when resuming (a different value given
    on the command line is refused, since it would not continue the same run), else the
    command line's over the defaults."""
    given = {k: getattr(args, k) for k in HYPER if getattr(args, k) is not None}
    if ck is None:
        return {**HYPER, **given, "epochs": args.epochs}
    config = ck["config"]
    for k, v in given.items():
        if config.get(k) != v:
            flag = "--" + k.replace("_", "-")
            fail(f"checkpoint {args.resume} was trained with {flag} {config.get(k)}, not {v}; "
                 f"drop {flag} to resume it, or start a new run.")
    if args.epochs <= ck["epoch"]:
        fail(f"checkpoint {args.resume} has already done {ck['epoch']} epochs; "
             f"pass --epochs larger than that to train on.")
    return {**config, "epochs": args.epochs}


def prepare_out_dir(args, config):
    """The run directory's path, refusing one that already holds another run."""
    if args.resume:
        return args.out or os.path.dirname(os.path.abspath(args.resume))
    out = args.out or os.path.join("runs", f"{config['arch']}-{time.strftime('%Y%m%d-%H%M%S')}")
    if os.path.exists(os.path.join(out, "checkpoint.npz")) or os.path.exists(os.path.join(out, "metrics.csv")):
        fail(f"{out} already holds a run; continue it with --resume {os.path.join(out, 'checkpoint.npz')} "
             "or choose another --out.")
    if os.path.exists(out) and not os.path.isdir(out):
        fail(f"--out {out} is a file, not a directory.")
    parent = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK) or \
            (os.path.isdir(out) and not os.access(out, os.W_OK)):
        fail(f"cannot write the run directory {out}: {parent} is not a writable directory; "
             "choose another --out.")
    return out


# --------------------------------------------------------------------------------------
# A run
# --------------------------------------------------------------------------------------

class Progress:
    """A one-line progress bar on stderr, redrawn at most 4 times a second."""

    def __init__(self, enabled, epoch, epochs, total):
        self.enabled, self.epoch, self.epochs, self.total = enabled, epoch, epochs, total
        self.last = 0.0

    def update(self, done, totals, images, seconds):
        now = time.perf_counter()
        if not self.enabled or (now - self.last < 0.25 and done < self.total):
            return
        self.last = now
        d, g = (to_host(totals[:2]) / max(done, 1)).tolist()
        bar = "#" * (20 * done // self.total)
        sys.stderr.write(f"\repoch {self.epoch}/{self.epochs} [{bar:<20}] {done}/{self.total}  "
                         f"D {d:.3f}  G {g:.3f}  {images / max(seconds, 1e-9):.0f} img/s ")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\r" + " " * 100 + "\r")


def write_csv(path, rows):
    with atomic_open(path, "w") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        w.writerows(rows)


def read_csv(path, upto):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if int(r["epoch"]) <= upto]


def fixed_inputs(gan, seed):
    """The inputs behind every epoch's sample grid, from their own generator so that they are
    the same each epoch: 64 noise vectors in an 8x8 grid, or for the conditional GAN a 10x10
    grid with one row per digit and the noise fixed per column. Returns (z, y, columns)."""
    draw = make_rng([seed, 1]).standard_normal
    if not gan.conditional:
        return to_device(draw((64, gan.z_dim), dtype=np.float32), gan.xp), None, 8
    z = np.tile(draw((10, gan.z_dim), dtype=np.float32), (10, 1))       # row r, column c: noise c
    y = np.repeat(np.arange(10, dtype=np.int64), 10)                     # row r: digit r
    return to_device(z, gan.xp), to_device(y, gan.xp), 10


def save_samples(gan, fixed, out, epoch):
    """The fixed inputs through G as a grid; then the GIF of all grids so far."""
    z, y, columns = fixed
    save_png(os.path.join(out, "samples", f"epoch_{epoch:03d}.png"), grid(to_uint8(gan.sample(z, y)), columns))
    from PIL import Image
    files = sorted(f for f in os.listdir(os.path.join(out, "samples")) if f.endswith(".png"))
    save_gif(os.path.join(out, "training.gif"),
             [np.asarray(Image.open(os.path.join(out, "samples", f))) for f in files])


def train(args):
    ck = load_checkpoint(args.resume) if args.resume else None
    config = run_config(args, ck)
    out = prepare_out_dir(args, config)
    xp = ng.get_xp(args.device)

    images, labels = load_dataset(config["dataset"], "train", args.data_dir)  # (60000, 1, 28, 28) float32
    if config["limit"]:
        images, labels = images[:config["limit"]], labels[:config["limit"]]
    if config["batch_size"] > len(images):
        fail(f"--batch-size {config['batch_size']} is larger than the {len(images)} training images.")
    images, labels = to_device(images, xp), to_device(labels, xp)  # 188 MB: fits any GPU; batches sliced there

    rng = make_rng(config["seed"])
    gan = GAN(config["arch"], rng, xp, config["z_dim"], config["lr"], (config["beta1"], config["beta2"]),
              config["real_label"], config["minibatch"], config.get("dropout"))
    fixed = fixed_inputs(gan, config["seed"])
    start = 0
    if ck is not None:
        try:
            gan.load(ck)
        except (KeyError, ValueError) as e:
            fail(f"checkpoint {args.resume} does not fit a {config['arch']} GAN ({e}); it is damaged.")
        set_rng_state(rng, ck["rng"])
        start = ck["epoch"]

    created = not os.path.isdir(out)
    try:
        os.makedirs(os.path.join(out, "samples"), exist_ok=True)
    except OSError as e:
        fail(f"cannot create the run directory {out} ({e.strerror}); choose another --out.")
    ckpt_path = os.path.join(out, "checkpoint.npz")
    rows = read_csv(os.path.join(out, "metrics.csv"), start)
    saved_any = ck is not None
    classifier = None  # the MNIST classifier, loaded at the first evaluation

    def checkpoint(epoch, path=ckpt_path):
        save_checkpoint(path, {**config, "device": args.device}, epoch, rng_state(rng),
                        gan.models(), gan.optimizers())

    steps = num_batches(len(images), config["batch_size"])
    bar = None
    print(f"training {config['arch']} on {len(images)} {config['dataset']} images, {steps} steps/epoch, "
          f"device {args.device}, run directory {out}", flush=True)
    try:
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump({**config, "device": args.device}, f, indent=2)
        if start == 0:
            save_samples(gan, fixed, out, 0)
        for epoch in range(start + 1, config["epochs"] + 1):
            bar = Progress(sys.stderr.isatty() and not args.no_progress, epoch, config["epochs"], steps)
            totals = xp.zeros(6, dtype=np.float32)
            synchronize(xp)
            t0 = time.perf_counter()
            for i, (x, y) in enumerate(iterate(images, labels, config["batch_size"], rng, xp), 1):
                totals += gan.step(x, rng, y if gan.conditional else None)
                bar.update(i, totals, i * config["batch_size"], time.perf_counter() - t0)
            synchronize(xp)
            seconds = time.perf_counter() - t0
            bar.close()
            stats = to_host(totals) / steps
            if not np.isfinite(stats).all():
                fail(f"training diverged in epoch {epoch} (D loss {stats[0]}, G loss {stats[1]}); "
                     + (f"the last good checkpoint, {ckpt_path}, is kept; " if saved_any else "")
                     + "try a lower --lr.")
            row = dict(zip(CSV_COLUMNS, [epoch, *(f"{v:.5f}" for v in stats), f"{seconds:.2f}",
                                         f"{steps * config['batch_size'] / seconds:.0f}"]))
            quality = ""
            if args.eval_every and epoch % args.eval_every == 0:
                if classifier is None:
                    from nanogan.classifier import load_classifier
                    classifier = load_classifier(xp=xp)
                scores = score(gan, args.eval_samples, config["seed"], classifier)
                row.update({k: f"{scores[k]:.4f}" for k in EVAL_COLUMNS})
                quality = (f"  FD {scores['frechet']:.2f}  score {scores['classifier_score']:.2f}  "
                           f"digits {scores['covered']}")
            rows.append(row)
            print(f"epoch {epoch:3d}/{config['epochs']}  D loss {stats[0]:.3f}  G loss {stats[1]:.3f}  "
                  f"D(x) {stats[2]:.3f}  D(G(z)) {stats[3]:.3f}  D acc real {stats[4]:.3f} "
                  f"fake {stats[5]:.3f}  {seconds:.1f} s  {float(row['images_per_second']):.0f} img/s"
                  + quality, flush=True)
            checkpoint(epoch)
            saved_any = True
            if args.save_every and epoch % args.save_every == 0:
                os.makedirs(os.path.join(out, "checkpoints"), exist_ok=True)
                checkpoint(epoch, os.path.join(out, "checkpoints", f"epoch_{epoch:03d}.npz"))
            write_csv(os.path.join(out, "metrics.csv"), rows)
            save_samples(gan, fixed, out, epoch)
            plot_curves(os.path.join(out, "curves.png"), rows, f"nanogan {config['arch']} on {config['dataset']}")
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        checkpoint(len(rows))  # mid-epoch weights; resuming restarts the unfinished epoch from them
        print(f"\ninterrupted: saved {ckpt_path}; continue with --resume {ckpt_path}", file=sys.stderr)
        return 130
    except BaseException:
        if created and not saved_any:  # nothing worth keeping: leave no half-made run directory
            shutil.rmtree(out, ignore_errors=True)
        raise
    print(f"done: {out} (checkpoint.npz, metrics.csv, curves.png, samples/, training.gif)")
    return 0


def load_generator(path, device):
    """A GAN on `device` whose generator holds the weights saved in checkpoint `path`."""
    ck = load_checkpoint(path)
    config = ck["config"]
    if config.get("arch") not in ARCHS:
        fail(f"checkpoint {path} holds an unknown architecture {config.get('arch')!r}.")
    gan = GAN(config["arch"], make_rng(0), ng.get_xp(device), config["z_dim"],
              minibatch=config.get("minibatch", False))
    try:
        gan.G.load_state_dict(ck["G"])
    except (KeyError, ValueError) as e:
        fail(f"checkpoint {path} does not fit a {config['arch']} generator ({e}).")
    return gan


def draw(gan, n, rng, digit=None):
    """n samples (device images in [-1, 1]) and, for the conditional GAN, the digits asked
    for: `digit`, or 0, 1, ..., 9, 0, 1, ... in turn (host int64 (n,); None otherwise)."""
    y = None
    if gan.conditional:
        y = np.full(n, digit, dtype=np.int64) if digit is not None else np.arange(n, dtype=np.int64) % 10
    return gan.sample(gan.noise(n, rng), None if y is None else to_device(y, gan.xp)), y


def score(gan, n, seed, classifier):
    """The classifier's metrics (nanogan.metrics) on n fresh samples. The noise comes from a
    generator of its own, never the run's, so evaluating leaves a run's stream untouched."""
    samples, y = draw(gan, n, make_rng([seed, 2]))
    return evaluate(samples, classifier, labels=y)


def sample(args):
    """Draw --num-samples images from a checkpoint's generator, without training."""
    gan = load_generator(args.sample_from, args.device)
    if args.digit is not None and not gan.conditional:
        fail(f"--digit needs a conditional GAN (--arch cgan); {args.sample_from} is not one.")
    folder = os.path.dirname(os.path.abspath(args.sample_out))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        fail(f"cannot write {args.sample_out}: its directory does not exist or is not writable.")
    seed = args.seed if args.seed is not None else 0
    digits = to_uint8(draw(gan, args.num_samples, make_rng(seed), args.digit)[0])  # (N, 28, 28) uint8
    if args.sample_out.lower().endswith(".npy"):
        with atomic_open(args.sample_out) as f:
            np.save(f, digits)
    else:
        save_png(args.sample_out, grid(digits))
    print(f"wrote {args.num_samples} samples to {args.sample_out}")
    return 0


def evaluate_command(args):
    """Score a checkpoint's generator, or samples in a .npy, and print a table and JSON."""
    from nanogan.classifier import load_classifier
    t0 = time.perf_counter()
    if args.evaluate.lower().endswith(".npy"):
        try:
            samples = np.load(args.evaluate, allow_pickle=False)
        except (OSError, ValueError) as e:
            fail(f"cannot read samples from {args.evaluate} ({type(e).__name__}: {e}).")
        if samples.dtype != np.uint8 or samples.ndim != 3 or samples.shape[1:] != (28, 28):
            fail(f"{args.evaluate} holds {samples.dtype} {samples.shape}; expected uint8 (N, 28, 28) "
                 "as --sample-out FILE.npy writes.")
        scores = evaluate(samples, load_classifier())
        what = f"{len(samples)} samples from {args.evaluate}"
    else:
        gan = load_generator(args.evaluate, args.device)
        seed = args.seed if args.seed is not None else 0
        scores = score(gan, args.num_samples, seed, load_classifier(xp=gan.xp))
        what = f"{args.num_samples} samples from {args.evaluate}"
    scores["seconds"] = round(time.perf_counter() - t0, 2)
    names = {"frechet": "Fréchet distance (lower is better)", "classifier_score": "classifier score (max 10)",
             "entropy": "class entropy / log 10", "covered": "digits with >= 5% of samples",
             "top_share": "share of the most frequent digit", "conditional_accuracy": "conditional accuracy",
             "seconds": "seconds"}
    print(f"scores of {what}")
    for key, label in names.items():
        if key in scores:
            value = scores[key]
            print(f"  {label:<36} {value:.4f}" if isinstance(value, float) else f"  {label:<36} {value}")
    print(f"  predicted-class counts               {list(scores['counts'])}")
    text = json.dumps({k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in scores.items()})
    print(text)
    if args.eval_json:
        with atomic_open(args.eval_json, "w") as f:
            f.write(text + "\n")
    return 0


def main(argv=None):
    args = parse_args(argv)
    try:
        validate(args)
        if args.evaluate:
            return evaluate_command(args)
        return sample(args) if args.sample_from else train(args)
    except NanoganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
