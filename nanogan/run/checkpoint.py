"""Checkpoints as .npz archives of plain arrays: no pickle, written atomically, and
checked entry by entry before anything is built from them.

Layout (every entry a NumPy array; strings are 0-d unicode arrays):
    format     "nanogan-checkpoint-2"
    config     the run's configuration as JSON (nanogan.run.config)
    epoch      int64: epochs completed
    step       int64: steps done into epoch + 1 (0 at an epoch's end, more after Ctrl-C mid-epoch)
    rng        the run's random generator's state as JSON, at this moment
    epoch_rng  its state when epoch + 1 began, before that epoch's shuffle, so that a
               resumed run redraws the same batch order and carries on after `step`
    totals     float32 (6,): the step statistics summed over epoch + 1 so far
    seconds    float64: time spent training in epoch + 1 so far
    history    JSON list of the metrics rows of the completed epochs (metrics.csv is a copy)
    G/<name>, D/<name>          parameters and buffers, e.g. "G/0.W", "D/3.b"
    optG/<key>, optD/<key>      Adam state: "t", "m.<i>", "v.<i>"
    ema/<name>, ema/t           the moving average of G's arrays and its update count (--ema > 0)

The checkpoint is the run's one source of truth: everything else in a run directory
(metrics.csv, the sample grids, the curves, the GIF) is written after it and can be
written again from it. Format 1 (no step, history or epoch_rng) is still read, and a
configuration saved before an option existed gets that option's old behaviour
(config.LEGACY: no weight averaging, one learning rate, the DCGAN's 64 channels).
"""
import json
import os
import re

import numpy as np

from ..backend import make_rng, set_rng_state
from .config import RUN_OPTIONS, check_config, fill_legacy
from ..errors import NanoganError
from ..files import atomic_open, parse_json, read_npz, shown

# Checkpoints this process loaded: realpath -> (device, inode, size, mtime) of the file
# read, so that a run can tell, once it holds the directory's lock, whether the file is
# still the one it loaded (rundir.RunDir.open).
LOADED = {}
# No array of a healthy run comes near these; larger finite values (3e38, say) come from
# a hand edit or a diverged run and only draw black images.
MAX_ABS = 1e6                 # parameters, their moving averages, Adam's m, BatchNorm's running means
MAX_SQUARES = 1e12            # Adam's v and BatchNorm's running variances (>= 0): squares of the above

FORMAT = "nanogan-checkpoint-2"
OLD_FORMATS = ("nanogan-checkpoint-1",)
META = ("format", "config", "epoch", "step", "rng", "epoch_rng", "totals", "seconds", "history")


def save_checkpoint(path, meta, arrays):
    """meta: config (dict), epoch, step, rng, epoch_rng (JSON strings), totals (6,),
    seconds, history (list of dicts); arrays: {"G/0.W": host array, ...}."""
    entries = {"format": np.array(FORMAT), "config": np.array(json.dumps(meta["config"])),
               "epoch": np.array(meta["epoch"], dtype=np.int64), "step": np.array(meta["step"], dtype=np.int64),
               "rng": np.array(meta["rng"]), "epoch_rng": np.array(meta["epoch_rng"]),
               "totals": np.asarray(meta["totals"], dtype=np.float32).reshape(6),
               "seconds": np.array(meta["seconds"], dtype=np.float64),
               "history": np.array(json.dumps(meta["history"]))}
    entries.update(arrays)
    with atomic_open(path) as f:
        np.savez(f, **entries)


def first_non_finite(arrays):
    """The name of the first array holding NaN or inf, or None: such state is never saved."""
    return next((name for name, a in arrays.items()
                 if a.dtype.kind == "f" and not np.isfinite(a).all()), None)


def load_checkpoint(path):
    """Read and check a checkpoint: {"config": dict, "epoch": int, "step": int, "rng": str,
    "epoch_rng": str, "totals": float32 (6,), "seconds": float, "history": list,
    "arrays": {"G/0.W": array, ...}}. Anything that is not a whole, sensible nanogan
    checkpoint raises NanoganError naming the file; the arrays themselves are checked
    against the networks they are loaded into, by `check_arrays`."""
    identity = file_identity(path)
    raw = read_npz(path, "checkpoint")
    bad = f"checkpoint {shown(path)} is damaged: "
    fmt = _text(raw.get("format"))
    if fmt != FORMAT and fmt not in OLD_FORMATS:
        raise NanoganError(f"{shown(path)} is not a nanogan checkpoint (no '{FORMAT}' marker).")
    if fmt != FORMAT:  # format 1: saved at an epoch's end, before history existed
        for key in ("step", "epoch_rng", "totals", "seconds", "history"):
            if key in raw:
                raise NanoganError(f"{bad}a format-1 checkpoint cannot hold '{key}'.")
        raw.update(step=np.array(0), epoch_rng=raw.get("rng"), totals=np.zeros(6, np.float32),
                   seconds=np.array(0.0), history=np.array("[]"))
    missing = [k for k in META if k not in raw]
    if missing:
        raise NanoganError(f"{bad}it lacks {', '.join(missing)}.")
    try:
        config = parse_json(_text(raw["config"]))
        history = parse_json(_text(raw["history"]))
    except ValueError as e:
        raise NanoganError(f"{bad}its config or history is not valid JSON ({shown(e)}).") from None
    if isinstance(config, dict):  # options added since the checkpoint was saved
        fill_legacy(config)
        if fmt in OLD_FORMATS:
            for key, value in RUN_OPTIONS.items():
                config.setdefault(key, value)
    check_config(config, bad)
    ck = {"config": config, "history": history,
          "epoch": _integer(raw["epoch"], bad + "epoch"), "step": _integer(raw["step"], bad + "step"),
          "rng": _rng_state(raw["rng"], bad + "rng"), "epoch_rng": _rng_state(raw["epoch_rng"], bad + "epoch_rng"),
          "totals": raw["totals"], "seconds": raw["seconds"]}
    if not ck["epoch"] < config["epochs"] + (ck["step"] == 0):
        raise NanoganError(f"{bad}epoch {ck['epoch']} (step {ck['step']}) is past its run's "
                           f"{config['epochs']} epochs.")
    if ck["totals"].dtype != np.float32 or ck["totals"].shape != (6,) or not np.isfinite(ck["totals"]).all():
        raise NanoganError(f"{bad}totals must be 6 finite float32 numbers.")
    if ck["seconds"].dtype != np.float64 or ck["seconds"].shape != () or not 0 <= ck["seconds"] < 1e9:
        raise NanoganError(f"{bad}seconds must be a float64 number of seconds.")
    ck["seconds"] = float(ck["seconds"])
    ck["history"] = check_history(history, ck["epoch"], bad)
    ck["arrays"] = {k: v for k, v in raw.items() if k not in META}
    if identity is not None and identity == file_identity(path):   # not replaced while it was read
        LOADED[os.path.realpath(path)] = identity
    return ck


def file_identity(path):
    """(device, inode, size, modification time) of `path`, or None: whether a file was replaced."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def saved_config(path):
    """The configuration dict saved in checkpoint `path`, as saved (no legacy options filled
    in), or None if it is not a readable nanogan checkpoint. Reads only two small entries."""
    try:
        raw = read_npz(path, "checkpoint", only=("format", "config"))
        config = parse_json(_text(raw.get("config"))) if _text(raw.get("format")) in (FORMAT, *OLD_FORMATS) else None
    except (NanoganError, ValueError):
        return None
    return config if isinstance(config, dict) else None


# a metrics row: these columns must be numbers (the curves are drawn from them); the
# others, if present, numbers or "" (not evaluated that epoch)
HISTORY_COLUMNS = ("d_loss", "g_loss", "d_real", "d_fake", "acc_real", "acc_fake")
# scored together: a row that has one has the other (the curves draw both)
SCORED_TOGETHER = ("frechet", "entropy")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")    # as nanogan writes them: ASCII, no "nan"
MAX_METRIC = 1e9              # above any loss, score, second count or rate a run writes


def check_history(history, epoch, bad):
    """The metrics rows of epochs 1..epoch, checked: a list of {column: str}, epochs rising
    and at most `epoch`, every value a finite number (or "" where nothing was measured).
    Returns the rows with the same columns each (missing ones ""), since rows written by
    older versions lack columns that newer ones have. `bad` starts the error message."""
    def number(text):
        return len(text) < 40 and NUMBER.fullmatch(text) is not None and abs(float(text)) <= MAX_METRIC

    rows = history if isinstance(history, list) else [None]
    ok = all(isinstance(r, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in r.items())
             and re.fullmatch(r"[0-9]{1,9}", r.get("epoch", "")) and all(number(r.get(c, "")) for c in HISTORY_COLUMNS)
             and all(v == "" or number(v) for v in r.values())
             and len({r.get(c, "") == "" for c in SCORED_TOGETHER}) == 1 for r in rows)
    epochs = [int(r["epoch"]) for r in rows] if ok else []
    if not ok or epochs != sorted(set(epochs)) or (epochs and not 1 <= epochs[0] <= epochs[-1] <= epoch):
        raise NanoganError(f"{bad}its history is not a list of metrics rows for epochs 1 to {epoch}.")
    columns = list(dict.fromkeys(c for r in rows for c in r))              # every column, first seen first
    return [{c: r.get(c, "") for c in columns} for r in rows]


def check_arrays(ck, expected, path):
    """Every array the networks and optimizers need, and nothing else, each with the
    expected shape and dtype and finite. expected: {name: array of the right shape and dtype}."""
    bad = f"checkpoint {shown(path)} does not fit a {ck['config']['arch']} GAN: "
    arrays = ck["arrays"]
    missing, extra = sorted(expected.keys() - arrays.keys()), sorted(arrays.keys() - expected.keys())
    if missing or extra:
        raise NanoganError(bad + " and ".join(([f"it lacks {', '.join(missing[:3])}"] if missing else [])
                                              + ([f"it has unknown {', '.join(map(shown, extra[:3]))}"] if extra else []))
                           + ".")
    for name, want in expected.items():
        got = arrays[name]
        if got.shape != want.shape or got.dtype != want.dtype:
            raise NanoganError(f"{bad}{name} is {got.dtype} {got.shape}, expected {want.dtype} {want.shape}.")
    name = first_non_finite(arrays)
    if name is not None:
        raise NanoganError(f"checkpoint {shown(path)} is damaged: {name} holds NaN or inf.")
    problem = first_out_of_range(arrays)
    if problem is not None:
        raise NanoganError(f"checkpoint {shown(path)} is damaged: {problem}.")


def first_out_of_range(arrays):
    """What is wrong with the first array outside the range a healthy run keeps it in, or
    None: counts ("t") must be non-negative, variances and Adam's v in [0, MAX_SQUARES],
    everything else within +-MAX_ABS."""
    for name, a in arrays.items():
        leaf = name.rsplit("/", 1)[-1]
        if a.dtype.kind in "iu":
            if a.size and (a.min() < 0 or a.max() >= 2**62):
                return f"{name} must be a non-negative count"
        elif a.dtype.kind == "f" and a.size:
            squares = leaf.endswith("running_var") or leaf.startswith("v.")
            lo, hi = (0.0, MAX_SQUARES) if squares else (-MAX_ABS, MAX_ABS)
            if a.min() < lo or a.max() > hi:
                return f"{name} holds values outside [{lo:g}, {hi:g}] ({a.min():g} to {a.max():g})"
    return None


def _text(a):
    """A 0-d unicode array as str, else None."""
    return a.item() if isinstance(a, np.ndarray) and a.shape == () and a.dtype.kind == "U" else None


def _integer(a, what):
    if not (isinstance(a, np.ndarray) and a.shape == () and a.dtype.kind in "iu" and 0 <= int(a) < 2**62):
        raise NanoganError(f"{what} must be a non-negative integer.")
    return int(a)


def _rng_state(a, what):
    """A generator state as saved by backend.rng_state, tried on a scratch generator."""
    text = _text(a)
    try:
        if text is None or len(text) > 10_000:
            raise ValueError("not a state")
        parse_json(text)                                   # depth-checked before backend's json.loads
        set_rng_state(make_rng(0), text)
    except (TypeError, ValueError, KeyError, OverflowError):
        raise NanoganError(f"{what} is not a random generator's state.") from None
    return text
