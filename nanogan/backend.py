"""The array-module switch: NumPy on the CPU, CuPy on CUDA.

Every other module in nanogan writes `xp.something(...)` where `xp` is the
array module of the data at hand (`array_module(x)`), so one piece of code
runs on both devices. Only this file imports CuPy, and only when asked for.

Randomness comes from one place, a NumPy `Generator` on the host (`make_rng`):
the noise, the shuffling, the dropout masks and the initial weights are drawn
there and moved to the device. NumPy and CuPy draw different streams from the
same seed, so drawing on the host is what makes a run on either device
reproducible and a stopped run resumable bit for bit (the generator's state is
saved in the checkpoint).
"""
import json

import numpy as np

from .errors import NanoganError

DEVICES = ("cpu", "cuda")


def _import_cupy():
    """Return the cupy module, or None if it is not installed."""
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def get_xp(device):
    """The array module for `device` ('cpu' -> numpy, 'cuda' -> cupy).

    Raises NanoganError with one sentence saying what to install when CUDA is
    asked for but CuPy or a usable GPU is missing.
    """
    if device == "cpu":
        return np
    if device != "cuda":
        raise NanoganError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}.")
    cupy = _import_cupy()
    if cupy is None:
        raise NanoganError(
            "--device cuda needs CuPy, which is not installed; install it with "
            "`pip install -e \".[cuda12]\"` (CUDA 12) or `pip install -e \".[cuda13]\"` "
            "(CUDA 13), or use --device cpu.")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDARuntimeError, driver missing, ...: all mean "no GPU here"
        count, why = 0, str(e).splitlines()[0] if str(e) else type(e).__name__
    else:
        why = "no CUDA device is visible"
    if count == 0:
        raise NanoganError(f"--device cuda found CuPy but no usable GPU ({why}); use --device cpu.")
    return cupy


def cuda_available():
    """True when CuPy is installed and sees at least one GPU (used by tests to skip)."""
    try:
        get_xp("cuda")
    except NanoganError:
        return False
    return True


def array_module(x):
    """numpy or cupy, whichever `x` belongs to (host arrays and scalars -> numpy)."""
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return np
    cupy = _import_cupy()
    if cupy is not None and isinstance(x, cupy.ndarray):
        return cupy
    return np


def new_like(x, dtype=None):
    """An uninitialised array of x's shape, laid out in memory as x is, for an operation's
    `out=`. NumPy's element-wise operations keep their input's layout on their own; CuPy's
    allocate C order, which would undo the batch-last layout that nanogan.nn.conv passes
    through the layers (and cost a transposing copy at every convolution). With
    `out=new_like(x)` both keep it."""
    return array_module(x).empty_like(x, dtype=dtype)


def to_device(x, xp):
    """Move a host (or device) array to the array module `xp`, keeping its dtype."""
    return x if array_module(x) is xp else xp.asarray(x)


def to_host(x):
    """A NumPy copy of `x` (no-op for NumPy arrays); the edge where GPU data leaves."""
    return x.get() if array_module(x) is not np else x


def synchronize(xp):
    """Wait for queued GPU work to finish (no-op on CPU); call before reading a clock."""
    if xp is not np:
        xp.cuda.Device().synchronize()


def make_rng(seed):
    """The run's one random generator: NumPy's PCG64 on the host, seeded."""
    return np.random.Generator(np.random.PCG64(seed))


def rng_state(rng):
    """The generator's full state as a JSON string, for saving in a checkpoint."""
    return json.dumps(rng.bit_generator.state)


def set_rng_state(rng, state):
    """Restore a state written by `rng_state`, so the stream continues exactly."""
    rng.bit_generator.state = json.loads(state)
