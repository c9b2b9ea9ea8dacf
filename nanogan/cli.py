"""train.py's command line: its options, and every check that needs no data, made before
anything is loaded, computed or written.

train.py has three commands: training (the default, or `--resume`), `--sample-from` and
`--evaluate`. An option that belongs to another command is refused rather than ignored,
so that no typo silently changes what a run does. Every problem is one NanoganError
sentence, which train.py prints as `error: ...` with exit status 2; argparse's own
errors (an unknown option, a value that is not a number) are turned into one too.
"""
import argparse
import os

from .config import DEFAULT_EPOCHS, HYPER, RUN_OPTIONS, check_combination, check_value, flag
from .datasets import DATASETS
from .errors import NanoganError
from .files import check_output_file

MAX_SAMPLES = {"sample": 1_000_000, "evaluate": 100_000}  # uint8 digits: 784 MB; float features: bounded
COMMANDS = {"train": "training", "sample": "--sample-from", "evaluate": "--evaluate"}
# which commands each option belongs to (every option not listed belongs to training only)
SHARED = {"device": {"train", "sample", "evaluate"}, "seed": {"train", "sample", "evaluate"},
          "num_samples": {"sample", "evaluate"}, "digit": {"sample"}, "sample_out": {"sample"},
          "sample_from": {"sample"}, "evaluate": {"evaluate"}, "eval_json": {"evaluate"}}


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
    add("--lr", type=float, help=f"Adam learning rate, both nets (default {HYPER['lr']})")
    add("--beta1", type=float, help=f"Adam beta1 (default {HYPER['beta1']})")
    add("--beta2", type=float, help=f"Adam beta2 (default {HYPER['beta2']})")
    add("--z-dim", type=int, help=f"noise dimensions (default {HYPER['z_dim']})")
    add("--real-label", type=float, help="D's target for real images; 0.9 is one-sided label smoothing (default 1.0)")
    add("--minibatch-disc", dest="minibatch", action="store_const", const=True,
        help="add minibatch discrimination to D (Salimans et al. 2016), against mode collapse")
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
    if args.evaluate and args.sample_from:
        raise NanoganError("--evaluate and --sample-from are two different commands; give one of them.")
    args.command = "evaluate" if args.evaluate else "sample" if args.sample_from else "train"
    for name, value in vars(args).items():
        belongs = SHARED.get(name, {"train"})
        if value is not None and name != "command" and args.command not in belongs:
            raise NanoganError(f"{flag(name)} applies to {' and '.join(COMMANDS[c] for c in COMMANDS if c in belongs)}"
                               f", not to {COMMANDS[args.command]}.")
    if args.device is None:
        args.device = "cpu"
    if args.seed is not None:
        check_value("seed", args.seed)
    return {"train": _check_training, "sample": _check_sampling, "evaluate": _check_evaluation}[args.command](args)


def _check_training(args):
    for name in [*HYPER, *RUN_OPTIONS, "epochs"]:
        if getattr(args, name) is not None:
            check_value(name, getattr(args, name))
    check_combination(vars(args))
    args.no_progress = bool(args.no_progress)
    return args


def _check_count(args, lo):
    high = MAX_SAMPLES[args.command]
    if not lo <= args.num_samples <= high:
        raise NanoganError(f"--num-samples must be an integer from {lo} to {high} for "
                           f"{COMMANDS[args.command]}, got {args.num_samples}.")


def _check_sampling(args):
    args.num_samples = 64 if args.num_samples is None else args.num_samples
    _check_count(args, 1)
    if not args.sample_out or os.path.splitext(args.sample_out)[1].lower() not in (".npy", ".png"):
        raise NanoganError("--sample-from needs --sample-out FILE ending in .npy (uint8 array) or .png (grid).")
    check_output_file(args.sample_out, "--sample-out")
    return args


def _check_evaluation(args):
    args.num_samples = 10_000 if args.num_samples is None else args.num_samples
    _check_count(args, 2)
    if args.eval_json:
        check_output_file(args.eval_json, "--eval-json")
    return args


def run_config(args, ck):
    """The run's configuration: for a new run the command line's values over the defaults;
    when resuming, the checkpoint's (a different hyper-parameter given on the command line
    is refused, since the run would not be the same run), with --epochs as the new target
    and the run options (evaluation, snapshots) as given, else as before. Resuming a run
    that has reached its target trains nothing and only writes its files again."""
    given = {k: getattr(args, k) for k in HYPER if getattr(args, k) is not None}
    options = {k: getattr(args, k) for k in RUN_OPTIONS if getattr(args, k) is not None}
    if ck is None:
        return {**HYPER, **given, **RUN_OPTIONS, **options, "epochs": args.epochs or DEFAULT_EPOCHS,
                "device": args.device}
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
