"""The second fault-injection round (issue 26): nothing of the user's is ever deleted or
overwritten, nothing hangs, no input ends in a traceback.

Each test is one case of the issue: `..` and symlinks in --out, folders that only look like
runs, a stray lock file, a second process paused between its checks and its writes (SIGSTOP),
FIFOs and devices where files are read, decompression and zip bombs, deep JSON, networks
too large for memory, full disks and over-long names at the outputs, and messages that must
stay one line whatever a name holds. Most run in this process on tiny runs (tests/runs.py's
SMALL), so the whole file takes seconds, not minutes.
"""
import copy
import errno
import io
import json
import os
import signal
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest

from nanogan.errors import NanoganError
from nanogan.files import WriteError, atomic_open, check_output_file, parse_json, read_npz
from nanogan.run.checkpoint import check_history, first_out_of_range, load_checkpoint
from nanogan.run.config import check_config, memory_estimate, parameter_counts
from nanogan.run.rundir import LOCK, MARKER, RunDir, run_id
from runs import ROOT, SMALL, assert_one_error, main
from test_faults import FullDisk, tree


@pytest.fixture(autouse=True)
def no_hang():
    """A test that would block (a FIFO opened for reading) fails after 60 s instead."""
    def hung(signum, frame):
        raise AssertionError("hung: blocked for 60 s")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def run1(tmp_path_factory):
    """A finished 1-epoch fc run, copied afresh by `fresh_run`."""
    out = tmp_path_factory.mktemp("run1") / "run"
    code = main_quiet("--epochs", 1, "--out", out, *SMALL)
    assert code == 0
    return out


def main_quiet(*args):
    from nanogan.run import cli

    import train
    return cli.main(train.train, [str(a) for a in args])


def fresh_run(run1, tmp_path, name="run"):
    import shutil
    out = tmp_path / name
    shutil.copytree(run1, out)
    return out


def one_line(err):
    assert "\n" not in err.strip() and "\x1b" not in err, repr(err)


# -- 1. `..` and symlinks: checks and writes on one resolved directory ---------------------

def test_dotdot_in_out_is_judged_where_it_leads(tmp_path, capsys, monkeypatch):
    """The issue's case: --out f1/nothing/../D with f1/D the user's. It deleted f1/D."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f1" / "D").mkdir(parents=True)
    (tmp_path / "f1" / "D" / "thesis.tex").write_text("work")
    code, out, err = main(capsys, "--epochs", 1, "--lr", 1e6, "--lr-d", 1e6, "--out", "f1/nothing/../D", *SMALL)
    assert_one_error(code, out, err, "is not empty")
    assert "f1/D" in err
    assert (tmp_path / "f1" / "D" / "thesis.tex").read_text() == "work"
    assert sorted(os.listdir(tmp_path / "f1")) == ["D"], "a directory was made on the way"


def test_dotdot_into_another_runs_samples_is_refused(run1, tmp_path, capsys):
    b = fresh_run(run1, tmp_path, "runB")
    before = tree(b)
    for lr in ([], ["--lr", 1e6, "--lr-d", 1e6]):      # a run that would succeed, one that would fail
        assert_one_error(*main(capsys, "--epochs", 1, *lr, "--out", b / "missing" / ".." / "samples", *SMALL),
                         "is not empty")
    assert tree(b) == before and not (b / "missing").exists()


def test_out_through_a_symlink(tmp_path, capsys):
    """A link to an empty folder: the run goes there; a link to a full one: refused, untouched."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    assert main(capsys, "--epochs", 1, "--out", tmp_path / "link", *SMALL)[0] == 0
    assert (tmp_path / "empty" / "checkpoint.npz").exists() and (tmp_path / "link").is_symlink()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("mine")
    (tmp_path / "link2").symlink_to(tmp_path / "full")
    assert_one_error(*main(capsys, "--epochs", 1, "--out", tmp_path / "link2", *SMALL), "is not empty")
    assert os.listdir(tmp_path / "full") == ["mine.txt"]


def test_a_failed_new_run_removes_only_what_it_made(tmp_path):
    """Made a/b/c: removes c, b, a again; but a file someone else put into b meanwhile keeps b and a."""
    with RunDir.start(str(tmp_path / "a" / "b" / "c")) as run:
        assert run.run_id and run_id(run.path) == run.run_id
    assert os.listdir(tmp_path) == []
    with RunDir.start(str(tmp_path / "a" / "b" / "c")) as run:
        (tmp_path / "a" / "b" / "theirs.txt").write_text("theirs")
    assert sorted(os.listdir(tmp_path / "a" / "b")) == ["theirs.txt"]
    (tmp_path / "empty").mkdir()
    with RunDir.start(str(tmp_path / "empty")):
        assert sorted(os.listdir(tmp_path / "empty")) == sorted([LOCK, MARKER])
    assert os.listdir(tmp_path / "empty") == []


def test_empty_out_and_resume_are_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NanoganError, match="--out needs"):
        RunDir.plan("", None, "runs/x")
    with pytest.raises(NanoganError, match="--resume needs"):
        RunDir.plan(None, "", "runs/x")
    assert not (tmp_path / "runs").exists()


# -- 2. a run directory is one nanogan marked; the lock comes first --------------------------

def test_a_stray_lock_file_does_not_make_a_folder_a_run(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / LOCK).write_text("")
    (mine / ".notes.part").write_text("my notes")
    (mine / "config.json").write_text("{}")
    before = tree(mine)
    assert_one_error(*main(capsys, "--epochs", 1, "--out", mine, *SMALL), "is not empty")
    assert tree(mine) == before


def test_a_folder_that_looks_like_a_run_is_not_resumed_in_place(run1, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "samples").mkdir()
    (mine / "config.json").write_text(json.dumps({"my": "settings"}))
    (mine / "metrics.csv").write_text("my,table\n")
    (mine / "checkpoint.npz").write_bytes((run1 / "checkpoint.npz").read_bytes())
    before = tree(mine)
    assert_one_error(*main(capsys, "--resume", mine / "checkpoint.npz", "--epochs", 2), "not a nanogan run directory")
    assert tree(mine) == before


def test_a_run_from_before_the_marker_still_resumes(run1, tmp_path, capsys):
    """Checkpoint and config.json agree: a run; it is marked as it resumes."""
    out = fresh_run(run1, tmp_path)
    os.remove(out / MARKER)
    assert main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 2)[0] == 0
    assert run_id(str(out)) is not None and load_checkpoint(out / "checkpoint.npz")["epoch"] == 2
    other = fresh_run(run1, tmp_path, "other")                 # ... but not with another run's config.json
    os.remove(other / MARKER)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "seed": 12345}))
    assert_one_error(*main(capsys, "--resume", other / "checkpoint.npz", "--epochs", 2), "not a nanogan run")


DRIVER = r"""
import os, signal, sys
from nanogan.errors import NanoganError
from nanogan.run.checkpoint import load_checkpoint
from nanogan.run.rundir import RunDir
out, resume, mode = sys.argv[1], sys.argv[2] or None, sys.argv[3]
try:
    if mode == "start":                                  # the safe start: lock first
        with RunDir.start(out if not resume else None, resume, None) as run:
            print("ready", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)
        sys.exit(0)
    ck = load_checkpoint(resume) if resume else None     # the older order: read, plan, ..., open
    run = RunDir.plan(None if resume else out, resume, None)
    print("ready", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)
    with run.open({"x": 1}, ck["history"] if ck else [], ck["epoch"] if ck else 0):
        pass
except NanoganError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
"""


def paused(out, resume="", mode="plan"):
    """A process stopped (as by Ctrl-Z) after its start-up checks, before its writes."""
    p = subprocess.Popen([sys.executable, "-c", DRIVER, str(out), str(resume), mode], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready", p.stderr.read()
    os.waitpid(p.pid, os.WUNTRACED)                      # until it has stopped
    return p


def resumed(p):
    p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=60)
    return p.returncode, err


def test_two_new_runs_into_one_directory_with_the_first_paused(tmp_path, capsys):
    out = tmp_path / "run"
    p = paused(out)
    assert main(capsys, "--epochs", 1, "--out", out, *SMALL)[0] == 0
    before = tree(out)
    code, err = resumed(p)
    assert code == 2 and "already holds a run" in err, err
    assert tree(out) == before


def test_two_resumes_in_place_with_the_first_paused(run1, tmp_path, capsys):
    """The issue's case: --epochs 3 paused beside --epochs 6 left the checkpoint at epoch 3."""
    out = fresh_run(run1, tmp_path)
    p = paused(out, out / "checkpoint.npz")
    assert main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 2)[0] == 0
    before = tree(out)
    code, err = resumed(p)
    assert code == 2 and "changed after it was read" in err, err
    assert tree(out) == before and load_checkpoint(out / "checkpoint.npz")["epoch"] == 2


def test_the_safe_start_holds_the_lock_while_paused(run1, tmp_path, capsys):
    out = fresh_run(run1, tmp_path)
    p = paused(out, out / "checkpoint.npz", mode="start")
    before = tree(out)
    assert_one_error(*main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 2), "another nanogan process")
    assert tree(out) == before
    assert resumed(p)[0] == 0
    new = tmp_path / "new"
    p = paused(new, mode="start")
    assert_one_error(*main(capsys, "--epochs", 1, "--out", new, *SMALL), "another nanogan process")
    assert resumed(p)[0] == 0 and not new.exists()


# -- 3. reads: regular files only, bounded ---------------------------------------------------

@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory"])
def test_a_checkpoint_that_is_not_a_file(kind, tmp_path, capsys):
    ck = tmp_path / "checkpoint.npz"
    if kind == "fifo":
        os.mkfifo(ck)
    elif kind == "dev_zero":
        ck.symlink_to("/dev/zero")
    else:
        ck.mkdir()
    says = {"fifo": "is a FIFO", "dev_zero": "is a device", "directory": "is a directory"}[kind]
    assert_one_error(*main(capsys, "--resume", ck, "--epochs", 2), says)
    assert_one_error(*main(capsys, "sample.py", ck, "--out", tmp_path / "s.png"), says)


def test_a_fifo_as_the_lock_or_a_grid_in_a_run(run1, tmp_path, capsys):
    out = fresh_run(run1, tmp_path)
    os.remove(out / LOCK)
    os.mkfifo(out / LOCK)
    assert_one_error(*main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 1), "not a regular file")
    os.remove(out / LOCK)
    os.remove(out / "samples" / "epoch_000.png")
    os.mkfifo(out / "samples" / "epoch_000.png")
    code, stdout, err = main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 1)   # at its target: redraws
    assert code == 0 and "leaves out samples/epoch_000.png" in err and "Traceback" not in err, err


def png_header(width, height):
    """A PNG that promises width x height pixels in a few dozen bytes (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def test_a_decompression_bomb_among_the_grids(run1, tmp_path, capsys):
    out = fresh_run(run1, tmp_path)
    (out / "samples" / "epoch_000.png").write_bytes(png_header(20000, 20000))
    code, stdout, err = main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 1)
    assert code == 0 and "leaves out samples/epoch_000.png" in err and "Traceback" not in err, err


def test_overlapping_zip_members_are_refused_before_reading(tmp_path):
    """150 central-directory entries for one 1 MB member: 150 MB from a 1 MB file."""
    buf = io.BytesIO()
    np.save(buf, np.zeros(2**18, np.float32))
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.npy", buf.getvalue())
        for i in range(149):
            z.filelist.append(copy.copy(z.filelist[0]))
    with pytest.raises(NanoganError, match="corrupt"):
        read_npz(path, "checkpoint")


@pytest.mark.parametrize("entry", ["config", "history", "rng", "epoch_rng"])
def test_json_nested_100000_deep(entry, run1, tmp_path):
    raw = dict(np.load(run1 / "checkpoint.npz", allow_pickle=False))
    raw[entry] = np.array("[" * 100_000 + "]" * 100_000)
    np.savez(tmp_path / "deep.npz", **raw)
    with pytest.raises(NanoganError) as e:
        load_checkpoint(tmp_path / "deep.npz")
    one_line(str(e.value))
    with pytest.raises(ValueError, match="nested more than"):
        parse_json("{\"a\":" * 50 + "1" + "}" * 50)
    assert parse_json('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"["}') == {"a": "[" * 36 + '"['}


# -- 4. sizes capped by the memory they imply -------------------------------------------------

def test_a_network_too_large_is_refused_before_it_is_built(run1, tmp_path, capsys):
    big = ["--arch", "dcgan", "--width", 1024, "--d-width", 1024, "--z-dim", 4096]
    assert_one_error(*main(capsys, *big, "--out", tmp_path / "big", *SMALL), "would need about")
    assert not (tmp_path / "big").exists()
    ck = load_checkpoint(run1 / "checkpoint.npz")["config"]
    huge = {**ck, "batch_size": 65_536}                            # the FC GAN at the largest batch
    with pytest.raises(NanoganError, match="would need about"):
        check_config(huge, "checkpoint x is damaged: ")


@pytest.mark.parametrize("changes", [dict(arch="fc"), dict(arch="cgan", minibatch=True),
                                     dict(arch="dcgan", width=16, d_width=4, minibatch=True, d_norm="batch"),
                                     dict(arch="dcgan", width=8, d_width=None, minibatch=False, d_norm="none")])
def test_the_memory_estimate_counts_the_real_parameters(changes):
    from nanogan.backend import make_rng
    from nanogan.gan.gan import build_gan
    from nanogan.gan.recipe import recipe
    config = recipe(changes["arch"], **{k: v for k, v in changes.items() if k != "arch"}).to_dict()
    gan = build_gan(config, make_rng(0), np)
    real = tuple(sum(p.data.size for p in net.parameters()) for net in (gan.G, gan.D))
    assert parameter_counts(config) == real
    assert memory_estimate(config) < 2**30


# -- 5. outputs: one line on any OSError, names up to NAME_MAX ------------------------------

def test_atomic_open_turns_any_oserror_into_one_line(tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        FullDisk(m, "out.bin")
        with pytest.raises(WriteError) as e, atomic_open(tmp_path / "out.bin") as f:
            f.write(b"x" * 1000)
    assert isinstance(e.value, NanoganError) and isinstance(e.value, OSError) and e.value.errno == errno.ENOSPC
    assert str(e.value).startswith("cannot write ") and "No space left on device" in str(e.value)
    assert os.listdir(tmp_path) == []
    with pytest.raises(WriteError, match="cannot write .*missing"):
        with atomic_open(tmp_path / "missing" / "x.png"):
            pass
    with pytest.raises(WriteError, match="'.*\\\\n.*'"):               # the name shown escaped
        with atomic_open(tmp_path / "no\ndir" / "x"):
            pass


def test_a_legal_250_character_name(tmp_path, capsys, run1):
    name = tmp_path / ("d" * 246 + ".png")
    with atomic_open(name) as f:                                       # its .part name is cut to fit
        f.write(b"ok")
    assert name.read_bytes() == b"ok"
    assert main(capsys, "sample.py", run1 / "checkpoint.npz", "--out", name)[0] == 0
    with pytest.raises(NanoganError, match="longer than 255 bytes"):
        check_output_file(str(tmp_path / ("d" * 300 + ".png")), "--out")


@pytest.mark.parametrize("suffix", [".npy", ".png"])
def test_a_full_disk_at_the_sample_output(suffix, run1, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "fdopen", os.fdopen)
    FullDisk(monkeypatch, "s" + suffix)
    assert_one_error(*main(capsys, "sample.py", run1 / "checkpoint.npz", "--out", tmp_path / ("s" + suffix)),
                     "No space left on device")
    assert os.listdir(tmp_path) == []


def test_a_failed_resume_in_place_leaves_config_json_alone(run1, tmp_path, capsys, monkeypatch):
    out = fresh_run(run1, tmp_path)
    before = (out / "config.json").read_bytes()
    with monkeypatch.context() as m:
        FullDisk(m, "checkpoint.npz")
        assert_one_error(*main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 3), "is kept")
    assert (out / "config.json").read_bytes() == before
    assert main(capsys, "--resume", out / "checkpoint.npz", "--epochs", 2)[0] == 0
    assert json.loads((out / "config.json").read_text())["epochs"] == 2


# -- 6. errors echo names escaped ------------------------------------------------------------

def test_names_from_files_and_users_are_escaped(run1, tmp_path, capsys):
    raw = dict(np.load(run1 / "checkpoint.npz", allow_pickle=False))
    config = json.loads(raw["config"].item())
    config["evil\n\x1b[31mkey"] = 1
    bad_key = {**raw, "config": np.array(json.dumps(config))}
    bad_member = {**raw, "G/0.W\n\x1b[31m": np.zeros(3, np.float32)}
    for i, arrays in enumerate((bad_key, bad_member)):
        path = tmp_path / f"ck{i}.npz"
        np.savez(path, **arrays)
        code, out, err = main(capsys, "sample.py", path, "--out", tmp_path / "s.png")
        assert_one_error(code, out, err, "\\n")
        one_line(err)
    weird = tmp_path / "a\nb\x1b[31m"
    weird.write_text("a file")
    code, out, err = main(capsys, "--epochs", 1, "--out", weird, *SMALL)
    assert_one_error(code, out, err, "is a file")
    one_line(err)


# -- 7. values a healthy run never saves -------------------------------------------------------

@pytest.mark.parametrize("name, value, says", [("G/0.W", 3e38, "outside"), ("optG/t", -1000, "non-negative"),
                                               ("optD/v.0", -1.0, "outside")])
def test_absurd_finite_state_is_refused(name, value, says, run1, tmp_path, capsys):
    raw = dict(np.load(run1 / "checkpoint.npz", allow_pickle=False))
    a = raw[name].copy()
    a.reshape(-1)[0] = value
    raw[name] = a
    np.savez(tmp_path / "ck.npz", **raw)
    assert_one_error(*main(capsys, "sample.py", tmp_path / "ck.npz", "--out", tmp_path / "s.png"), says)


def test_a_negative_batchnorm_variance_is_refused():
    assert "outside" in first_out_of_range({"G/1.running_var": np.array([1.0, -0.5], np.float32)})
    assert first_out_of_range({"G/1.running_var": np.array([1.0, 0.0], np.float32),
                               "optG/t": np.array(3, np.int64)}) is None


ROW = {"epoch": "1", "d_loss": "1.0", "g_loss": "1.0", "d_real": "0.5", "d_fake": "0.5", "acc_real": "0.5",
       "acc_fake": "0.5", "frechet": "", "entropy": ""}


@pytest.mark.parametrize("edit", [{"frechet": "4.2"}, {"d_loss": "1e308"}, {"epoch": "²"}, {"g_loss": "1_0"},
                                  {"entropy": "0.9"}, {"d_real": "١"}])
def test_hand_edited_history_is_refused(edit):
    with pytest.raises(NanoganError, match="history"):
        check_history([{**ROW, **edit}], 1, "x: ")
    assert check_history([{**ROW, "frechet": "4.2", "entropy": "0.9"}], 1, "x: ")
