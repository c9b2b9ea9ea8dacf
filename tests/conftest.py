"""Which CuPy the CUDA test cases run on, chosen before anything imports it.

NANOGAN_TEST_CUDA (default auto):
    auto     real CuPy if it is installed and sees a GPU, else the stand-in
    standin  the strict CuPy stand-in in tests/standin (NumPy underneath, no GPU needed)
    real     real CuPy; the CUDA cases skip where it or a GPU is missing
    off      no CUDA cases: they all skip
NANOGAN_REQUIRE_CUDA=1 turns every skipped CUDA case into a failure, so that a run
meant for a GPU cannot pass by skipping: NANOGAN_TEST_CUDA=real NANOGAN_REQUIRE_CUDA=1 pytest.

A CUDA case is a test parametrised with device "cuda" (helpers.DEVICES) or marked
`pytest.mark.cuda` (the subprocess tests in test_cuda.py); it runs where
`nanogan.get_xp("cuda")` works, else skips with get_xp's own reason.
"""
import importlib.util
import os
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(TESTS, "standin")
sys.path.insert(0, TESTS)  # helpers.py and runs.py, for the tests in tests/nn/ too
MODES = ("auto", "standin", "real", "off")
REQUIRE = os.environ.get("NANOGAN_REQUIRE_CUDA", "0") not in ("", "0")


def _real_gpu():
    """Whether real CuPy is installed and sees a GPU, asked in a subprocess so that this
    process can still import the stand-in under the name `cupy` if not. (A stand-in that
    PYTHONPATH already puts first, say in a nested pytest, is not real CuPy.)"""
    if importlib.util.find_spec("cupy") is None:
        return False
    probe = "import cupy; print(0 if hasattr(cupy, 'standin') else cupy.cuda.runtime.getDeviceCount())"
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        return out.returncode == 0 and int(out.stdout.split()[-1]) > 0
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return False


def _choose_backend():
    mode = os.environ.get("NANOGAN_TEST_CUDA", "auto")
    if mode not in MODES:
        raise pytest.UsageError(f"NANOGAN_TEST_CUDA={mode!r}; choose one of {', '.join(MODES)}")
    if mode == "auto":
        mode = "real" if _real_gpu() else "standin"
    return mode


BACKEND = _choose_backend()
if BACKEND == "standin":  # first on the path, here and in every subprocess the tests start
    sys.path.insert(0, STANDIN)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [STANDIN, os.environ.get("PYTHONPATH")]))

from nanogan.backend import get_xp  # noqa: E402  (after the path is set)
from nanogan.errors import NanoganError  # noqa: E402


def _cuda_skip_reason():
    """None when CUDA cases can run, else why not."""
    if BACKEND == "off":
        return "NANOGAN_TEST_CUDA=off"
    try:
        get_xp("cuda")
    except NanoganError as e:
        return f"no CUDA here: {e}"
    return None


SKIP_REASON = _cuda_skip_reason()


def is_cuda_case(item):
    callspec = getattr(item, "callspec", None)
    return item.get_closest_marker("cuda") is not None or \
        (callspec is not None and callspec.params.get("device") == "cuda")


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: a CUDA case (runs on the GPU or the stand-in; see conftest.py)")


def pytest_report_header(config):
    if SKIP_REASON:
        where = f"none, every CUDA case skips ({SKIP_REASON})"
    elif BACKEND == "standin":
        where = "the CuPy stand-in in tests/standin (NumPy on the host, no GPU)"
    else:
        cupy = get_xp("cuda")
        gpu = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        where = f"real CuPy {cupy.__version__} on {gpu}"
    return f"CUDA cases run on: {where}" + ("; NANOGAN_REQUIRE_CUDA=1: a skipped one fails" if REQUIRE else "")


@pytest.fixture
def standin():
    """The CuPy stand-in module, for tests of what it refuses and counts; they skip in a run
    whose `cupy` is the real one (or none), since both cannot be `cupy` in one process."""
    if BACKEND != "standin":
        pytest.skip(f"the CuPy stand-in is not this run's cupy (NANOGAN_TEST_CUDA={BACKEND}); "
                    "plain `pytest` on a machine without a GPU runs this")
    import cupy
    return cupy


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SKIP_REASON and is_cuda_case(item):
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.hookimpl(hookwrapper=True)          # old-style wrapper: pytest 7 has no wrapper=True
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if REQUIRE and report.skipped and is_cuda_case(item):
        report.outcome = "failed"
        report.longrepr = f"NANOGAN_REQUIRE_CUDA=1, but this CUDA case was skipped: {call.excinfo.value}"
