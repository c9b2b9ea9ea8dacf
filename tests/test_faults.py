"""A run is never lost or corrupted: each fault is injected on purpose, and afterwards the
run directory must hold a checkpoint that loads, a metrics.csv that agrees with it, no
temporary file, and a resume must end bit for bit where an uninterrupted run ends.

Faults: SIGINT at several moments and SIGKILL (in subprocesses), a full disk and a
read-only directory (simulated by patching the file calls, so the tests run anywhere),
stray and damaged files, a diverging run, and every directory a run must not write into.
"""
import csv
import errno
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from nanogan.run.checkpoint import load_checkpoint
from nanogan.gan import GAN
from runs import ROOT, SMALL, TRAIN, assert_one_error, checkpoints_equal, main, ok

# 512 images in batches of 32: 16 steps an epoch, long enough to be interrupted in
LONGER = ["--limit", "512", "--batch-size", "32", "--no-progress", "--eval-every", "0"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The reference: 3 epochs, uninterrupted."""
    out = tmp_path_factory.mktemp("straight") / "run"
    ok("--epochs", 3, "--out", out, *LONGER)
    return out


def tree(folder):
    """{relative path: sha256} of every file under folder."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def parts(folder):
    return [os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs if f.endswith(".part")]


def assert_consistent(out):
    """The checkpoint loads and metrics.csv holds exactly its history; no .part is left."""
    ck = load_checkpoint(os.path.join(out, "checkpoint.npz"))
    rows = []
    if os.path.exists(os.path.join(out, "metrics.csv")):
        with open(os.path.join(out, "metrics.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
    assert rows == ck["history"], f"metrics.csv {rows} disagrees with the checkpoint's history {ck['history']}"
    assert [int(r["epoch"]) for r in rows] == list(range(1, ck["epoch"] + 1)), rows
    assert not parts(out), f"temporary files left: {parts(out)}"
    return ck


def resume_to_end_and_compare(out, straight):
    ok("--resume", os.path.join(out, "checkpoint.npz"), "--epochs", 3, "--no-progress")
    assert_consistent(out)
    differ = checkpoints_equal(os.path.join(out, "checkpoint.npz"), os.path.join(straight, "checkpoint.npz"))
    assert not differ, f"interrupted and resumed run differs from the straight one in {differ}"
    with open(os.path.join(out, "metrics.csv")) as a, open(os.path.join(straight, "metrics.csv")) as b:
        strip = lambda f: [r[:7] for r in csv.reader(f)]  # noqa: E731  (drop the timing columns)
        assert strip(a) == strip(b), "metrics differ from the straight run's"


def start(out, *extra):
    return subprocess.Popen([sys.executable, TRAIN, "--epochs", "3", "--out", str(out), *LONGER, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def wait_for(proc, prefix):
    for line in proc.stdout:
        if line.startswith(prefix):
            return
    raise AssertionError(f"the run ended before printing {prefix!r}: {proc.stderr.read()}")


# -- interrupts ---------------------------------------------------------------------------

@pytest.mark.parametrize("moment", ["at the start", "just after epoch 1's line", "inside epoch 2"])
def test_ctrl_c_at_any_moment_loses_nothing(moment, tmp_path, straight):
    """Ctrl-C saves exactly the step it stops at; resuming gives the uninterrupted run."""
    out = tmp_path / "run"
    proc = start(out)
    wait_for(proc, "training" if moment == "at the start" else "epoch   1/3")
    if moment == "inside epoch 2":
        time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode in (130, 0) and "Traceback" not in stderr, (proc.returncode, stderr)
    if proc.returncode == 130:
        assert "interrupted" in stderr and "--resume" in stderr, stderr
    assert_consistent(out)
    resume_to_end_and_compare(out, straight)


@pytest.mark.parametrize("arch", ["fc", "cgan", "dcgan"])
def test_ctrl_c_mid_epoch_resumes_bit_for_bit(arch, tmp_path, capsys, monkeypatch):
    """Deterministic: the step itself raises SIGINT at the 6th step (epoch 2, step 2 of 4).
    The checkpoint must say so (step > 0), and a resume must end where a straight run does."""
    real_step, calls = GAN.step, []

    def step(self, *args):
        out = real_step(self, *args)
        calls.append(1)
        if len(calls) == 6:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(capsys, "--arch", arch, "--epochs", 3, "--out", straight, *SMALL)[0] == 0
    with monkeypatch.context() as m:
        m.setattr(GAN, "step", step)
        code, out, err = main(capsys, "--arch", arch, "--epochs", 3, "--out", split, *SMALL)
    assert code == 130 and "after step 2/4" in err, (code, err)
    ck = assert_consistent(split)
    assert (ck["epoch"], ck["step"]) == (1, 2), (ck["epoch"], ck["step"])
    assert main(capsys, "--resume", split / "checkpoint.npz")[0] == 0
    differ = checkpoints_equal(split / "checkpoint.npz", straight / "checkpoint.npz")
    assert not differ, f"{arch}: resumed mid-epoch, differs from the straight run in {differ}"


def test_sigkill_at_random_moments_loses_nothing(tmp_path, straight):
    """kill -9 gives no chance to clean up: the checkpoint on disk must still be whole, the
    .part files are removed at the next start, and the run resumes to the same end."""
    out = tmp_path / "run"
    proc = start(out)
    wait_for(proc, "epoch   1/3")
    time.sleep(random.random() * 0.5)
    proc.kill()
    proc.communicate()
    load_checkpoint(out / "checkpoint.npz")
    proc = subprocess.Popen([sys.executable, TRAIN, "--resume", str(out / "checkpoint.npz"), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    wait_for(proc, "training")
    time.sleep(0.5 + random.random())
    proc.kill()
    proc.communicate()
    load_checkpoint(out / "checkpoint.npz")
    (out / ".checkpoint.npz.abc.part").write_bytes(b"half a checkpoint")  # as a kill mid-write leaves
    (out / "samples" / ".epoch_001.png.xyz.part").write_bytes(b"half a picture")
    resume_to_end_and_compare(out, straight)


def test_sigkill_inside_an_atomic_write_keeps_the_old_file(tmp_path):
    """A process killed while it writes a file through atomic_open leaves the old file
    whole (and a .part beside it, which remove_stale_parts cleans up)."""
    target = tmp_path / "checkpoint.npz"
    target.write_bytes(b"the old, good checkpoint")
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from nanogan.files import atomic_open\n"
        f"with atomic_open({str(target)!r}) as f:\n"
        "    while True:\n"
        "        f.write(b'x' * 2**20); f.flush(); print('writing', flush=True); time.sleep(0.01)\n")],
        stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    child.kill()
    child.wait()
    assert target.read_bytes() == b"the old, good checkpoint"
    from nanogan.files import remove_stale_parts
    assert len(parts(tmp_path)) == 1 and remove_stale_parts(str(tmp_path)) == 1 and not parts(tmp_path)


# -- a full disk, a read-only directory ---------------------------------------------------

class FullDisk:
    """os.fdopen for temporary files whose name contains `name`: writes fail with ENOSPC
    after `room` bytes (the other files are untouched)."""

    def __init__(self, monkeypatch, name, room=100):
        real = os.fdopen

        def fdopen(fd, mode="r", *args, **kw):
            f = real(fd, mode, *args, **kw)
            path = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else ""
            return _Filling(f, room) if name in os.path.basename(path) else f

        monkeypatch.setattr(os, "fdopen", fdopen)


class _Filling:
    def __init__(self, f, room):
        self._f, self._room = f, room

    def write(self, data):
        self._room -= len(data)
        if self._room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="finds a file's name through /proc")
@pytest.mark.parametrize("victim", ["checkpoint.npz", "epoch_002.png", "training.gif", "curves.png", "metrics.csv"])
def test_disk_full_is_one_line_and_keeps_the_last_checkpoint(victim, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(capsys, "--epochs", 1, "--out", out, *SMALL)[0] == 0
    before = (out / "checkpoint.npz").read_bytes()
    with monkeypatch.context() as m:
        FullDisk(m, victim if victim != "epoch_002.png" else "epoch_002")
        code, stdout, stderr = main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 2)
    assert_one_error(code, stdout, stderr, "No space left on device")
    assert "cannot write" in stderr and "is kept" in stderr, stderr
    if victim == "checkpoint.npz":
        assert (out / "checkpoint.npz").read_bytes() == before, "the good checkpoint was touched"
    assert not parts(out), f"temporary files left: {parts(out)}"
    ok("--resume", out / "checkpoint.npz", "--epochs", 2, "--no-progress")  # writes what is missing, or trains on
    assert_consistent(out)
    assert (out / "samples" / "epoch_002.png").exists() and (out / "training.gif").exists()


def test_disk_full_before_the_first_checkpoint_leaves_no_run(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (tmp_path / "new", empty):
        with monkeypatch.context() as m:
            FullDisk(m, "checkpoint.npz")
            assert_one_error(*main(capsys, "--epochs", 1, "--out", out, *SMALL), "no checkpoint was saved")
    assert not (tmp_path / "new").exists() and os.listdir(empty) == []


def test_read_only_run_directory_on_resume(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(capsys, "--epochs", 1, "--out", out, *SMALL)[0] == 0
    before = tree(out)
    real = tempfile.mkstemp

    def read_only(*args, dir=None, **kw):
        if dir is not None and os.path.realpath(dir).startswith(os.path.realpath(out)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert_one_error(*main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 2), "Read-only file system")
    assert tree(out) == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes through permission bits")
def test_read_only_run_directory_by_permissions(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(capsys, "--epochs", 1, "--out", out, *SMALL)[0] == 0
    os.chmod(out, 0o555)
    try:
        assert_one_error(*main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 2), "cannot write")
    finally:
        os.chmod(out, 0o755)


def test_stray_and_damaged_files_in_samples(tmp_path, capsys):
    """Only nanogan's own grids go into the GIF; one that cannot be read is left out with a
    warning, not a traceback."""
    out = tmp_path / "run"
    assert main(capsys, "--epochs", 1, "--out", out, *SMALL)[0] == 0
    (out / "samples" / "notes.txt").write_text("mine")
    (out / "samples" / "epoch_000.png").write_bytes(b"not a png")
    (out / "samples" / "epoch_099.png").write_bytes(b"from the future")
    code, stdout, stderr = main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 2)
    assert code == 0 and "warning: training.gif leaves out samples/epoch_000.png" in stderr, (code, stderr)
    assert "Traceback" not in stderr and (out / "samples" / "notes.txt").read_text() == "mine"


# -- divergence ----------------------------------------------------------------------------

def test_divergence_is_caught_and_never_saved(tmp_path, capsys, monkeypatch):
    """--lr 1e6 --lr-d 1e6 blows the state up within an epoch; no non-finite checkpoint may be written,
    and the message names a checkpoint that exists (or says none was saved)."""
    out = tmp_path / "run"
    code, stdout, stderr = main(capsys, "--lr", 1e6, "--lr-d", 1e6, "--epochs", 3, "--out", out, *SMALL)
    assert_one_error(code, stdout, stderr, "diverged")
    assert "no checkpoint was saved" in stderr and not out.exists(), stderr
    # after a good epoch: weights poisoned in the middle of epoch 2 stop the run, and the
    # message names the checkpoint that is kept, which is still the good one
    assert main(capsys, "--epochs", 1, "--out", out, *SMALL)[0] == 0
    good = (out / "checkpoint.npz").read_bytes()
    real_step, calls = GAN.step, []

    def poisoned(self, *args):
        calls.append(1)
        if len(calls) == 2:
            self.G.layers[0].params["W"].data[0, 0] = np.nan
        return real_step(self, *args)

    monkeypatch.setattr(GAN, "step", poisoned)
    code, stdout, stderr = main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 3)
    assert_one_error(code, stdout, stderr, "diverged")
    assert f"{out / 'checkpoint.npz'} (epoch 1), is kept" in stderr, stderr
    assert (out / "checkpoint.npz").read_bytes() == good
    assert_consistent(out)


# -- directories a run must not write into -------------------------------------------------

def test_resume_into_another_runs_directory_is_refused(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(capsys, "--epochs", 1, "--out", a, *SMALL)[0] == 0
    assert main(capsys, "--epochs", 1, "--out", b, *SMALL, "--seed", 1)[0] == 0
    before = tree(b)
    assert_one_error(*main(capsys, "--resume", a / "checkpoint.npz", "--out", b, "--epochs", 2),
                     "already holds a run")
    assert tree(b) == before


def test_a_directory_that_is_not_a_run_is_refused(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text("my own file")
    assert_one_error(*main(capsys, "--epochs", 1, "--out", mine, *SMALL), "is not empty")
    assert os.listdir(mine) == ["config.json"] and (mine / "config.json").read_text() == "my own file"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(capsys, "--epochs", 1, "--out", empty, *SMALL)[0] == 0  # an empty one is fine


def test_resuming_an_older_snapshot_needs_a_new_directory(tmp_path, capsys):
    """checkpoints/epoch_001.npz of a run at epoch 2: continuing it in place would rewrite
    epoch 2, so it needs --out; the new directory gets the history so far."""
    out = tmp_path / "run"
    assert main(capsys, "--epochs", 2, "--save-every", 1, "--out", out, *SMALL)[0] == 0
    before = tree(out)
    old = out / "checkpoints" / "epoch_001.npz"
    assert_one_error(*main(capsys, "--resume", old, "--epochs", 3), "not a run's checkpoint.npz")
    assert_one_error(*main(capsys, "--resume", old, "--out", out, "--epochs", 3), "already holds a run")
    branch = tmp_path / "branch"
    assert main(capsys, "--resume", old, "--out", branch, "--epochs", 2)[0] == 0
    assert tree(out) == before, "the run the snapshot came from was changed"
    ck = assert_consistent(branch)
    assert ck["epoch"] == 2 and (branch / "samples" / "epoch_000.png").exists()
    assert not checkpoints_equal(branch / "checkpoint.npz", out / "checkpoint.npz"), \
        "epoch 1 + 1 more from the snapshot should equal the original epoch 2"


def test_resume_in_place_only_in_a_run_directory(tmp_path, capsys):
    """A checkpoint.npz copied into a folder of one's own is not an invitation to write there."""
    run = tmp_path / "run"
    assert main(capsys, "--epochs", 1, "--out", run, *SMALL)[0] == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text("my own")
    (mine / ".notes.part").write_text("my own too")
    (mine / "checkpoint.npz").write_bytes((run / "checkpoint.npz").read_bytes())
    before = tree(mine)
    assert_one_error(*main(capsys, "--resume", mine / "checkpoint.npz", "--epochs", 2), "not a nanogan run directory")
    assert tree(mine) == before
    assert main(capsys, "--resume", mine / "checkpoint.npz", "--epochs", 2, "--out", tmp_path / "new")[0] == 0


def test_a_second_process_on_the_same_run_is_refused(tmp_path, capsys):
    import fcntl
    out = tmp_path / "run"
    assert main(capsys, "--epochs", 1, "--out", out, *SMALL)[0] == 0
    with open(out / ".nanogan.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert_one_error(*main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 2), "another nanogan process")
    assert main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 2)[0] == 0


def test_a_second_ctrl_c_waits_for_a_save(tmp_path):
    """The second Ctrl-C stops at once, but never in the middle of writing a checkpoint
    (a new run's directory would be removed with it)."""
    from nanogan.run.rundir import RunDir
    run = RunDir.plan(None, default_name=str(tmp_path / "run"))
    run.saving = True
    run._request_stop(signal.SIGINT, None)
    run._request_stop(signal.SIGINT, None)            # during a save: only noted
    assert run.stop_requested
    run.saving = False
    with pytest.raises(KeyboardInterrupt):
        run._request_stop(signal.SIGINT, None)
