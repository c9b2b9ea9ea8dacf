"""The recipe: every value that defines a run, in one typed object, and each architecture's
defaults with the reason for each.

    config = recipe("dcgan")                    # what `python train.py --arch dcgan` trains
    config = recipe("dcgan", lr_d=1e-4)         # the same with one value changed
    config = textbook("dcgan")                  # the papers' networks and rates

A run saves its Config as JSON (config.json and every checkpoint: `asdict(config)`), and
`Config(**saved)` rebuilds it; nanogan/run/config.py checks every value first, whether typed
on the command line or read from a file. The networks (gan/models.py) and the optimizers
(gan/gan.py) are built from a Config by name, never by position.
"""
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Config:
    """A run. The field defaults are the textbook GAN (Goodfellow et al. 2014; Radford et al.
    2016): what a run gets where its architecture's recipe (RECIPES) says nothing."""
    # -- the networks
    arch: str = "fc"                  # fc, dcgan or cgan (gan/models.py)
    z_dim: int = 100                  # noise dimensions
    codes: int = 0                    # G also sees a one-hot code read off the noise (gan/gan.py: with_code)
    code_scale: float = 1.0           # ... whose one entry is this number, not 1
    width: int | None = None          # dcgan: G's channels, G 2w -> w -> 1 (None: not a DCGAN)
    d_width: int | None = None        # dcgan: D's channels, D 1 -> v -> 2v (None: as wide as G)
    d_norm: str | None = None         # dcgan: "batch" or "none", the BatchNorm in D
    dropout: float | None = None      # fc, cgan: D's dropout (None: 0.3)
    minibatch: bool = False           # minibatch discrimination in D (nn/minibatch.py)
    mbd_distance: str = "l1"          # its distance between samples: "l1" or "l2"
    d_sn: bool = False                # spectral normalisation of D's weights (nn/spectral_norm.py)
    # -- how they learn
    loss: str = "bce"                 # "bce" (non-saturating) or "hinge" (nn/loss.py)
    lr: float = 2e-4                  # G's Adam learning rate
    lr_d: float | None = None         # D's (None: lr)
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay: float = 1.0             # both rates times this after every epoch
    lr_hold: int | None = None        # full rates this many epochs, then linearly toward zero
    real_label: float = 1.0           # D's target for real images (< 1: one-sided smoothing)
    ema: float = 0.999                # samples from this moving average of G's weights (0: G's own)
    batch_size: int = 128
    epochs: int = 20                  # the run's target
    # -- the run
    seed: int = 0                     # the run's one random generator
    dataset: str = "mnist"            # or "fashion-mnist"
    limit: int | None = None          # train on the first N images only
    eval_every: int = 1               # score samples every this many epochs (0: never)
    eval_samples: int = 2000          # samples per score
    save_every: int = 0               # keep checkpoints/epoch_NNN.npz this often (0: never)
    device: str = "cpu"               # where the run last ran

    def to_dict(self):
        return asdict(self)


# Each architecture's recipe over the defaults above: `python train.py --arch A` trains
# Config(**RECIPES[A]). Every value was measured, not guessed (docs/recipes.md has the runs).
RECIPES = {
    "fc": dict(
        arch="fc",
        epochs=30,       # still improving at 20 (Fréchet distance 8.9) and at 30 (5.9)
        lr=4e-4,         # G at 2x D: 5.87 / 5.38 after 30 epochs against G at 8e-4's 8.30 / 7.15
        lr_d=2e-4,       # a faster D wins the game early; slowing G instead did worse
    ),
    "dcgan": dict(
        arch="dcgan",
        epochs=28,       # about 11 minutes on 2 CPU cores, within the FC GAN's 30 epochs' wall-clock
        codes=10,        # a 10-way code read off z: 1.59 / 1.94 against 3.43 / 3.21; 5, 15 or 30 did worse
        code_scale=10.0,  # ... as loud as the noise: one digit per code, precision 0.72 -> 0.82 (seed 1)
        width=32,        # G 64 -> 32 -> 1 channels, half the paper's: chosen with the rates below
        d_width=8,       # D a quarter as wide as G: a closer game, a 1.8x faster step
        d_sn=True,       # D spectrally normalised (Miyato et al. 2018): a D that cannot be steep
        d_norm="none",   # ... in place of its BatchNorm: 3.43 / 3.21 against 4.19 / 3.64, the same step time
        minibatch=True,  # lets D see a collapsed batch (Salimans et al. 2016)
        mbd_distance="l2",  # the same scores as the paper's l1 at a 1.2x faster step
        lr=1.2e-3,       # G's rate mattered first: 8e-4 beat 4e-4 and 2e-4; with the scaled code 1.2e-3 beat 8e-4
        lr_d=4e-4,       # G 3x D; a normalised D need not be starved; 2e-4 -> 4e-4 trades precision for recall
        lr_hold=14,      # rates fall to zero over the last 14 epochs: a settled last checkpoint
        real_label=1.0,  # no smoothing: the normalised D needs none; 0.9 held seed 1's recall at 0.799
    ),
    "cgan": dict(
        arch="cgan",     # the fc networks with a one-hot digit joined to both inputs
    ),                   # (not re-tuned: the textbook rates)
}

# The papers' networks and rates: the benchmark's baseline (bench.py --nets textbook) and the
# tests' small, fast GANs. No average of G, the DCGAN at the paper's width and without
# minibatch discrimination.
TEXTBOOK = {"fc": dict(arch="fc", ema=0.0), "cgan": dict(arch="cgan", ema=0.0),
            "dcgan": dict(arch="dcgan", ema=0.0, width=64, d_norm="batch")}

def recipe(arch="fc", **changes):
    """The Config that `python train.py --arch ARCH` trains, with `changes` over it."""
    return Config(**{**RECIPES[arch], **changes})


def textbook(arch="fc", **changes):
    """The textbook GAN of `arch`, with `changes` over it."""
    return Config(**{**TEXTBOOK[arch], **changes})
