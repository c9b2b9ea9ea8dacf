"""A run directory's life: where it may be, what is written into it and in which order,
how it is cleaned up, and what Ctrl-C does. train.py only says *what* to write.

    runs/fc-20261124-101500/
        checkpoint.npz        the run's state and history: written first, atomically
        metrics.csv           one row per epoch     } copies of what the checkpoint holds, or
        samples/epoch_NNN.png the fixed-noise grid  } drawn from it, written after it; all of
        training.gif, curves.png                    } them can be written again from it
        config.json           the configuration, for people to read
        checkpoints/epoch_NNN.npz   with --save-every

The rules, each of which a test breaks on purpose:
- A new run needs a new or empty directory; one that holds anything else is refused,
  so that no file of another run (or of anything) is overwritten. (What a run killed
  before its first checkpoint left behind counts as empty.)
- `--resume DIR/checkpoint.npz` continues in DIR. Any other checkpoint (an older
  `checkpoints/epoch_NNN.npz`, a copy) continues only into a new or empty `--out`, which
  then gets the history and grids so far: the run it came from is never rewritten.
- Order of writes: the checkpoint is the commit point. An epoch's metrics row goes into
  the checkpoint's history, the checkpoint is renamed into place, and only then are the
  CSV, the grid, the GIF and the curves written. A crash between the two loses nothing:
  the next start of the run writes them again from the checkpoint.
- Ctrl-C (or SIGTERM) does not interrupt anything: it asks the loop to stop after the
  current step, which then saves a checkpoint of exactly that step (the next resume
  carries on from the step after it, bit for bit). A second Ctrl-C stops at once; the
  last checkpoint is then the one on disk, intact.
- `.part` files that a killed process left behind are removed when the run starts again.
- If a new run fails before its first checkpoint, the directory it made is removed.
- One process at a time: a second one on the same directory is refused (a lock).
"""
import contextlib
import csv
import json
import os
import re
import shutil
import signal
import sys

import numpy as np

from .checkpoint import check_history, first_non_finite, save_checkpoint
from ..errors import NanoganError
from ..files import atomic_open, check_writable_dir, remove_stale_parts

CHECKPOINT = "checkpoint.npz"
LOCK = ".nanogan.lock"
GRID = re.compile(r"epoch_(\d{3,})\.png")


def _is_empty_dir(path):
    """Empty, or holding only what a new run writes before its first checkpoint (a run
    killed that early left it; it is written again the same)."""
    if not os.path.isdir(path):
        return False
    names = set(os.listdir(path))
    if not names:
        return True
    if LOCK not in names:  # only a directory nanogan made may hold leftovers
        return False
    names -= {"config.json", LOCK, "samples"}
    if os.path.isdir(os.path.join(path, "samples")):
        inside = set(os.listdir(os.path.join(path, "samples"))) - {"epoch_000.png"}
        if any(not n.endswith(".part") for n in inside):
            return False
    elif "samples" in os.listdir(path):
        return False
    return all(n.endswith(".part") for n in names)


def _holds_run(path):
    return os.path.isfile(os.path.join(path, CHECKPOINT))


def _is_run_dir(path):
    """Made by nanogan: it holds the lock file (or, from before the lock, samples/ and config.json)."""
    return os.path.exists(os.path.join(path, LOCK)) or \
        (os.path.isdir(os.path.join(path, "samples")) and os.path.isfile(os.path.join(path, "config.json")))


def _nearest_existing(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


class RunDir:
    """Plan with `RunDir.plan(...)` (checks only, writes nothing), then `with run.open(...)`."""

    def __init__(self, path, resume_in_place, source=None):
        self.path, self.in_place, self.source = path, resume_in_place, source
        self.ckpt = os.path.join(path, CHECKPOINT)
        self.last_good = None          # (path, epoch) of the newest checkpoint on disk
        self.stop_requested = False
        self.saving = False            # a checkpoint is being written: Ctrl-C waits for it
        self.created = []              # what open() made, removed if nothing was committed

    # -- before anything is written ---------------------------------------------------

    @classmethod
    def plan(cls, out, resume=None, default_name=None):
        """The run directory for a new run (resume None) or for continuing checkpoint
        `resume`; raises NanoganError for every directory the rules above refuse."""
        if resume is not None:
            source = os.path.dirname(os.path.abspath(resume))
            is_latest = os.path.basename(resume) == CHECKPOINT
            if out is None and not is_latest:
                raise NanoganError(f"{resume} is not a run's {CHECKPOINT}; continue it in a new run "
                                   "directory with --out DIR.")
            if out is None or (is_latest and os.path.realpath(out) == os.path.realpath(source)):
                if not _is_run_dir(source):
                    raise NanoganError(f"{source} is not a nanogan run directory, so its files are not "
                                       f"nanogan's to write; continue {resume} with --out NEWDIR.")
                check_writable_dir(source, f"the run directory {source}")
                return cls(source, resume_in_place=True)
            return cls(cls._check_new(out, resume), resume_in_place=False, source=cls._run_of(source))
        return cls(cls._check_new(out or default_name), resume_in_place=False)

    @staticmethod
    def _check_new(out, resume=None):
        if os.path.exists(out) and not os.path.isdir(out):
            raise NanoganError(f"--out {out} is a file, not a directory.")
        if os.path.isdir(out) and not _is_empty_dir(out):
            hint = (f"continue it with --resume {os.path.join(out, CHECKPOINT)}" if _holds_run(out) and not resume
                    else "choose a new or empty directory")
            what = "holds a run" if _holds_run(out) else "is not empty"
            raise NanoganError(f"--out {out} already {what}; {hint}.")
        parent = _nearest_existing(out)
        if not os.path.isdir(parent):
            raise NanoganError(f"cannot write the run directory {out}: {parent} is a file.")
        check_writable_dir(parent, f"the run directory {out}")
        return out

    @staticmethod
    def _run_of(folder):
        """The run directory a checkpoint file lives in (its folder, or the folder above
        checkpoints/), if it is one; its grids are copied into a continuation."""
        for candidate in (folder, os.path.dirname(folder)):
            if os.path.isdir(os.path.join(candidate, "samples")):
                return candidate
        return None

    # -- the run -----------------------------------------------------------------------

    @contextlib.contextmanager
    def open(self, config, history, epoch):
        """Make (or reopen) the directory, hold its lock, clean up after a killed run,
        write config.json and the files the checkpoint's history implies, and route
        Ctrl-C and SIGTERM to `stop_requested` until the block ends. If the block fails
        before anything was committed, what this call made is removed again."""
        try:
            if not os.path.isdir(self.path):
                os.makedirs(self.path, exist_ok=True)
                self.created.append(self.path)
            lock = self._lock()                # before anything else: only the holder may undo
        except OSError as e:
            raise NanoganError(f"cannot set up the run directory {self.path} ({e.strerror}).") from None
        try:
            if not os.path.isdir(os.path.join(self.path, "samples")):
                os.makedirs(os.path.join(self.path, "samples"))
            for d in (self.path, os.path.join(self.path, "samples"), os.path.join(self.path, "checkpoints")):
                if os.path.isdir(d):
                    remove_stale_parts(d)
        except OSError as e:
            self._undo()
            lock.close()
            raise NanoganError(f"cannot set up the run directory {self.path} ({e.strerror}).") from None
        if self.in_place:
            self.last_good = (self.ckpt, epoch)
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            with self.writing("config.json"), atomic_open(os.path.join(self.path, "config.json"), "w") as f:
                json.dump(config, f, indent=2)
            if self.source and not self.in_place:
                with self.writing("samples/"):
                    self._copy_grids(epoch)
            if history:
                self.write_metrics(history)
            for sig in previous:
                signal.signal(sig, self._request_stop)
            yield self
        except BaseException:
            if self.last_good is None:
                self._undo()
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.close()

    def _lock(self):
        """An exclusive lock on DIR/.nanogan.lock for as long as the run is open (released by the
        kernel even when the process is killed)."""
        f = open(os.path.join(self.path, LOCK), "a")
        try:
            import fcntl
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not on Linux/macOS: no lock, as before
            pass
        except BlockingIOError:
            f.close()
            raise NanoganError(f"another nanogan process is running in {self.path}; wait for it "
                               "or choose another directory.") from None
        except OSError as e:  # a file system without locks (ENOLCK): say so, do not guess
            f.close()
            raise NanoganError(f"cannot lock the run directory {self.path} ({e.strerror}); "
                               "choose a directory on a local disk.") from None
        return f

    def _undo(self):
        """Leave the directory as plan() found it: absent, or empty."""
        if self.in_place:
            return
        if self.path in self.created:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for name in os.listdir(self.path):
            p = os.path.join(self.path, name)
            shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.remove(p)

    def _request_stop(self, signum, frame):
        """Signal handler: only flags (and a raw write: print could be mid-write already).
        A second Ctrl-C stops at once, except during a save, which it must not cut short."""
        if self.stop_requested and signum == signal.SIGINT and not self.saving:
            raise KeyboardInterrupt
        self.stop_requested = True
        os.write(2, f"\n{signal.Signals(signum).name}: stopping after this step and saving a checkpoint "
                    "(Ctrl-C again to stop at once)\n".encode())

    def kept(self):
        """What a failure leaves: a sentence part naming the last good checkpoint."""
        if self.last_good is None:
            return "no checkpoint was saved"
        return f"the last good checkpoint, {self.last_good[0]} (epoch {self.last_good[1]}), is kept"

    def read_metrics(self, upto):
        """metrics.csv's rows for epochs 1..upto, if the directory has one (the history of a
        run whose checkpoint predates format 2), checked as a checkpoint's history is."""
        path = os.path.join(self.source or self.path, "metrics.csv")
        try:
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if r.get("epoch", "").isdigit() and int(r["epoch"]) <= upto]
        except (OSError, csv.Error, UnicodeDecodeError):
            return []
        return check_history(rows, upto, f"{path} is damaged: ")

    @contextlib.contextmanager
    def writing(self, what):
        """Turn a failed write (disk full, read-only, ...) into one sentence that says
        which checkpoint is still good."""
        try:
            yield
        except OSError as e:
            raise NanoganError(f"cannot write {what} in {self.path} ({e.strerror or e}); {self.kept()}.") from None

    # -- writes, in the order the rules above give ---------------------------------------

    def commit(self, meta, arrays, keep_copy=False):
        """Save the checkpoint (the commit point), and a numbered copy if asked; but never
        state that has gone non-finite: then stop, keeping the last good checkpoint."""
        bad = first_non_finite({**arrays, "the running statistics": np.asarray(meta["totals"])})
        if bad is not None:
            raise NanoganError(f"training diverged: {bad} holds NaN or inf after epoch "
                               f"{meta['epoch'] + (meta['step'] > 0)}; {self.kept()}; try a lower --lr.")
        self.saving = True
        try:
            with self.writing(CHECKPOINT):
                save_checkpoint(self.ckpt, meta, arrays)
            self.last_good = (self.ckpt, meta["epoch"])
        finally:
            self.saving = False
        if keep_copy:
            folder = os.path.join(self.path, "checkpoints")
            with self.writing("checkpoints/"):
                os.makedirs(folder, exist_ok=True)
                save_checkpoint(os.path.join(folder, f"epoch_{meta['epoch']:03d}.npz"), meta, arrays)

    def write_metrics(self, history):
        columns = list(dict.fromkeys(c for row in history for c in row))   # rows of older runs lack some
        with self.writing("metrics.csv"), atomic_open(os.path.join(self.path, "metrics.csv"), "w") as f:
            w = csv.DictWriter(f, fieldnames=columns, restval="")
            w.writeheader()
            w.writerows(history)

    def write_grid(self, epoch, picture):
        from ..eval.images import save_png
        with self.writing(f"samples/epoch_{epoch:03d}.png"):
            save_png(os.path.join(self.path, "samples", f"epoch_{epoch:03d}.png"), picture)

    def write_gif(self, upto):
        """training.gif from the grids of epochs 0..upto. Only files named like nanogan's
        grids are read; one that cannot be read is left out with a warning."""
        from PIL import Image

        from ..eval.images import save_gif
        folder = os.path.join(self.path, "samples")
        frames = []
        for name in sorted(os.listdir(folder)):
            m = GRID.fullmatch(name)
            if not m or int(m.group(1)) > upto:
                continue
            try:
                with Image.open(os.path.join(folder, name)) as im:
                    frames.append(np.asarray(im.convert("L")))
            except (OSError, ValueError) as e:
                print(f"warning: training.gif leaves out samples/{name} ({type(e).__name__})", file=sys.stderr)
        frames = [f for f in frames if f.shape == frames[-1].shape]
        if frames:
            with self.writing("training.gif"):
                save_gif(os.path.join(self.path, "training.gif"), frames)

    def write_curves(self, history, title):
        from ..eval.plots import plot_curves
        with self.writing("curves.png"):
            plot_curves(os.path.join(self.path, "curves.png"), history, title)

    def _copy_grids(self, upto):
        folder = os.path.join(self.source, "samples")
        for name in os.listdir(folder):
            m = GRID.fullmatch(name)
            if m and int(m.group(1)) <= upto:
                shutil.copyfile(os.path.join(folder, name), os.path.join(self.path, "samples", name))
