"""A run's configuration: the hyper-parameters that define it, their defaults, and one
set of checks that every value passes, whether it was typed on the command line or read
from a checkpoint (a hand-edited checkpoint is user input too).

A configuration is a plain dict, saved as JSON in config.json and in every checkpoint:
the keys of HYPER and RUN_OPTIONS, plus "epochs" (the run's target) and "device" (where
it last ran).
"""
import math

from ..data.datasets import DATASETS
from ..gan.recipe import RECIPES, Config, recipe
from ..errors import NanoganError
from ..files import shown

ARCHS = tuple(sorted(RECIPES))
DEVICES = ("cpu", "cuda")

# The values themselves, and each architecture's recipe with its reasons, are in
# nanogan/gan/recipe.py; here they are split by what resuming does with them.
# The hyper-parameters that define a run: a resumed run takes them from its checkpoint.
HYPER = {k: v for k, v in Config().to_dict().items() if k not in ("epochs", "device", "eval_every", "eval_samples",
                                                                   "save_every")}
# How a run is watched and kept, not what it computes: saved with the run, and taken from
# the checkpoint on resume unless given again.
RUN_OPTIONS = {k: getattr(Config(), k) for k in ("eval_every", "eval_samples", "save_every")}
# Each architecture's recipe over HYPER, for a new run (a run saves the values it used).
ARCH_DEFAULTS = {arch: {k: v for k, v in r.items() if k in HYPER and k != "arch"} for arch, r in RECIPES.items()}
ARCH_EPOCHS = {arch: recipe(arch).epochs for arch in RECIPES}
# What a checkpoint saved before an option existed was trained with: that option's old
# behaviour, which is not always today's default (no averaging then, for instance).
LEGACY = {"dropout": None, "lr_d": None, "lr_decay": 1.0, "ema": 0.0, "width": None, "d_norm": None,
          "mbd_distance": "l1", "d_width": None, "lr_hold": None, "d_sn": False, "loss": "bce",
          "codes": 0, "code_scale": 1.0}
LEGACY_ARCH = {"dcgan": {"width": 64, "d_norm": "batch"}}
D_NORMS = ("batch", "none")
MBD_DISTANCES = ("l1", "l2")  # nanogan/nn/minibatch.py: FEATURES
LOSSES = ("bce", "hinge")     # nanogan/nn/loss.py
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
    "codes": (_integer(0, 4096), "an integer from 0 to 4096 (0: no code)"),
    "code_scale": (_number(lambda v: 0.001 <= v <= 1000), "a number from 0.001 to 1000"),
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
    "d_sn": (lambda v: isinstance(v, bool), "true or false"),
    "loss": (lambda v: isinstance(v, str) and v in LOSSES, f"one of {', '.join(LOSSES)}"),
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
    if config.get("loss") == "hinge" and config.get("real_label") not in (None, 1, 1.0):
        raise NanoganError(f"{where}--loss hinge has no label smoothing: its margin is the label; drop --real-label "
                           "or give --real-label 1.")
    arch = config.get("arch") or HYPER["arch"]  # None: not given on the command line
    codes, z_dim = (completed(config)[k] for k in ("codes", "z_dim"))
    if codes > z_dim:
        fix = f"--codes {z_dim} or fewer, or 0" if z_dim >= 2 else "--codes 0"
        raise NanoganError(f"{where}--codes {codes} (G's code; --arch dcgan's default is "
                           f"{ARCH_DEFAULTS['dcgan']['codes']}) is read off the first {codes} entries of the noise, "
                           f"which has {z_dim} (--z-dim); give {fix}.")
    if codes == 1:
        raise NanoganError(f"{where}--codes 1 is a code that never changes; give 0 (no code) or 2 or more.")
    for name in ("width", "d_width", "d_norm"):
        if config.get(name) is not None and arch != "dcgan":
            raise NanoganError(f"{where}{flag(name)} sets the DCGAN's layers; --arch {arch} has none to set.")
    check_memory(config, where)


# A configuration whose training step would need more memory than this is refused before
# anything is allocated, typed or read from a checkpoint (a 7.9 KB checkpoint could ask for 17 GB).
MAX_MEMORY = 4 * 2**30


def completed(config):
    """Every value a configuration stands for. A saved configuration has exactly the saved
    keys and is returned as it is; anything else is the command line's, whose None means the
    architecture's recipe (ARCH_DEFAULTS), else the default (HYPER)."""
    if set(config) == set(HYPER) | set(RUN_OPTIONS) | {"epochs", "device"}:
        return config
    arch = config.get("arch") or HYPER["arch"]
    return {**HYPER, **ARCH_DEFAULTS.get(arch, {}), **{k: v for k, v in config.items() if v is not None}}


def check_memory(config, where=""):
    """Refuse a configuration whose training step would need more than MAX_MEMORY bytes
    (memory_estimate), its values `completed`."""
    config = completed(config)
    need = memory_estimate(config)
    if need > MAX_MEMORY:
        sizes = ", ".join(f"{flag(k)} {config[k]}" for k in ("batch_size", "z_dim", "width", "d_width")
                          if config.get(k) is not None)
        raise NanoganError(f"{where}a {config['arch']} GAN with {sizes} would need about {need / 2**30:.1f} GB "
                           f"to train, more than the {MAX_MEMORY / 2**30:.0f} GB nanogan allows; choose "
                           "smaller sizes.")


def parameter_counts(config):
    """(G's, D's) number of trained parameters, counted by hand from the layer sizes of
    nanogan/gan/models.py (a test compares them with the built networks)."""
    z, mbd = config["z_dim"] + config["codes"], config["minibatch"]       # G's input: the noise and its code
    if config["arch"] == "dcgan":
        w = config["width"] or 64
        wd = config["d_width"] or w
        feats = 2 * wd * 49                                                   # D's features before its head
        G = z * 2 * w * 49 + 3 * 2 * w * 49 + 2 * w * w * 16 + 3 * w + w * 16 + 1   # dense + BN, convT + BN, convT
        D = 16 * wd + wd + wd * 2 * wd * 16 + 2 * wd + 4 * wd * (config["d_norm"] != "none") + feats + 50 * mbd + 1
    else:
        nc = 10 if config["arch"] == "cgan" else 0
        feats = 256
        G = (z + nc) * 256 + 256 * 512 + 512 * 1024 + 1024 * 784 + 256 + 512 + 1024 + 784
        D = (784 + nc) * 1024 + 1024 * 512 + 512 * 256 + 1024 + 512 + 256 + 256 + 50 * mbd + 1
    return G, D + feats * 250 * mbd                                          # minibatch discrimination's T: (A, 50, 5)


def memory_estimate(config):
    """Bytes of float32 arrays one training step holds, from the sizes alone: every
    parameter 5 times (itself, its gradient, Adam's m and v, the moving average), and per
    image of the batch 3 numbers for every activation (the value a layer caches, its
    gradient, a temporary; the convolutions' lowered inputs among them), for G's images
    and D's real and fake ones; minibatch discrimination's pairwise tensors grow with the
    batch squared. The DCGAN of width and D width 1024 and z_dim 4096 comes out at 16 GB;
    17 GB were measured with the im2col convolutions, whose unfolded inputs were about twice
    today's lowered ones; not measured since."""
    B, z, mbd = config["batch_size"], config["z_dim"] + config["codes"], config["minibatch"]
    if config["arch"] == "dcgan":
        w = config["width"] or 64
        wd = config["d_width"] or w
        acts_G = z + 3 * 2 * w * 49 + w * 16 * 49 + 3 * w * 196 + 16 * 196 + 2 * 784
        acts_D = 784 + 16 * 196 + 2 * wd * 196 + wd * 16 * 49 + 3 * 2 * wd * 49
    else:
        nc = 10 if config["arch"] == "cgan" else 0
        acts_G = z + nc + 2 * (256 + 512 + 1024) + 3 * 784
        acts_D = 784 + nc + 3 * (1024 + 512 + 256)
    pairwise = B * B * (50 * 5 * 2 + 50 if config["mbd_distance"] == "l1" else 50 * 3) if mbd else 0
    floats = 5 * sum(parameter_counts(config)) + 3 * B * (acts_G + 2 * acts_D) + pairwise
    return 4 * floats


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
            ([f"lacks {', '.join(missing)}"] if missing else [])
            + ([f"has unknown {', '.join(map(shown, extra[:5]))}"] if extra else [])) + ".")
    for name in sorted(expected):
        check_value(name, config[name], where)
    check_combination(config, where)
