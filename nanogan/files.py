"""Files that survive faults: atomic writes, and reads that trust nothing they read.

Writing: a crash, a full disk or Ctrl-C must never leave a half-written file, so every
file nanogan writes goes to a temporary `.part` file beside its destination and is
renamed over it only once complete (`atomic_open`).

Reading: a checkpoint or a sample file may be truncated, bit-flipped, hand-edited or
not what its name says. `read_npz` / `read_npy` parse NumPy's formats themselves
(a zip archive of `.npy` members; each `.npy` a header, then the raw bytes) and check
every size against the header before allocating anything, so that a damaged file is
one NanoganError, never a traceback, a 100 GB allocation or an unpickled object.
"""
import contextlib
import glob
import math
import os
import tempfile
import zipfile

import numpy as np

from .errors import NanoganError

MAX_ARRAY_BYTES = 2**31  # far above any nanogan array (the largest checkpoint entry is ~13 MB)


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file beside `path`; on a clean exit it is flushed, synced and
    renamed over `path` (a rename within one directory is atomic), on any error or
    interrupt it is removed. So `path` is always either the old file or the new one.

        with atomic_open("ckpt.npz") as f:
            np.savez(f, **arrays)
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".part")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private (0600); give it a normal file's mode
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def remove_stale_parts(folder):
    """Delete the `.part` files a killed process left in `folder` (SIGKILL skips the
    cleanup in `atomic_open`). Returns how many were removed."""
    stale = glob.glob(os.path.join(glob.escape(folder), ".*.part"))
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    return len(stale)


def check_writable_dir(folder, what):
    """Raise NanoganError unless a file can be created in `folder` (tried for real: on a
    read-only file system, or for root, permission bits alone say nothing)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".nanogan-probe.", suffix=".part")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise NanoganError(f"cannot write {what}: {folder} is not a writable directory "
                           f"({e.strerror or type(e).__name__}).") from None


def check_output_file(path, flag):
    """Before any work: `path` must be creatable (its folder exists and is writable) and
    must not be a directory, so that a long computation does not end in a failed write."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise NanoganError(f"{flag} {path} is a directory; give a file name.")
    if not os.path.isdir(folder):
        raise NanoganError(f"cannot write {flag} {path}: the folder {folder} does not exist.")
    check_writable_dir(folder, f"{flag} {path}")


def _umask():
    """The process's umask (it can only be read by setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- reading -------------------------------------------------------------------------

def _read_npy_member(f, size):
    """One array from an open `.npy` stream of `size` bytes in all.

    The header gives dtype, shape and order; the rest must be exactly
    prod(shape) * itemsize bytes. Object arrays (which would need pickle) are refused.
    """
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError("object arrays need pickle, which nanogan never loads")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES or size - f.tell() != nbytes:
        raise ValueError(f"header says {shape} {dtype} ({nbytes} bytes), the file holds {size - f.tell()}")
    data = f.read(nbytes)                      # reading to the end also checks a zip member's CRC
    if len(data) != nbytes:
        raise ValueError("truncated array data")
    a = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return a.copy()                            # writable, owning its memory


@contextlib.contextmanager
def _reading(path, what, kind):
    """Every way of failing to read `path` as one NanoganError sentence."""
    try:
        yield
    except FileNotFoundError:
        raise NanoganError(f"{what} {path} does not exist.") from None
    except IsADirectoryError:
        raise NanoganError(f"{what} {path} is a directory, not a file.") from None
    except PermissionError:
        raise NanoganError(f"{what} {path} cannot be read (permission denied).") from None
    except Exception as e:  # noqa: BLE001  any failure to parse untrusted bytes means damage
        raise NanoganError(f"{what} {path} is corrupt or not {kind} ({type(e).__name__}).") from None


def read_npz(path, what="file"):
    """{name: array} of an .npz archive as np.savez writes it (members stored, not
    compressed: a compressed member could unpack to far more than the file's size),
    every member checked (see the module docstring). Any damage is a NanoganError naming `what`."""
    with _reading(path, what, "an .npz archive"), zipfile.ZipFile(path) as z:
        out = {}
        for info in z.infolist():
            name = info.filename
            if not name.endswith(".npy") or name[:-4] in out or info.file_size > MAX_ARRAY_BYTES \
                    or info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"unexpected member {name!r}")
            with z.open(info) as f:
                out[name[:-4]] = _read_npy_member(f, info.file_size)
        return out


def read_npy(path, what="file"):
    """The array in a .npy file, checked as `read_npz` checks each member."""
    with _reading(path, what, "a .npy file"), open(path, "rb") as f:
        return _read_npy_member(f, os.fstat(f.fileno()).st_size)
