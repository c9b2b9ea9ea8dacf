"""Loading a trained generator, from a checkpoint or from a generator file: a trained G on its
own, for drawing and scoring digits. Two ship with nanogan (nanogan/pretrained/: the default
DCGAN's and the conditional GAN's).

    python -m nanogan.run.generator runs/dcgan-.../checkpoint.npz dcgan.npz    # export one

A generator file is an .npz of plain arrays, like a checkpoint but with G alone:
    format   "nanogan-generator-1"
    config   the run's configuration as JSON (nanogan.gan.Config's fields)
    G/<name> G's parameters and buffers: the moving average of its weights where the run
             kept one (what every sample of the run was drawn from), else G's own
No D and no Adam state: a tenth of a checkpoint's size. It is read with the same checks as
a checkpoint (no pickle, every array's name, shape, dtype and range), and a shipped file
must also match its SHA-256 in nanogan/pretrained/SHA256SUMS.
"""
import hashlib
import json
import os
import sys

import numpy as np

from .. import command
from ..backend import get_xp, make_rng, to_host
from ..command import Parser
from ..errors import NanoganError
from ..files import atomic_open, parse_json, read_npz, read_regular, shown
from .checkpoint import check_arrays
from .config import check_config, fill_legacy

FORMAT = "nanogan-generator-1"
MAX_BYTES = 64 * 2**20     # the shipped ones are a few MB
PRETRAINED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained")
SHIPPED = {"dcgan": os.path.join(PRETRAINED, "dcgan.npz"), "cgan": os.path.join(PRETRAINED, "cgan.npz")}


def is_generator_file(path):
    """Whether `path` holds a generator file rather than a checkpoint (read: its marker only)."""
    marker = read_npz(path, "checkpoint or generator file", only=("format",)).get("format")
    return marker is not None and marker.dtype.kind == "U" and marker.shape == () and str(marker) == FORMAT


def save_generator(path, gan):
    """G's weights as sampling uses them (the average where there is one) and the config."""
    G = gan.ema.average if gan.ema else gan.G
    entries = {"format": np.array(FORMAT), "config": np.array(json.dumps(gan.config.to_dict()))}
    entries.update({f"G/{k}": to_host(a).copy() for k, a in G.state_dict().items()})
    with atomic_open(path) as f:
        np.savez(f, **entries)


def load_generator(path, device="cpu"):
    """A GAN on `device` whose G holds generator file `path`'s weights (its D stays as
    drawn: sampling never uses it). A shipped file is checked against its SHA-256 first."""
    from ..gan import build_gan
    _check_digest(path)
    raw = read_npz(path, "generator file")
    bad = f"generator file {shown(path)} is damaged: "
    if "format" not in raw or str(raw["format"]) != FORMAT:
        raise NanoganError(f"{shown(path)} is not a nanogan generator file (no '{FORMAT}' marker).")
    try:
        config = parse_json(str(raw.pop("config", "")))
    except ValueError as e:
        raise NanoganError(f"{bad}its config is not valid JSON ({shown(e)}).") from None
    if isinstance(config, dict):
        fill_legacy(config)
    check_config(config, bad)
    gan = build_gan({**config, "ema": 0.0}, make_rng(0), get_xp(device))   # the weights are the average already
    arrays = {k: v for k, v in raw.items() if k != "format"}
    check_arrays({"config": config, "arrays": arrays}, {f"G/{k}": to_host(a) for k, a in gan.G.state_dict().items()},
                 path)
    gan.G.load_state_dict({k[2:]: a for k, a in arrays.items()})
    return gan


def _check_digest(path):
    """Files inside nanogan/pretrained/ must be the ones shipped, byte for byte."""
    real = os.path.realpath(path)
    if os.path.dirname(real) != os.path.realpath(PRETRAINED):
        return
    listing = read_regular(os.path.join(PRETRAINED, "SHA256SUMS"), "the list of shipped generators", 4096)
    sums = {name: digest for digest, name in (line.split() for line in listing.decode().splitlines() if line.strip())}
    name = os.path.basename(real)
    if name not in sums:
        raise NanoganError(f"{shown(path)} is not one of the generators shipped with nanogan.")
    if hashlib.sha256(read_regular(real, "generator file", MAX_BYTES)).hexdigest() != sums[name]:
        raise NanoganError(f"{shown(path)} does not match its SHA-256 in nanogan/pretrained/SHA256SUMS: the file "
                           "is damaged; reinstall nanogan.")


def load_gan(path, device, ema=True):
    """A GAN on `device` holding everything checkpoint `path` saved (or, from a generator
    file, G alone: nanogan.run.generator), checked first; ema=False samples with G's own
    weights even where the run kept their average."""
    from ..gan import build_gan
    from .checkpoint import load_checkpoint
    if is_generator_file(path):
        if not ema:
            raise NanoganError(f"{path!r} is a generator file, which holds only the averaged weights; drop --no-ema.")
        return load_generator(path, device)
    ck = load_checkpoint(path)
    gan = build_gan(ck["config"], make_rng(0), get_xp(device))
    check_arrays(ck, gan.state_arrays(), path)
    gan.load_state_arrays(ck["arrays"])
    if not ema:
        gan.ema = None
    return gan


def main(argv=None):
    p = Parser(prog="python -m nanogan.run.generator",
               description="Export a checkpoint's generator (G's averaged weights) to a file.")
    p.add_argument("checkpoint")
    p.add_argument("out")
    args = p.parse_args(argv)
    save_generator(args.out, load_gan(args.checkpoint, "cpu"))
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(command.main(main))
