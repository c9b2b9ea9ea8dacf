"""The three commands' command lines (train.py, sample.py, evaluate.py) and every check that
needs no data, made before anything is loaded, computed or written. How a command ends (an
`error: ...` line and exit status 2 for anything the user can fix, 130 for Ctrl-C, never a
traceback) is nanogan.command's `main`, re-exported here for the three scripts.

argparse's own errors (an unknown option, a value that is not a number) become one such
line too; abbreviations of options are refused (`--epoch` is not `--epochs`).
"""
import argparse
import math
import os

from ..data.datasets import DATASETS
from .. import command
from ..command import Parser as CommandParser
from ..errors import NanoganError
from ..files import check_output_file, check_writable_dir
from .config import (ARCH_DEFAULTS, ARCH_EPOCHS, D_NORMS, HYPER, LOSSES, MBD_DISTANCES, RUN_OPTIONS,
                     check_combination, check_value, flag)

# Options that moved to a command of their own: a user typing the old form is told where.
MOVED = {"--sample-from": "sample.py CKPT --out FILE", "--walk": "sample.py CKPT --walk --out FILE.png",
         "--evaluate": "evaluate.py CKPT"}


main = command.main   # how train.py, sample.py and evaluate.py end (nanogan.command)


class Parser(CommandParser):
    """The commands' parser, which also tells a user of an option that moved where it went."""

    def error(self, message):
        for old, new in MOVED.items():
            if old in message:
                raise NanoganError(f"{old} is a command of its own now: python {new}; see its --help.")
        super().error(message)


# -- train.py ------------------------------------------------------------------------------

def _per_arch(name):
    """A default for --help, e.g. 'dcgan on, cgan off, fc off', from HYPER and ARCH_DEFAULTS."""
    show = lambda v: {True: "on", False: "off", None: "-"}.get(v, str(v)) if isinstance(v, (bool, type(None))) \
        else str(v)  # noqa: E731
    values = {arch: show(ARCH_DEFAULTS[arch].get(name, HYPER[name])) for arch in sorted(ARCH_DEFAULTS)}
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{arch} {v}" for arch, v in values.items() if v != "-")


def train_parser():
    p = Parser(description="Train a GAN on MNIST with nanogan's hand-written layers. With no option but "
                "--arch, a run trains that architecture's recipe (nanogan/gan/recipe.py).")
    add = p.add_argument
    add("--arch", choices=sorted(ARCH_DEFAULTS), help="fc: fully connected GAN; dcgan: convolutional GAN; "
        f"cgan: class-conditional (fully connected) GAN (default {HYPER['arch']})")
    add("--device", choices=["cpu", "cuda"], help="where to compute (default cpu)")
    add("--epochs", type=int, help="train until this many epochs are done (default: "
        + ", ".join(f"{a} {e}" for a, e in sorted(ARCH_EPOCHS.items())) + "; when resuming, the run's own target)")
    add("--batch-size", type=int, help=f"images per step (default {HYPER['batch_size']})")
    add("--lr", type=float, help=f"G's Adam learning rate (and D's too where the recipe has no --lr-d: cgan) "
        f"(default: {_per_arch('lr')})")
    add("--lr-d", type=float, help="D's own Adam learning rate: two time-scale updates (Heusel et al. 2017); "
        "the recipes have G learn 2x (fc) and 3x (dcgan) faster than D "
        f"(default: {_per_arch('lr_d')}; cgan: --lr)")
    add("--lr-decay", type=float, help="multiply both learning rates by this after every epoch: epoch e trains "
        f"at lr * decay**(e - 1) (default: {_per_arch('lr_decay')})")
    add("--lr-hold", type=int, help="keep the learning rates for this many epochs, then lower them linearly "
        "toward zero, epoch e of E at (E - e + 1) / (E - hold + 1) of them (Zhu et al. 2017); "
        "a hold of --epochs or more: no such decay "
        f"(default: {_per_arch('lr_hold')}; fc, cgan: none)")
    add("--beta1", type=float, help=f"Adam beta1 (default {HYPER['beta1']})")
    add("--beta2", type=float, help=f"Adam beta2 (default {HYPER['beta2']})")
    add("--z-dim", type=int, help=f"noise dimensions (default {HYPER['z_dim']})")
    add("--codes", type=int, help="also give G a one-hot code of this many values, read off the noise (which "
        "of its first CODES entries is largest): a G that can jump from one digit to the next instead of "
        f"morphing through blurs; 0: none (default: {_per_arch('codes')})")
    add("--code-scale", type=float, help="the code's one entry: how far it moves G's first layer against the "
        "noise, whose norm is about sqrt(--z-dim); needs a code (--codes 2 or more) "
        f"(default: {_per_arch('code_scale')})")
    add("--real-label", type=float, help="D's target for real images; below 1 is one-sided label smoothing "
        f"(default: {_per_arch('real_label')})")
    add("--minibatch-disc", dest="minibatch", action=argparse.BooleanOptionalAction,
        help="add minibatch discrimination to D (Salimans et al. 2016), against mode collapse "
        f"(default: {_per_arch('minibatch')})")
    add("--mbd-distance", choices=MBD_DISTANCES, help="minibatch discrimination's distance between samples: "
        "l1 (the paper's) or l2 (a smoothed Euclidean one, by matrix products: faster) "
        f"(default: {_per_arch('mbd_distance')})")
    add("--spectral-norm", dest="d_sn", action=argparse.BooleanOptionalAction,
        help="divide each of D's weights by its largest singular value (Miyato et al. 2018): a D that cannot "
        f"change its verdict faster than its input changes (default: {_per_arch('d_sn')})")
    add("--loss", choices=LOSSES, help="bce: binary cross-entropy, G's the non-saturating one; hinge: D asks for "
        f"a margin of 1, G raises D's logits (Lim & Ye 2017) (default: {_per_arch('loss')})")
    add("--ema", type=float, help="sample, draw grids and evaluate with an exponential moving average of "
        "G's weights with this decay (Yazıcı et al. 2019); 0: G's own weights "
        f"(default: {_per_arch('ema')})")
    add("--width", type=int, help=f"the DCGAN's G channels: G 2w -> w -> 1 (default: {_per_arch('width')})")
    add("--d-width", type=int, help="the DCGAN's D channels: D 1 -> w -> 2w; the recipe's D is a quarter as wide "
        f"as its G (default: {_per_arch('d_width')})")
    add("--d-norm", choices=D_NORMS, help="normalisation in the DCGAN's D: BatchNorm, or none "
        f"(default: {_per_arch('d_norm')})")
    add("--dropout", type=float, help="dropout rate in D of fc and cgan (default 0.3; 0 turns it off)")
    add("--seed", type=int, help="seed of the run's one random generator (default 0)")
    add("--dataset", choices=sorted(DATASETS), help="training data (default mnist)")
    add("--data-dir", help="directory holding (or to download) the IDX files; default: $NANOGAN_DATA_DIR, "
        "else the copy shipped with nanogan")
    add("--limit", type=int, help="train on the first N training images only")
    add("--out", help="run directory (default runs/<arch>-<date>-<time>; must be new or empty)")
    add("--resume", metavar="CKPT", help="continue the run saved in CKPT (its hyper-parameters are kept); "
        "in place for a run's checkpoint.npz, else into a new --out")
    add("--save-every", type=int, help="also keep checkpoints/epoch_NNN.npz every this many epochs "
        "(default 0: only the latest)")
    add("--eval-every", type=int, help="score --eval-samples fresh samples with the MNIST classifier every "
        "this many epochs, into metrics.csv and curves.png (0: never; default 1)")
    add("--eval-samples", type=int, help="samples per evaluation in training (default 2000)")
    add("--no-progress", action="store_true", help="no progress bar within an epoch")
    return p


def parse_train(argv):
    """train.py's arguments, each value checked."""
    args = train_parser().parse_args(argv)
    for name in [*HYPER, *RUN_OPTIONS, "epochs"]:
        if getattr(args, name) is not None:
            check_value(name, getattr(args, name))
    for name in ("out", "resume"):
        if getattr(args, name) == "":
            raise NanoganError(f"{flag(name)} needs a path, got an empty one.")
    args.device = args.device or "cpu"
    if not args.resume:             # a resumed run's combination is its checkpoint's (run_config)
        config = run_config(args, None)
        check_combination(config)   # the given values with the recipe's, before any write
        # A saved configuration always holds a scale, so only here can a typed one be told
        # from the default: a scale for a code the run does not have would be ignored.
        if args.code_scale is not None and config["codes"] == 0:
            raise NanoganError(f"--code-scale sets the entry of G's code, and --arch {config['arch']} with "
                               "--codes 0 has none; give --codes 2 or more, or drop --code-scale.")
    return args


def run_config(args, ck):
    """The run's configuration (a dict of nanogan.gan.Config's fields): for a new run the
    command line's values over its architecture's recipe; when resuming, the checkpoint's (a
    different hyper-parameter given on the command line is refused, since the run would not
    be the same run), with --epochs as the new target and the run options (evaluation,
    snapshots) as given, else as before. Resuming a run that has reached its target trains
    nothing and only writes its files again."""
    given = {k: getattr(args, k) for k in HYPER if getattr(args, k) is not None}
    options = {k: getattr(args, k) for k in RUN_OPTIONS if getattr(args, k) is not None}
    if ck is None:
        arch = given.get("arch", HYPER["arch"])
        return {**HYPER, **ARCH_DEFAULTS[arch], **given, **RUN_OPTIONS, **options,
                "epochs": args.epochs or ARCH_EPOCHS[arch], "device": args.device}
    config = ck["config"]
    for k, v in given.items():
        if config[k] != v:
            raise NanoganError(f"checkpoint {args.resume!r} was trained with {flag(k)} {config[k]}, not {v}; "
                               f"drop {flag(k)} to resume it, or start a new run.")
    epochs = args.epochs or config["epochs"]
    if epochs < ck["epoch"] + (ck["step"] > 0):
        raise NanoganError(f"checkpoint {args.resume!r} has already done {ck['epoch']} epochs"
                           + (f" and {ck['step']} steps" if ck["step"] else "")
                           + f", more than --epochs {epochs}; pass a larger --epochs to train on.")
    return {**config, **options, "epochs": epochs, "device": args.device}


# -- sample.py and evaluate.py ---------------------------------------------------------------

def _generator_options(p, what):
    p.add_argument("--seed", type=int, help=f"seed of the noise {what} (default 0)")
    p.add_argument("--no-ema", action="store_true", help="use G's own weights rather than their moving "
                   "average (a run's --ema)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to compute (default cpu)")
    p.add_argument("--truncation", type=float, metavar="T", help="draw every noise entry beyond +-T again "
                   f"(the truncation trick, from {TRUNCATION[0]} to {TRUNCATION[1]}): more typical digits, "
                   "less variety (default: none)")


TRUNCATION = (0.25, 10.0)


def _check_truncation(args):
    t = args.truncation
    if t is not None and not (math.isfinite(t) and TRUNCATION[0] <= t <= TRUNCATION[1]):
        raise NanoganError(f"--truncation must be a number from {TRUNCATION[0]} to {TRUNCATION[1]}, got {t}.")


def sample_parser():
    p = Parser(description="Draw digits from a trained generator: a grid (.png), the digits themselves "
                "(.npy, uint8 (N, 28, 28)), or latent walks (--walk).")
    p.add_argument("checkpoint", metavar="CKPT", nargs="?", help="a run's checkpoint.npz (or checkpoints/"
                   "epoch_NNN.npz), or a generator file; default: the DCGAN shipped with nanogan (with --digit: "
                   "the conditional GAN shipped with it)")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.png: a grid; FILE.npy: uint8 (N, 28, 28)")
    p.add_argument("--num-samples", type=int, default=64, help="how many digits (default 64)")
    p.add_argument("--digit", type=int, choices=range(10), metavar="0-9",
                   help="a conditional GAN's (cgan) digit to draw (default: 0-9 in turn)")
    p.add_argument("--walk", action="store_true", help="draw latent walks into --out FILE.png instead, a walk a "
                   "row (for a cgan, from each digit to the next at fixed noise)")
    p.add_argument("--walk-steps", type=int, default=10, help="with --walk: images per walk (default 10)")
    p.add_argument("--walk-rows", type=int, default=8, help="with --walk: walks (default 8; a cgan draws 10)")
    p.add_argument("--walk-method", choices=["slerp", "lerp"], default="slerp", help="with --walk: spherical "
                   "(default) or linear interpolation between the noise vectors")
    _generator_options(p, "drawn")
    return p


def parse_sample(argv):
    from .generator import SHIPPED
    args = sample_parser().parse_args(argv)
    if args.checkpoint is None:
        args.checkpoint = SHIPPED["cgan" if args.digit is not None else "dcgan"]
    if args.seed is not None:
        check_value("seed", args.seed)
    _check_truncation(args)
    ext = os.path.splitext(args.out)[1].lower()
    if args.walk:
        if args.num_samples != 64 or args.digit is not None or args.truncation is not None:
            raise NanoganError("--walk draws --walk-rows walks of --walk-steps images; drop --num-samples, --digit "
                               "and --truncation.")
        for name, lo, hi in (("walk_steps", 2, 100), ("walk_rows", 1, 100)):
            if not lo <= getattr(args, name) <= hi:
                raise NanoganError(f"{flag(name)} must be an integer from {lo} to {hi}, got {getattr(args, name)}.")
        if ext != ".png":
            raise NanoganError("--walk needs --out FILE.png.")
    else:
        if not 1 <= args.num_samples <= 1_000_000:        # uint8 digits: at most 784 MB
            raise NanoganError(f"--num-samples must be an integer from 1 to 1000000, got {args.num_samples}.")
        if ext not in (".npy", ".png"):
            raise NanoganError("--out needs a FILE ending in .npy (uint8 array) or .png (grid).")
    check_output_file(args.out, "--out")
    return args


def evaluate_parser():
    p = Parser(description="Score a trained generator, or digits saved by sample.py, with the dataset's "
                "classifier: Fréchet distance, precision and recall, classifier score, class coverage, and "
                "whether the samples copy training images. The last line printed is the scores' JSON.")
    p.add_argument("target", metavar="CKPT|FILE.npy", help="a checkpoint or generator file (such as "
                   "nanogan/pretrained/dcgan.npz), or uint8 digits (N, 28, 28) in a .npy")
    p.add_argument("--num-samples", type=int, default=10_000, help="samples to draw and score (default 10000)")
    p.add_argument("--dataset", choices=sorted(DATASETS), help="whose classifier judges a .npy (default mnist; "
                   "a checkpoint's own data set otherwise)")
    p.add_argument("--json", metavar="FILE", help="also write the scores here")
    p.add_argument("--copy-check", type=int, default=10_000, metavar="N", help="seek each sample's nearest among "
                   "N training images (a fixed random subset; 60000: all), in the classifier's features and in "
                   "pixels, and compare with real test images' (default 10000; 0: skip)")
    p.add_argument("--figures", metavar="DIR", help="draw the samples the classifier is surest and least sure "
                   "of, and the samples nearest to training images beside them, into DIR")
    _generator_options(p, "drawn for scoring")
    return p


def parse_evaluate(argv):
    args = evaluate_parser().parse_args(argv)
    if args.seed is not None:
        check_value("seed", args.seed)
    _check_truncation(args)
    if args.truncation is not None and args.target.lower().endswith(".npy"):
        raise NanoganError("--truncation draws a generator's noise; saved digits (.npy) have none to truncate.")
    if not 4 <= args.num_samples <= 100_000:  # precision and recall need each sample's 3 nearest others
        raise NanoganError(f"--num-samples must be an integer from 4 to 100000, got {args.num_samples}.")
    if not 0 <= args.copy_check <= 60_000:
        raise NanoganError(f"--copy-check must be an integer from 0 to 60000, got {args.copy_check}.")
    if args.json:
        check_output_file(args.json, "--json")
    if args.figures:
        if os.path.exists(args.figures) and not os.path.isdir(args.figures):
            raise NanoganError(f"--figures {args.figures!r} is a file, not a directory.")
        existing = os.path.abspath(args.figures)
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        check_writable_dir(existing, f"--figures {args.figures!r}")
    return args
