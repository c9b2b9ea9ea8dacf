"""train.py's command line: its options, and every check that needs no data, made before
anything is loaded, computed or written.

train.py has four commands: training (the default, or `--resume`), `--sample-from`,
`--evaluate` and `--walk`. An option that belongs to another command is refused rather than ignored,
so that no typo silently changes what a run does. Every problem is one NanoganError
sentence, which train.py prints as `error: ...` with exit status 2; argparse's own
errors (an unknown option, a value that is not a number) are turned into one too.
"""
import argparse
import os

from .config import ARCH_DEFAULTS, D_NORMS, DEFAULT_EPOCHS, HYPER, MBD_DISTANCES, RUN_OPTIONS, check_combination, check_value, flag
from ..data.datasets import DATASETS
from ..errors import NanoganError
from ..files import check_output_file, check_writable_dir

MAX_SAMPLES = {"sample": 1_000_000, "evaluate": 100_000}
MIN_SAMPLES = {"sample": 1, "evaluate": 4}  # precision and recall need each sample's 3 nearest others  # uint8 digits: 784 MB; float features: bounded
COMMANDS = {"train": "training", "sample": "--sample-from", "evaluate": "--evaluate", "walk": "--walk"}
# which commands each option belongs to (every option not listed belongs to training only)
SHARED = {"device": set(COMMANDS), "seed": set(COMMANDS), "dataset": {"train", "evaluate"},
          "num_samples": {"sample", "evaluate"}, "digit": {"sample"}, "sample_out": {"sample", "walk"},
          "sample_from": {"sample"}, "evaluate": {"evaluate"}, "eval_json": {"evaluate"},
          "copy_check": {"evaluate"}, "figures": {"evaluate"},
          "walk": {"walk"}, "walk_steps": {"walk"}, "walk_rows": {"walk"}, "walk_method": {"walk"},
          "no_ema": {"sample", "evaluate", "walk"}}


def _per_arch(name):
    """A default for --help, e.g. 'dcgan on, cgan off, fc off', from HYPER and ARCH_DEFAULTS."""
    show = lambda v: {True: "on", False: "off", None: "-"}.get(v, str(v)) if isinstance(v, (bool, type(None))) \
        else str(v)  # noqa: E731
    values = {arch: show(ARCH_DEFAULTS[arch].get(name, HYPER[name])) for arch in sorted(ARCH_DEFAULTS)}
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{arch} {v}" for arch, v in values.items() if v != "-")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise NanoganError(f"{message}; see --help.")


def build_parser(archs):
    p = _Parser(description="Train a GAN on MNIST with nanogan, or draw or score samples from a checkpoint.")
    add = p.add_argument
    add("--arch", choices=sorted(archs), help="fc: fully connected GAN; dcgan: convolutional GAN; "
        f"cgan: class-conditional (fully connected) GAN (default {HYPER['arch']})")
    add("--device", choices=["cpu", "cuda"], help="where to compute (default cpu)")
    add("--epochs", type=int, help=f"train until this many epochs are done (default {DEFAULT_EPOCHS}; "
        "when resuming, the run's own target)")
    add("--batch-size", type=int, help=f"images per step (default {HYPER['batch_size']})")
    add("--lr", type=float, help=f"G's Adam learning rate (and D's too where the recipe has no --lr-d: cgan) "
        f"(default: {_per_arch('lr')})")
    add("--lr-d", type=float, help="D's own Adam learning rate: two time-scale updates (Heusel et al. 2017); "
        "the recipes have G learn 2x (fc) and 16x (dcgan) faster than D "
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
    add("--real-label", type=float, help="D's target for real images; below 1 is one-sided label smoothing "
        f"(default: {_per_arch('real_label')})")
    add("--minibatch-disc", dest="minibatch", action=argparse.BooleanOptionalAction,
        help="add minibatch discrimination to D (Salimans et al. 2016), against mode collapse "
        f"(default: {_per_arch('minibatch')})")
    add("--mbd-distance", choices=MBD_DISTANCES, help="minibatch discrimination's distance between samples: "
        "l1 (the paper's) or l2 (a smoothed Euclidean one, by matrix products: faster) "
        f"(default: {_per_arch('mbd_distance')})")
    add("--ema", type=float, help="sample, draw grids and evaluate with an exponential moving average of "
        "G's weights with this decay (Yazıcı et al. 2019); 0: G's own weights "
        f"(default: {_per_arch('ema')})")
    add("--width", type=int, help=f"the DCGAN's G channels: G 2w -> w -> 1 (default: {_per_arch('width')})")
    add("--d-width", type=int, help="the DCGAN's D channels: D 1 -> w -> 2w; the recipe's D is a quarter as wide "
        f"as its G (default: {_per_arch('d_width')})")
    add("--d-norm", choices=D_NORMS, help="normalisation in the DCGAN's D: BatchNorm, or none "
        f"(default: {_per_arch('d_norm')})")
    add("--dropout", type=float, help="dropout rate in D of fc and cgan (default 0.3; 0 turns it off)")
    add("--seed", type=int, help="seed of the run's one random generator, or of the noise drawn by "
        "--sample-from and --evaluate (default 0)")
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
    add("--no-progress", action="store_const", const=True, help="no progress bar within an epoch")
    add("--sample-from", metavar="CKPT", help="do not train: draw --num-samples images from CKPT's "
        "generator into --sample-out")
    add("--evaluate", metavar="CKPT|FILE.npy", help="do not train: score a checkpoint's generator (or uint8 "
        "samples (N, 28, 28) in a .npy) with the MNIST classifier: Fréchet distance, classifier score, coverage")
    add("--eval-json", metavar="FILE", help="with --evaluate: also write the scores here")
    add("--copy-check", type=int, metavar="N", help="with --evaluate: seek each sample's nearest among N "
        "training images (a fixed random subset; 60000: all), in the classifier's features and in pixels, "
        "and compare with real test images' (default 10000; 0: skip)")
    add("--figures", metavar="DIR", help="with --evaluate: draw the samples the classifier is surest and "
        "least sure of, and the samples nearest to training images beside them, into DIR")
    add("--walk", metavar="CKPT", help="do not train: draw latent walks of CKPT's generator into "
        "--sample-out FILE.png, a walk a row (for a cgan, from each digit to the next at fixed noise)")
    add("--walk-steps", type=int, help="with --walk: images per walk (default 10)")
    add("--walk-rows", type=int, help="with --walk: walks (default 8; a cgan always draws 10)")
    add("--walk-method", choices=["slerp", "lerp"], help="with --walk: spherical (default) or linear "
        "interpolation between the noise vectors")
    add("--no-ema", action="store_const", const=True, help="with --sample-from, --evaluate and --walk: "
        "use G's own weights rather than their moving average (--ema)")
    add("--num-samples", type=int, help="with --sample-from: how many images (default 64); with "
        "--evaluate: how many samples to score (default 10000)")
    add("--digit", type=int, choices=range(10), metavar="0-9",
        help="with --sample-from a cgan checkpoint: draw only this digit (default: 0-9 in turn)")
    add("--sample-out", metavar="FILE", help="with --sample-from: FILE.npy gets uint8 (N, 28, 28), FILE.png a grid")
    return p


def parse_args(argv, archs):
    """Parse and check the command line; returns the argparse namespace with `command` set
    and every default filled in."""
    args = build_parser(archs).parse_args(argv)
    given = [c for c in ("evaluate", "sample_from", "walk") if getattr(args, c)]
    if len(given) > 1:
        raise NanoganError(f"{' and '.join(flag(c) for c in given)} are different commands; give one of them.")
    args.command = {"evaluate": "evaluate", "sample_from": "sample", "walk": "walk"}[given[0]] if given else "train"
    for name, value in vars(args).items():
        belongs = SHARED.get(name, {"train"})
        if value is not None and name != "command" and args.command not in belongs:
            raise NanoganError(f"{flag(name)} applies to {' and '.join(COMMANDS[c] for c in COMMANDS if c in belongs)}"
                               f", not to {COMMANDS[args.command]}.")
    if args.device is None:
        args.device = "cpu"
    if args.seed is not None:
        check_value("seed", args.seed)
    return {"train": _check_training, "sample": _check_sampling, "evaluate": _check_evaluation,
            "walk": _check_walk}[args.command](args)


def _check_training(args):
    for name in [*HYPER, *RUN_OPTIONS, "epochs"]:
        if getattr(args, name) is not None:
            check_value(name, getattr(args, name))
    if not args.resume:             # a resumed run's combination is its checkpoint's (run_config)
        check_combination(vars(args))
    args.no_progress = bool(args.no_progress)
    return args


def _check_count(args):
    lo, high = MIN_SAMPLES[args.command], MAX_SAMPLES[args.command]
    if not lo <= args.num_samples <= high:
        raise NanoganError(f"--num-samples must be an integer from {lo} to {high} for "
                           f"{COMMANDS[args.command]}, got {args.num_samples}.")


def _check_sampling(args):
    args.num_samples = 64 if args.num_samples is None else args.num_samples
    _check_count(args)
    if not args.sample_out or os.path.splitext(args.sample_out)[1].lower() not in (".npy", ".png"):
        raise NanoganError("--sample-from needs --sample-out FILE ending in .npy (uint8 array) or .png (grid).")
    check_output_file(args.sample_out, "--sample-out")
    return args


def _check_evaluation(args):
    args.num_samples = 10_000 if args.num_samples is None else args.num_samples
    _check_count(args)
    args.copy_check = 10_000 if args.copy_check is None else args.copy_check
    if not 0 <= args.copy_check <= 60_000:
        raise NanoganError(f"--copy-check must be an integer from 0 to 60000, got {args.copy_check}.")
    if args.dataset is not None:
        check_value("dataset", args.dataset)
    if args.eval_json:
        check_output_file(args.eval_json, "--eval-json")
    if args.figures:
        if os.path.exists(args.figures) and not os.path.isdir(args.figures):
            raise NanoganError(f"--figures {args.figures} is a file, not a directory.")
        existing = os.path.abspath(args.figures)
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        check_writable_dir(existing, f"--figures {args.figures}")
    return args


def _check_walk(args):
    args.walk_steps = 10 if args.walk_steps is None else args.walk_steps
    args.walk_rows = 8 if args.walk_rows is None else args.walk_rows
    args.walk_method = args.walk_method or "slerp"
    for name, lo, hi in (("walk_steps", 2, 100), ("walk_rows", 1, 100)):
        if not lo <= getattr(args, name) <= hi:
            raise NanoganError(f"{flag(name)} must be an integer from {lo} to {hi}, got {getattr(args, name)}.")
    if not args.sample_out or not args.sample_out.lower().endswith(".png"):
        raise NanoganError("--walk needs --sample-out FILE.png.")
    check_output_file(args.sample_out, "--sample-out")
    return args


def run_config(args, ck):
    """The run's configuration: for a new run the command line's values over the defaults
    (its architecture's recipe, config.ARCH_DEFAULTS, over HYPER);
    when resuming, the checkpoint's (a different hyper-parameter given on the command line
    is refused, since the run would not be the same run), with --epochs as the new target
    and the run options (evaluation, snapshots) as given, else as before. Resuming a run
    that has reached its target trains nothing and only writes its files again."""
    given = {k: getattr(args, k) for k in HYPER if getattr(args, k) is not None}
    options = {k: getattr(args, k) for k in RUN_OPTIONS if getattr(args, k) is not None}
    if ck is None:
        arch = given.get("arch", HYPER["arch"])
        return {**HYPER, **ARCH_DEFAULTS[arch], **given, **RUN_OPTIONS, **options,
                "epochs": args.epochs or DEFAULT_EPOCHS, "device": args.device}
    config = ck["config"]
    for k, v in given.items():
        if config[k] != v:
            raise NanoganError(f"checkpoint {args.resume} was trained with {flag(k)} {config[k]}, not {v}; "
                               f"drop {flag(k)} to resume it, or start a new run.")
    epochs = args.epochs or config["epochs"]
    if epochs < ck["epoch"] + (ck["step"] > 0):
        raise NanoganError(f"checkpoint {args.resume} has already done {ck['epoch']} epochs"
                           + (f" and {ck['step']} steps" if ck["step"] else "")
                           + f", more than --epochs {epochs}; pass a larger --epochs to train on.")
    return {**config, **options, "epochs": epochs, "device": args.device}
