"""A run's configuration: the hyper-parameters that define it, their defaults, and one
set of checks that every value passes, whether it was typed on the command line or read
from a checkpoint (a hand-edited checkpoint is user input too).

A configuration is a plain dict, saved as JSON in config.json and in every checkpoint:
the keys of HYPER and RUN_OPTIONS, plus "epochs" (the run's target) and "device" (where
it last ran).
"""
import math

from ..data.datasets import DATASETS
from ..errors import NanoganError

ARCHS = ("cgan", "dcgan", "fc")  # built by train.py's ARCHS
DEVICES = ("cpu", "cuda")

# The hyper-parameters that define a run: a resumed run takes them from its checkpoint.
HYPER = {"arch": "fc", "batch_size": 128, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "z_dim": 100,
         "seed": 0, "real_label": 1.0, "dataset": "mnist", "limit": None, "minibatch": False,
         "dropout": None, "lr_d": None, "lr_decay": 1.0, "ema": 0.999, "width": None, "d_norm": None,
         "mbd_distance": "l1", "d_width": None, "lr_hold": None}
# Each architecture's recipe, over HYPER, for a new run (a run saves the values it used).
# None in HYPER means "not this architecture's setting" (--width, --d-width and --d-norm are the
# DCGAN's; d_width None: D as wide as G).
# G learns 2x faster than D in fc and 16x in dcgan, and the DCGAN's D aims at 0.9 for real images,
# has a quarter of G's channels and the faster l2 minibatch discrimination; past its 10th epoch
# the DCGAN's rates fall linearly toward zero, a step each epoch (README, "The recipe": measured, not
# guessed).
ARCH_DEFAULTS = {"fc": {"lr": 4e-4, "lr_d": 2e-4}, "cgan": {},
                 "dcgan": {"lr": 8e-4, "lr_d": 5e-5, "width": 32, "d_width": 8, "d_norm": "batch", "minibatch": True,
                           "mbd_distance": "l2", "real_label": 0.9, "lr_hold": 10}}
# What a checkpoint saved before an option existed was trained with: that option's old
# behaviour, which is not always today's default (no averaging then, for instance).
LEGACY = {"dropout": None, "lr_d": None, "lr_decay": 1.0, "ema": 0.0, "width": None, "d_norm": None,
          "mbd_distance": "l1", "d_width": None, "lr_hold": None}
LEGACY_ARCH = {"dcgan": {"width": 64, "d_norm": "batch"}}
D_NORMS = ("batch", "none")
MBD_DISTANCES = ("l1", "l2")  # nanogan/nn/minibatch.py: FEATURES
# How a run is watched and kept, not what it computes: saved with the run, and taken from
# the checkpoint on resume unless given again.
RUN_OPTIONS = {"eval_every": 1, "eval_samples": 2000, "save_every": 0}
DEFAULT_EPOCHS = 20
MAX_EPOCHS = 100_000


def _integer(lo, hi):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _number(ok):
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and ok(v)


def _optional(rule):
    return lambda v: v is None or rule(v)


# name -> (test, what a valid value is); the sizes are capped so that no value, however
# typed, can ask for more memory than a machine has before anything is computed.
RULES = {
    "arch": (lambda v: isinstance(v, str) and v in ARCHS, f"one of {', '.join(ARCHS)}"),
    "batch_size": (_integer(1, 65_536), "an integer from 1 to 65536"),
    "lr": (_number(lambda v: v > 0), "a positive number"),
    "beta1": (_number(lambda v: 0 <= v < 1), "a number in [0, 1)"),
    "beta2": (_number(lambda v: 0 <= v < 1), "a number in [0, 1)"),
    "z_dim": (_integer(1, 4096), "an integer from 1 to 4096"),
    "seed": (_integer(0, 2**63 - 1), "an integer from 0 to 2**63 - 1"),
    "real_label": (_number(lambda v: 0 < v <= 1), "a number in (0, 1]"),
    "dataset": (lambda v: isinstance(v, str) and v in DATASETS, f"one of {', '.join(DATASETS)}"),
    "limit": (_optional(_integer(1, 10**8)), "a positive integer"),
    "minibatch": (lambda v: isinstance(v, bool), "true or false"),
    "dropout": (_optional(_number(lambda v: 0 <= v < 1)), "a number in [0, 1)"),
    "lr_d": (_optional(_number(lambda v: v > 0)), "a positive number"),
    "lr_decay": (_number(lambda v: 0 < v <= 1), "a number in (0, 1] (1: no decay)"),
    "lr_hold": (_optional(_integer(0, MAX_EPOCHS)), f"an integer from 0 to {MAX_EPOCHS}"),
    "ema": (_number(lambda v: 0 <= v < 1), "a number in [0, 1) (0: no averaging)"),
    "width": (_optional(_integer(1, 1024)), "an integer from 1 to 1024"),
    "d_width": (_optional(_integer(1, 1024)), "an integer from 1 to 1024"),
    "d_norm": (_optional(lambda v: v in D_NORMS), f"one of {', '.join(D_NORMS)}"),
    "mbd_distance": (lambda v: isinstance(v, str) and v in MBD_DISTANCES, f"one of {', '.join(MBD_DISTANCES)}"),
    "epochs": (_integer(1, MAX_EPOCHS), f"an integer from 1 to {MAX_EPOCHS}"),
    "device": (lambda v: isinstance(v, str) and v in DEVICES, f"one of {', '.join(DEVICES)}"),
    "eval_every": (_integer(0, MAX_EPOCHS), f"an integer from 0 to {MAX_EPOCHS}"),
    "eval_samples": (_integer(4, 100_000), "an integer from 4 to 100000"),
    "save_every": (_integer(0, MAX_EPOCHS), f"an integer from 0 to {MAX_EPOCHS}"),
}


def flag(name):
    return "--" + name.replace("_", "-")


def check_value(name, value, where=""):
    """Raise NanoganError unless `value` is valid for `name` (a key of RULES)."""
    ok, what = RULES[name]
    if not ok(value):
        raise NanoganError(f"{where}{flag(name)} must be {what}, got {value!r}.")


def check_combination(config, where=""):
    """Values that are each valid but do not go together."""
    if config.get("dropout") is not None and config.get("arch") == "dcgan":
        raise NanoganError(f"{where}--dropout sets D's dropout in fc and cgan; the DCGAN's D has "
                           "BatchNorm and no dropout.")
    arch = config.get("arch") or HYPER["arch"]  # None: not given on the command line
    for name in ("width", "d_width", "d_norm"):
        if config.get(name) is not None and arch != "dcgan":
            raise NanoganError(f"{where}{flag(name)} sets the DCGAN's layers; --arch {arch} has none to set.")


def fill_legacy(config):
    """Add to a saved configuration the options it predates, with the values its run used.
    Runs before check_config, so "arch" may be anything a damaged file holds."""
    arch = config.get("arch")
    for key, value in {**LEGACY, **(LEGACY_ARCH.get(arch, {}) if isinstance(arch, str) else {})}.items():
        config.setdefault(key, value)


def check_config(config, where):
    """A whole saved configuration: exactly the expected keys, every value valid.
    `where` starts the message, e.g. "checkpoint runs/x/checkpoint.npz is damaged: "."""
    if not isinstance(config, dict):
        raise NanoganError(f"{where}its configuration is a {type(config).__name__}, not a mapping.")
    expected = set(HYPER) | set(RUN_OPTIONS) | {"epochs", "device"}
    missing, extra = sorted(expected - config.keys()), sorted(config.keys() - expected)
    if missing or extra:
        raise NanoganError(f"{where}its configuration " + " and ".join(
            ([f"lacks {', '.join(missing)}"] if missing else []) + ([f"has unknown {', '.join(extra)}"] if extra else []))
            + ".")
    for name in sorted(expected):
        check_value(name, config[name], where)
    check_combination(config, where)
