"""Checkpoints as .npz archives of plain arrays: no pickle, written atomically.

Layout (every entry a NumPy array; strings are stored as 0-d unicode arrays):
    format        "nanogan-checkpoint-1"
    config        the run's configuration as JSON
    epoch         epochs completed
    rng           the run's random generator state as JSON
    G/<name>, D/<name>             parameters and buffers, e.g. "G/0.W", "D/3.b"
    optG/<key>, optD/<key>         Adam state: "t", "m.<i>", "v.<i>"
Anything else a caller passes in `extra` is stored under its own name.
"""
import json
import zipfile

import numpy as np

from .backend import to_host
from .errors import NanoganError
from .files import atomic_open

FORMAT = "nanogan-checkpoint-1"


def save_checkpoint(path, config, epoch, rng_state, models, optimizers, extra=None):
    """models / optimizers: {"G": module, "D": module} / {"optG": adam, "optD": adam}."""
    arrays = {"format": np.array(FORMAT), "config": np.array(json.dumps(config)),
              "epoch": np.array(epoch, dtype=np.int64), "rng": np.array(rng_state)}
    for prefix, model in models.items():
        arrays.update({f"{prefix}/{k}": to_host(v) for k, v in model.state_dict().items()})
    for prefix, opt in optimizers.items():
        arrays.update({f"{prefix}/{k}": v for k, v in opt.state_dict().items()})
    arrays.update(extra or {})
    with atomic_open(path) as f:
        np.savez(f, **arrays)


def load_checkpoint(path):
    """Read a checkpoint into {"config": dict, "epoch": int, "rng": str, "<prefix>": {key: array}}.

    Any file that is not a complete nanogan checkpoint raises NanoganError naming it.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise NanoganError(f"checkpoint {path} does not exist.") from None
    except IsADirectoryError:
        raise NanoganError(f"checkpoint {path} is a directory; give the .npz file inside it.") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise NanoganError(f"checkpoint {path} is corrupt or not a .npz file ({type(e).__name__}); "
                           "use another checkpoint or start a new run.") from None
    if arrays.get("format", np.array("")).item() != FORMAT:
        raise NanoganError(f"{path} is not a nanogan checkpoint (no '{FORMAT}' marker).")
    try:
        out = {"config": json.loads(arrays.pop("config").item()), "epoch": int(arrays.pop("epoch")),
               "rng": arrays.pop("rng").item()}
    except (KeyError, ValueError) as e:
        raise NanoganError(f"checkpoint {path} is incomplete ({e}); use another checkpoint.") from None
    for key, value in arrays.items():
        prefix, _, name = key.partition("/")
        if name:
            out.setdefault(prefix, {})[name] = value
    return out
