"""A run directory's life: where it may be, what is written into it and in which order,
how it is cleaned up, and what Ctrl-C does. train.py only says *what* to write.

    runs/fc-20261124-101500/
        .nanogan-run          "nanogan run <id>": the marker that nanogan made this directory
        .nanogan.lock         held (flock) by the one process working in it
        checkpoint.npz        the run's state and history: written first, atomically
        metrics.csv           one row per epoch     } copies of what the checkpoint holds, or
        samples/epoch_NNN.png the fixed-noise grid  } drawn from it, written after it; all of
        training.gif, curves.png                    } them can be written again from it
        config.json           the configuration, for people to read
        checkpoints/epoch_NNN.npz   with --save-every

Starting a run, safely (`RunDir.start`, one call; train.py's older two steps `plan` then
`open` follow the same rules, taking the lock in `open`):

    with RunDir.start(args.out, args.resume, default_name) as run:   # resolved, locked, checked
        ck = run.checkpoint                 # None, or the checkpoint loaded under the lock
        config = run_config(args, ck)
        ...                                 # build the GAN, load ck's arrays
        with run.open(config, history, epoch):
            ...                             # train: run.commit(...), run.write_grid(...), ...

The rules, each of which a test breaks on purpose:
- Paths are resolved first (os.path.realpath: symlinks and `..` as the kernel will follow
  them), and every check and every write acts on that one resolved directory.
- The lock comes first: the directory and the checkpoint are judged, and the checkpoint is
  loaded, only by the process that holds the directory's lock, and it holds it to the end.
  (`plan` also checks beforehand, writing nothing, so that a mistake is reported before any
  work; `open` judges again under the lock, and refuses a checkpoint that changed since it
  was loaded.)
- A run directory is one nanogan made: it holds the marker `.nanogan-run` with a run id.
  File names prove nothing: a folder with a config.json, a samples/ and a copied
  checkpoint.npz is the user's, and so is one with a stray `.nanogan.lock`. A directory
  made before the marker existed counts as a run if its checkpoint.npz is a nanogan
  checkpoint and its config.json is valid JSON naming the same hyper-parameters
  (config.HYPER) as the checkpoint's configuration; it is then marked.
- A new run needs a new or empty directory; one that holds anything else is refused, so
  that no file of another run (or of anything) is overwritten. Only in a directory nanogan
  marked do the leftovers of a run killed before its first checkpoint count as empty, and
  only there are `.part` files removed.
- `--resume DIR/checkpoint.npz` continues in DIR. Any other checkpoint (an older
  `checkpoints/epoch_NNN.npz`, a copy) continues only into a new or empty `--out`, which
  then gets the history and grids so far: the run it came from is never rewritten.
- Order of writes: the checkpoint is the commit point. An epoch's metrics row goes into
  the checkpoint's history, the checkpoint is renamed into place, and only then are the
  CSV, the grid, the GIF and the curves written. A crash between the two loses nothing:
  the next start of the run writes them again from the checkpoint. A resumed run writes
  config.json only after its first checkpoint, so a resume that fails changes nothing.
- Ctrl-C (or SIGTERM) does not interrupt anything: it asks the loop to stop after the
  current step, which then saves a checkpoint of exactly that step (the next resume
  carries on from the step after it, bit for bit). A second Ctrl-C stops at once; the
  last checkpoint is then the one on disk, intact.
- If a new run fails before its first checkpoint, what it created (it lists each file and
  directory as it creates it) is removed again, and nothing else: never a directory or a
  file that was there before.
- Every file read from a run directory is read only if it is a regular file of bounded
  size (files.open_regular): a FIFO or a device in its place is an error, never a hang.
"""
import contextlib
import csv
import io
import json
import os
import re
import signal
import stat
import sys
import uuid

import numpy as np

from .checkpoint import LOADED, file_identity, check_history, first_non_finite, first_out_of_range, load_checkpoint, \
    save_checkpoint, saved_config
from .config import HYPER
from ..errors import NanoganError
from ..files import MAX_NPZ_BYTES, atomic_open, check_writable_dir, open_regular, parse_json, read_regular, \
    remove_stale_parts, shown

CHECKPOINT = "checkpoint.npz"
LOCK = ".nanogan.lock"
MARKER = ".nanogan-run"
MARK = re.compile(r"nanogan run ([0-9a-f]{32})\n")
GRID = re.compile(r"epoch_(\d{3,})\.png")
MAX_TEXT = 64 * 2**20          # config.json, metrics.csv: far above what 100,000 epochs write
MAX_GRID = 16 * 2**20


def run_id(path):
    """The id in the marker of directory `path`, or None if nanogan did not mark it (the
    marker must be a regular file, not a link, holding exactly "nanogan run <32 hex>\n")."""
    marker = os.path.join(path, MARKER)
    try:
        if not stat.S_ISREG(os.lstat(marker).st_mode):
            return None
        m = MARK.fullmatch(read_regular(marker, "marker", 100).decode("ascii"))
    except (OSError, NanoganError, UnicodeDecodeError):
        return None
    return m.group(1) if m else None


def _is_legacy_run(path):
    """A run directory made before the marker: its checkpoint.npz is a nanogan checkpoint and
    its config.json names the same hyper-parameters as the checkpoint's configuration."""
    try:
        if not all(stat.S_ISREG(os.lstat(os.path.join(path, n)).st_mode) for n in (CHECKPOINT, "config.json")):
            return False
        written = parse_json(read_regular(os.path.join(path, "config.json"), "config.json", MAX_TEXT).decode())
    except (OSError, NanoganError, ValueError):
        return False
    saved = saved_config(os.path.join(path, CHECKPOINT))
    return isinstance(written, dict) and saved is not None and "arch" in saved and \
        all(written.get(k, None) == saved[k] for k in HYPER if k in saved)


def _is_run_dir(path):
    return run_id(path) is not None or _is_legacy_run(path)


def _real_dir(path):
    """A directory and not a link to one (a link in a run directory could lead writes anywhere)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_empty_dir(path, ignore=()):
    """Empty (but for `ignore`), or marked by nanogan and holding only what a new run writes
    before its first checkpoint (a run killed that early left it; it is written again the same)."""
    if not os.path.isdir(path):
        return False
    names = set(os.listdir(path)) - set(ignore)
    if not names:
        return True
    if run_id(path) is None:                   # only a directory nanogan made may hold leftovers
        return False
    names -= {"config.json", LOCK, MARKER, "samples"}
    samples = os.path.join(path, "samples")
    if os.path.lexists(samples):
        if not _real_dir(samples):
            return False
        inside = set(os.listdir(samples)) - {"epoch_000.png"}
        if any(not n.endswith(".part") for n in inside):
            return False
    return all(n.endswith(".part") for n in names)


def _holds_run(path):
    return os.path.isfile(os.path.join(path, CHECKPOINT))


def _nearest_existing(path):
    path = os.path.abspath(path)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def _as_given(given, path):
    """How to name a directory in a message: as the user gave it, and where it leads if that differs."""
    if os.path.abspath(given) == path and ".." not in os.fspath(given).split(os.sep):
        return shown(given)
    return f"{shown(given)} (that is, {shown(path)})"


class RunDir:
    """`RunDir.start(...)`: the whole safe start (resolve, lock, judge, mark, load), then
    `with run.open(...)`. The older `RunDir.plan(...)` (checks only, writes nothing) then
    `with run.open(...)` still works: open() then takes the lock and judges again."""

    def __init__(self, path, resume_in_place, source=None, resume=None):
        self.path, self.in_place, self.source = os.path.realpath(path), resume_in_place, source
        self.ckpt = os.path.join(self.path, CHECKPOINT)
        self.resume = resume            # the resolved checkpoint to continue, or None
        self.checkpoint = None          # with start(): that checkpoint, loaded under the lock
        self.run_id = None
        self.last_good = None           # (path, epoch) of the newest checkpoint on disk
        self.stop_requested = False
        self.saving = False             # a checkpoint is being written: Ctrl-C waits for it
        self.created = []               # every file and directory this run created, in order
        self._lock_fd = None
        self._lock_owner = None         # "start" or "open": who releases it
        self._config_later = None       # an in-place resume writes config.json after its first commit

    # -- the safe start ---------------------------------------------------------------

    @classmethod
    def start(cls, out=None, resume=None, default_name=None):
        """Start a run safely, in one call, and return the RunDir holding its directory's lock.

        1. resolve `out` (or `default_name` for a new run; or the folder of `resume`
           continued in place) with realpath, and check it as `plan` does, writing nothing;
        2. create the directory if it is missing (listing each directory made), take the
           lock (.nanogan.lock, flock), and only then judge the directory for good: new,
           empty, or a run nanogan marked (or, made before the marker, see `_is_legacy_run`);
        3. mark a directory the run adopts (.nanogan-run with a fresh run id, `run.run_id`);
        4. load `resume` (checkpoint.load_checkpoint) under the lock into `run.checkpoint`.

        Use it as a context manager, so that the lock is released and, if no checkpoint was
        committed, what the run created is removed, whatever happens:

            with RunDir.start(args.out, args.resume, default_name) as run:
                ck = run.checkpoint        # None for a new run
                ...
                with run.open(config, history, epoch):
                    ...

        Raises NanoganError (one sentence) for every directory the rules refuse."""
        run = cls.plan(out, resume, default_name)
        LOADED.pop(run.ckpt, None)     # read below, under the lock: an earlier read in this process is moot
        try:
            run._acquire()
            run._lock_owner = "start"
            if run.resume is not None:
                run.checkpoint = load_checkpoint(run.resume)
        except BaseException:
            run.close()
            raise
        return run

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Release the lock; if no checkpoint was committed, remove what this run created."""
        if self.last_good is None:
            self._undo()
        self._release()

    # -- before anything is written ---------------------------------------------------

    @classmethod
    def plan(cls, out, resume=None, default_name=None):
        """The run directory for a new run (resume None) or for continuing checkpoint
        `resume`; raises NanoganError for every directory the rules above refuse. Writes
        nothing; `open` (or `start`) judges again under the lock."""
        if out == "":
            raise NanoganError("--out needs a directory name.")
        if resume == "":
            raise NanoganError("--resume needs a checkpoint file.")
        if resume is not None:
            ckpt = os.path.realpath(resume)
            open_regular(ckpt, "checkpoint", MAX_NPZ_BYTES).close()      # exists, and is a file
            source = os.path.dirname(ckpt)
            is_latest = os.path.basename(ckpt) == CHECKPOINT
            if out is None and not is_latest:
                raise NanoganError(f"{shown(resume)} is not a run's {CHECKPOINT}; continue it in a new run "
                                   "directory with --out DIR.")
            if out is None or (is_latest and os.path.realpath(out) == source):
                if not _is_run_dir(source):
                    raise NanoganError(f"{shown(source)} is not a nanogan run directory, so its files are not "
                                       f"nanogan's to write; continue {shown(resume)} with --out NEWDIR.")
                check_writable_dir(source, f"the run directory {shown(source)}")
                return cls(source, resume_in_place=True, resume=ckpt)
            return cls(cls._check_new(out, resume), resume_in_place=False, source=cls._run_of(source), resume=ckpt)
        return cls(cls._check_new(out or default_name), resume_in_place=False)

    @staticmethod
    def _check_new(out, resume=None, ignore=()):
        path = os.path.realpath(out)
        name = _as_given(out, path)
        if os.path.lexists(path) and not os.path.isdir(path):
            raise NanoganError(f"--out {name} is a file, not a directory.")
        if os.path.isdir(path) and not _is_empty_dir(path, ignore):
            hint = (f"continue it with --resume {shown(os.path.join(out, CHECKPOINT))}"
                    if _holds_run(path) and not resume else "choose a new or empty directory")
            what = "holds a run" if _holds_run(path) else "is not empty"
            raise NanoganError(f"--out {name} already {what}; {hint}.")
        parent = _nearest_existing(path)
        if not os.path.isdir(parent):
            raise NanoganError(f"cannot write the run directory {name}: {shown(parent)} is a file.")
        check_writable_dir(parent, f"the run directory {name}")
        return path

    @staticmethod
    def _run_of(folder):
        """The run directory a checkpoint file lives in (its folder, or the folder above
        checkpoints/), if it is one; its grids are copied into a continuation."""
        for candidate in (folder, os.path.dirname(folder)):
            if _real_dir(os.path.join(candidate, "samples")):
                return candidate
        return None

    # -- the lock, and judging the directory under it --------------------------------------

    def _acquire(self):
        """Make the directory if missing, take its lock, judge it under the lock, mark it."""
        try:
            if not self.in_place:
                self._make_dirs(self.path)
            self._lock_fd = self._take_lock()
            if self.in_place:
                if run_id(self.path) is None and not _is_legacy_run(self.path):
                    raise NanoganError(f"{shown(self.path)} is not a nanogan run directory, so its files are not "
                                       f"nanogan's to write; continue its checkpoint with --out NEWDIR.")
                seen = LOADED.get(self.ckpt)
                if seen is not None and seen != file_identity(self.ckpt):
                    raise NanoganError(f"{shown(self.ckpt)} changed after it was read (another nanogan process "
                                       "wrote it); run the command again.")
            elif self.path not in self.created:
                self._check_new(self.path, self.resume, ignore=[p for p in (LOCK,)
                                                                if os.path.join(self.path, p) in self.created])
            for sub in ("samples", "checkpoints"):
                if os.path.lexists(os.path.join(self.path, sub)) and not _real_dir(os.path.join(self.path, sub)):
                    raise NanoganError(f"{shown(os.path.join(self.path, sub))} is not a directory; "
                                       "nanogan did not put it there.")
            self.run_id = run_id(self.path)
            if self.run_id is None or not self.in_place:
                self.run_id = uuid.uuid4().hex
                self._write(MARKER, lambda f: f.write(f"nanogan run {self.run_id}\n".encode()))
        except OSError as e:
            self.close()
            raise NanoganError(f"cannot set up the run directory {shown(self.path)} "
                               f"({e.strerror or type(e).__name__}).") from None
        except BaseException:
            self.close()
            raise

    def _make_dirs(self, path):
        """os.makedirs, one level at a time, listing each directory this run made."""
        missing = []
        while not os.path.lexists(path):
            missing.append(path)
            path = os.path.dirname(path)
        for d in reversed(missing):
            try:
                os.mkdir(d)
            except FileExistsError:            # made by someone else meanwhile: not ours
                continue
            self.created.append(d)

    def _take_lock(self):
        """An exclusive lock on DIR/.nanogan.lock for as long as the run is open (released by the
        kernel even when the process is killed). The lock file is opened without blocking and
        must be a regular file; the file locked must still be the one at its path (a process
        that gives up removes the lock file it made), else it is tried again."""
        try:
            import fcntl
        except ImportError:                    # not on Linux/macOS: no lock, as before
            return None
        path = os.path.join(self.path, LOCK)
        flags = os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        for _ in range(5):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | flags, 0o666)
                self.created.append(path)
            except FileExistsError:
                fd = os.open(path, os.O_RDONLY | flags)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                raise NanoganError(f"{shown(path)} is not a regular file; nanogan did not put it there.")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if path in self.created:       # made by us, locked by another: theirs now
                    self.created.remove(path)
                raise NanoganError(f"another nanogan process is running in {shown(self.path)}; wait for it "
                                   "or choose another directory.") from None
            except OSError as e:               # a file system without locks (ENOLCK): say so, do not guess
                os.close(fd)
                raise NanoganError(f"cannot lock the run directory {shown(self.path)} ({e.strerror}); "
                                   "choose a directory on a local disk.") from None
            now = file_identity(path)
            if now is not None and now[:2] == (st.st_dev, st.st_ino):
                return fd
            os.close(fd)                       # removed or replaced meanwhile: lock the new one
        raise NanoganError(f"another nanogan process is starting in {shown(self.path)}; try again.")

    def _release(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)            # closing releases the flock
            self._lock_fd = None

    def _undo(self):
        """Remove what this run created (files, then directories, newest first), nothing else;
        a directory someone else put something into meanwhile is left."""
        for path in reversed(self.created):
            with contextlib.suppress(OSError):
                if _real_dir(path):
                    os.rmdir(path)
                else:
                    os.remove(path)
        self.created = []

    def _write(self, name, write, text=False):
        """Write file `name` (relative to the run directory) through atomic_open, listing it as
        created if it did not exist."""
        path = os.path.join(self.path, name)
        new = not os.path.lexists(path)
        with atomic_open(path, "w" if text else "wb") as f:
            write(f)
        if new:
            self.created.append(path)

    # -- the run -----------------------------------------------------------------------

    @contextlib.contextmanager
    def open(self, config, history, epoch):
        """Make (or reopen) the directory and hold its lock (unless `start` holds it), clean up
        after a killed run, write config.json (a resumed run: after its first checkpoint) and
        the files the checkpoint's history implies, and route Ctrl-C and SIGTERM to
        `stop_requested` until the block ends. If the block fails before anything was
        committed, what this run created is removed again."""
        if self._lock_fd is None and self._lock_owner is None:
            self._acquire()
            self._lock_owner = "open"
        try:
            samples = os.path.join(self.path, "samples")
            if not os.path.lexists(samples):
                os.mkdir(samples)
                self.created.append(samples)
            for d in (self.path, samples, os.path.join(self.path, "checkpoints")):
                if _real_dir(d):
                    remove_stale_parts(d)
        except OSError as e:
            self._undo()
            self._release()
            raise NanoganError(f"cannot set up the run directory {shown(self.path)} ({e.strerror}).") from None
        if self.in_place:
            self.last_good = (self.ckpt, epoch)
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self.in_place:
                self._config_later = config
            else:
                with self.writing("config.json"):
                    self._write("config.json", lambda f: json.dump(config, f, indent=2), text=True)
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
            if self._lock_owner == "open":
                self._release()

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
        return f"the last good checkpoint, {shown(self.last_good[0])} (epoch {self.last_good[1]}), is kept"

    def read_metrics(self, upto):
        """metrics.csv's rows for epochs 1..upto, if the directory has one (the history of a
        run whose checkpoint predates format 2), checked as a checkpoint's history is."""
        path = os.path.join(self.source or self.path, "metrics.csv")
        try:
            text = read_regular(path, "metrics.csv", MAX_TEXT).decode("utf-8")
            rows = [r for r in csv.DictReader(io.StringIO(text, newline=""))
                    if re.fullmatch(r"[0-9]{1,9}", r.get("epoch") or "") and int(r["epoch"]) <= upto]
        except (NanoganError, csv.Error, UnicodeDecodeError):
            return []
        return check_history(rows, upto, f"{shown(path)} is damaged: ")

    @contextlib.contextmanager
    def writing(self, what):
        """Turn a failed write (disk full, read-only, ...) into one sentence that says
        which checkpoint is still good."""
        try:
            yield
        except OSError as e:
            raise NanoganError(f"cannot write {what} in {shown(self.path)} ({e.strerror or e}); "
                               f"{self.kept()}.") from None

    @contextlib.contextmanager
    def _creating(self, path):
        """List `path` as created by this run if it did not exist before the block wrote it."""
        new = not os.path.lexists(path)
        yield path
        if new and os.path.lexists(path):
            self.created.append(path)

    # -- writes, in the order the rules above give ---------------------------------------

    def commit(self, meta, arrays, keep_copy=False):
        """Save the checkpoint (the commit point), and a numbered copy if asked; but never
        state that has gone non-finite or absurd (checkpoint.first_out_of_range): then stop,
        keeping the last good checkpoint. A resumed run's config.json follows its first commit."""
        bad = first_non_finite({**arrays, "the running statistics": np.asarray(meta["totals"])})
        problem = None if bad is not None else first_out_of_range(arrays)
        if bad is not None or problem is not None:
            what = f"{bad} holds NaN or inf" if bad is not None else problem
            raise NanoganError(f"training diverged: {what} after epoch "
                               f"{meta['epoch'] + (meta['step'] > 0)}; {self.kept()}; try a lower --lr.")
        self.saving = True
        try:
            with self.writing(CHECKPOINT), self._creating(self.ckpt):
                save_checkpoint(self.ckpt, meta, arrays)
            self.last_good = (self.ckpt, meta["epoch"])
        finally:
            self.saving = False
        if self._config_later is not None:
            with self.writing("config.json"):
                self._write("config.json", lambda f: json.dump(self._config_later, f, indent=2), text=True)
            self._config_later = None
        if keep_copy:
            folder = os.path.join(self.path, "checkpoints")
            with self.writing("checkpoints/"):
                if not os.path.lexists(folder):
                    os.mkdir(folder)
                    self.created.append(folder)
                save_checkpoint(os.path.join(folder, f"epoch_{meta['epoch']:03d}.npz"), meta, arrays)

    def write_metrics(self, history):
        columns = list(dict.fromkeys(c for row in history for c in row))   # rows of older runs lack some

        def write(f):
            w = csv.DictWriter(f, fieldnames=columns, restval="")
            w.writeheader()
            w.writerows(history)
        with self.writing("metrics.csv"):
            self._write("metrics.csv", write, text=True)

    def write_grid(self, epoch, picture):
        from ..eval.images import save_png
        name = f"samples/epoch_{epoch:03d}.png"
        with self.writing(name), self._creating(os.path.join(self.path, name)) as path:
            save_png(path, picture)

    def write_gif(self, upto):
        """training.gif from the grids of epochs 0..upto. Only files named like nanogan's
        grids are read, and only if they are regular files of a grid's size
        (images.read_picture); one that cannot be read is left out with a warning."""
        from ..eval.images import read_picture, save_gif
        folder = os.path.join(self.path, "samples")
        frames = []
        for name in sorted(os.listdir(folder)):
            m = GRID.fullmatch(name)
            if not m or int(m.group(1)) > upto:
                continue
            try:
                frames.append(read_picture(os.path.join(folder, name), f"samples/{name}"))
            except (OSError, ValueError, NanoganError) as e:
                print(f"warning: training.gif leaves out samples/{name} ({type(e).__name__})", file=sys.stderr)
        frames = [f for f in frames if f.shape == frames[-1].shape]
        if frames:
            with self.writing("training.gif"), self._creating(os.path.join(self.path, "training.gif")) as path:
                save_gif(path, frames)

    def write_curves(self, history, title):
        from ..eval.plots import plot_curves
        with self.writing("curves.png"), self._creating(os.path.join(self.path, "curves.png")) as path:
            plot_curves(path, history, title)

    def _copy_grids(self, upto):
        """The source run's grids of epochs 0..upto, copied (regular files of a grid's size only)."""
        folder = os.path.join(self.source, "samples")
        for name in sorted(os.listdir(folder)):
            m = GRID.fullmatch(name)
            if m and int(m.group(1)) <= upto:
                try:
                    data = read_regular(os.path.join(folder, name), "grid", MAX_GRID)
                except NanoganError as e:
                    print(f"warning: {e}", file=sys.stderr)
                    continue
                self._write(os.path.join("samples", name), lambda f: f.write(data))
