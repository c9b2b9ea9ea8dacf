"""Files that survive faults: atomic writes, and reads that trust nothing they read.

Writing: a crash, a full disk or Ctrl-C must never leave a half-written file, so every
file nanogan writes goes to a temporary `.part` file beside its destination and is
renamed over it only once complete (`atomic_open`). Any OSError on the way (a full disk,
a read-only folder, a name too long) is a `WriteError`: a NanoganError, so that it reaches
the user as one `error:` line, and an OSError, so that a caller that adds context (which
checkpoint is still good) can catch it as before.

Reading: a checkpoint, an IDX file or a sample file may be truncated, bit-flipped,
hand-edited or not what its name says, and a path may lead to a FIFO (whose open blocks
for ever) or to /dev/zero (endless). `open_regular` opens without blocking, refuses
anything but a regular file and anything larger than the caller's bound, before a byte
is read. `read_npz` / `read_npy` parse NumPy's formats themselves (a zip archive of
`.npy` members; each `.npy` a header, then the raw bytes) and check every size against
the header, and the members' sizes against the archive's, before allocating anything;
`parse_json` bounds the nesting depth before json.loads recurses. So a damaged file is
one NanoganError, never a traceback, a hang, a 100 GB allocation or an unpickled object.

Anything of the user's or of a file that goes into an error message goes through
`shown`, so that a newline or a terminal escape in a name cannot split or colour the line.
"""
import contextlib
import glob
import json
import math
import os
import re
import stat
import tempfile
import zipfile

import numpy as np

from .errors import NanoganError

MAX_ARRAY_BYTES = 2**31  # far above any nanogan array (the largest checkpoint entry is ~13 MB)
MAX_NPZ_BYTES = 2**32    # a checkpoint of the largest configuration config.py allows is below this
MAX_MEMBERS = 10_000     # a checkpoint has a few dozen
MAX_JSON_DEPTH = 16      # nanogan's JSON (configuration, history, random state) is 3 deep at most
NAME_MAX = 255           # bytes in one file name on Linux, macOS and Windows file systems


def shown(text):
    """`text` (a path, a key, a name read from a file) as it may appear in a one-line message:
    as is when every character is printable, else Python's ascii() of it, escapes visible."""
    text = os.fsdecode(text) if isinstance(text, (bytes, os.PathLike)) else str(text)
    return text if text.isprintable() else ascii(text)


class WriteError(NanoganError, OSError):
    """A file could not be written: one sentence for the user, and still an OSError
    (errno, strerror) for a caller that adds what is kept."""

    def __init__(self, path, error):
        reason = error.strerror or str(error) or type(error).__name__
        self.message = f"cannot write {shown(path)} ({reason})."
        super().__init__(self.message)
        self.errno, self.strerror, self.filename = error.errno, reason, os.fspath(path)
        self.args = (self.message,)

    def __str__(self):
        return self.message


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file beside `path`; on a clean exit it is flushed, synced and
    renamed over `path` (a rename within one directory is atomic), on any error or
    interrupt it is removed. So `path` is always either the old file or the new one.
    Any OSError (in the caller's writes too) becomes a WriteError naming `path`.

        with atomic_open("ckpt.npz") as f:
            np.savez(f, **arrays)
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=part_prefix(path), suffix=".part")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private (0600); give it a normal file's mode
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.remove(tmp)
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise WriteError(path, e) from None
        raise


def part_prefix(path):
    """The start of a temporary name for `path`: "." + its name, cut so that the whole
    temporary name (mkstemp adds 8 characters, then ".part") stays within NAME_MAX bytes."""
    name = os.fsencode(os.path.basename(path))[:NAME_MAX - len(b"..") - 8 - len(b".part")]
    return "." + os.fsdecode(name) + "."                       # a character cut in two stays bytes


def remove_stale_parts(folder):
    """Delete the `.part` files a killed process left in `folder` (SIGKILL skips the
    cleanup in `atomic_open`). Only regular files named as atomic_open names them; call
    it only on a folder nanogan made (rundir). Returns how many were removed."""
    removed = 0
    for path in glob.glob(os.path.join(glob.escape(folder), ".*.part")):
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.remove(path)
                removed += 1
    return removed


def check_writable_dir(folder, what):
    """Raise NanoganError unless a file can be created in `folder` (tried for real: on a
    read-only file system, or for root, permission bits alone say nothing)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".nanogan-probe.", suffix=".part")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise NanoganError(f"cannot write {what}: {shown(folder)} is not a writable directory "
                           f"({e.strerror or type(e).__name__}).") from None


def check_output_file(path, flag):
    """Before any work: `path` must be creatable (its folder exists and is writable, its
    name fits the file system) and must not be a directory, so that a long computation
    does not end in a failed write."""
    if not path:
        raise NanoganError(f"{flag} needs a file name.")
    folder = os.path.dirname(os.path.realpath(path))
    if os.path.isdir(path):
        raise NanoganError(f"{flag} {shown(path)} is a directory; give a file name.")
    if len(os.fsencode(os.path.basename(path))) > NAME_MAX:
        raise NanoganError(f"{flag} {shown(path)}: the file name is longer than {NAME_MAX} bytes.")
    if not os.path.isdir(folder):
        raise NanoganError(f"cannot write {flag} {shown(path)}: the folder {shown(folder)} does not exist.")
    check_writable_dir(folder, f"{flag} {shown(path)}")


def _umask():
    """The process's umask (it can only be read by setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- reading -------------------------------------------------------------------------

KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a device"),
         (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))


def open_regular(path, what, limit):
    """`path` opened for binary reading if it is a regular file of at most `limit` bytes,
    else NanoganError naming `what`. The open itself never blocks (O_NONBLOCK: a FIFO
    with no writer would wait for ever) and the type is checked on the opened file
    (fstat), so a symlink or a swap cannot lead it elsewhere between check and read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise NanoganError(f"{what} {shown(path)} does not exist.") from None
    except PermissionError:
        raise NanoganError(f"{what} {shown(path)} cannot be read (permission denied).") from None
    except OSError as e:
        raise NanoganError(f"{what} {shown(path)} cannot be read ({e.strerror or type(e).__name__}).") from None
    try:
        st = os.fstat(fd)
        kind = next((name for test, name in KINDS if test(st.st_mode)), None if stat.S_ISREG(st.st_mode) else "not a file")
        if kind:
            raise NanoganError(f"{what} {shown(path)} is {kind}, not a regular file.")
        if st.st_size > limit:
            raise NanoganError(f"{what} {shown(path)} is {st.st_size} bytes, more than the {limit} any such "
                               "file of nanogan's has; it is not one.")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path, what, limit):
    """The bytes of `path`, read only if it is a regular file of at most `limit` bytes
    (open_regular); a file that grows while it is read is cut off at limit + 1 and refused."""
    with open_regular(path, what, limit) as f:
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise NanoganError(f"{what} {shown(path)} cannot be read ({e.strerror or type(e).__name__}).") from None
    if len(data) > limit:
        raise NanoganError(f"{what} {shown(path)} grew past {limit} bytes while it was read.")
    return data


def json_depth(text):
    """The deepest nesting of [ and { in the JSON `text`, counted without parsing it (so
    without recursion): escaped characters are dropped, then brackets between quotes
    (inside strings) are not counted. An upper bound of what json.loads would recurse into."""
    text = re.sub(r"\\.", "", text, flags=re.S)
    b = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    inside = np.cumsum(b == ord('"')) % 2 == 1                      # (n,) within a string
    step = np.isin(b, (ord("["), ord("{"))).astype(np.int64) - np.isin(b, (ord("]"), ord("}")))
    step[inside] = 0
    return int(np.cumsum(step).max(initial=0))


def parse_json(text, max_depth=MAX_JSON_DEPTH):
    """json.loads(text) for text from a file: ValueError (not RecursionError, not a
    traceback) unless it is a str nested at most `max_depth` deep."""
    if not isinstance(text, str):
        raise ValueError(f"expected JSON text, got {type(text).__name__}")
    if json_depth(text) > max_depth:
        raise ValueError(f"JSON nested more than {max_depth} deep")
    return json.loads(text)


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
        raise NanoganError(f"{what} {shown(path)} does not exist.") from None
    except IsADirectoryError:
        raise NanoganError(f"{what} {shown(path)} is a directory, not a file.") from None
    except PermissionError:
        raise NanoganError(f"{what} {shown(path)} cannot be read (permission denied).") from None
    except Exception as e:  # noqa: BLE001  any failure to parse untrusted bytes means damage
        raise NanoganError(f"{what} {shown(path)} is corrupt or not {kind} ({type(e).__name__}).") from None


def read_npz(path, what="file", only=None):
    """{name: array} of an .npz archive as np.savez writes it (members stored, not
    compressed: a compressed member could unpack to far more than the file's size),
    every member checked (see the module docstring): stored members lie side by side, so
    their sizes add up to at most the archive's (overlapping members, which would let a
    small file unpack to gigabytes, do not). `only`: read just these names (others are
    skipped unread). Any damage is a NanoganError naming `what`."""
    with open_regular(path, what, MAX_NPZ_BYTES) as raw:
        size = os.fstat(raw.fileno()).st_size
        with _reading(path, what, "an .npz archive"), zipfile.ZipFile(raw) as z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > size:
                raise ValueError("members larger than the archive")
            out = {}
            for info in infos:
                name = info.filename
                if not name.endswith(".npy") or name[:-4] in out or info.file_size > MAX_ARRAY_BYTES \
                        or info.compress_type != zipfile.ZIP_STORED:
                    raise ValueError(f"unexpected member {name!r}")
                if only is not None and name[:-4] not in only:
                    continue
                with z.open(info) as f:
                    out[name[:-4]] = _read_npy_member(f, info.file_size)
            return out


def read_npy(path, what="file"):
    """The array in a .npy file, checked as `read_npz` checks each member."""
    with open_regular(path, what, MAX_ARRAY_BYTES + 2**16) as f, _reading(path, what, "a .npy file"):
        return _read_npy_member(f, os.fstat(f.fileno()).st_size)
