"""The array-module switch: which module each device gets, the errors a user sees when
CUDA is not there, and the host random generator's save/restore."""
import re
import sys
import types

import numpy as np
import pytest

from nanogan.backend import (array_module, get_xp, make_rng, rng_state, set_rng_state, to_device,
                             to_host)
from nanogan.errors import NanoganError
from helpers import DEVICES


def one_sentence(message):
    """One line, ending in a full stop, with no second sentence starting inside it
    (a full stop, then a space, then a capital letter)."""
    return "\n" not in message and message.endswith(".") and not re.search(r"\.\s+[A-Z]", message)


def test_cpu_is_numpy():
    assert get_xp("cpu") is np


def test_cuda_without_cupy_says_how_to_install(monkeypatch):
    """Simulate a machine without CuPy even where it is installed: a None entry in
    sys.modules makes `import cupy` raise ImportError."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(NanoganError) as info:
        get_xp("cuda")
    message = str(info.value)
    assert one_sentence(message), f"not one sentence: {message!r}"
    assert "CuPy" in message and "pip install" in message, f"no install hint in {message!r}"


def test_cuda_without_gpu_says_so(monkeypatch):
    """CuPy installed but no driver or device: a stand-in module whose device query fails."""
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=no_driver)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(NanoganError) as info:
        get_xp("cuda")
    message = str(info.value)
    assert one_sentence(message), f"not one sentence: {message!r}"
    assert "no usable GPU" in message and "insufficient" in message and "--device cpu" in message, message


@pytest.mark.parametrize("device", ["gpu", "CPU", "", "cuda:0"])
def test_unknown_device(device):
    with pytest.raises(NanoganError, match=r"unknown device .*cpu, cuda") as info:
        get_xp(device)
    assert one_sentence(str(info.value)), f"not one sentence: {str(info.value)!r}"


def test_rng_state_round_trip():
    """Save mid-stream, draw on, restore into another generator: it draws the same."""
    rng = make_rng(123)
    rng.standard_normal(17)
    saved = rng_state(rng)
    assert isinstance(saved, str), f"state should be a JSON string, got {type(saved)}"
    ahead = (rng.standard_normal((4, 3), dtype=np.float32), rng.random(5), rng.permutation(10))
    other = make_rng(999)
    set_rng_state(other, saved)
    again = (other.standard_normal((4, 3), dtype=np.float32), other.random(5), other.permutation(10))
    for a, b in zip(ahead, again):
        assert np.array_equal(a, b), f"stream after restore {b!r} differs from original {a!r}"


def test_same_seed_same_stream():
    a, b = make_rng(5).standard_normal(8), make_rng(5).standard_normal(8)
    assert np.array_equal(a, b), f"{a!r} vs {b!r}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
def test_to_device_and_back_keep_dtype(device, dtype):
    xp = get_xp(device)
    host = np.arange(12, dtype=dtype).reshape(3, 4)
    dev = to_device(host, xp)
    assert array_module(dev) is xp, f"to_device gave a {type(dev)}, wanted {xp.__name__}"
    assert dev.dtype == dtype and dev.shape == host.shape, f"on device: {dev.dtype} {dev.shape}"
    back = to_host(dev)
    assert isinstance(back, np.ndarray) and back.dtype == dtype, f"back on host: {type(back)} {back.dtype}"
    assert np.array_equal(back, host), f"{back!r} vs {host!r}"


def test_array_module_of_host_values():
    assert array_module(np.zeros(2)) is np and array_module(1.5) is np and array_module(np.float32(1)) is np
