"""Writing files so that a crash, a full disk or Ctrl-C never leaves a half-written one."""
import contextlib
import os
import tempfile


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


def _umask():
    """The process's umask (it can only be read by setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
