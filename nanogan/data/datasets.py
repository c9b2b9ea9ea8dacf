"""MNIST and Fashion-MNIST: find the files, verify them, hand the GANs float arrays.

    images, labels = load_dataset("mnist", "train")   # (60000, 1, 28, 28) float32, (60000,) int64

Where the files come from, first match wins:

1. `data_dir` if given, else the environment variable NANOGAN_DATA_DIR if set;
   files missing there are downloaded into it.
2. Otherwise the copy shipped inside the package (MNIST, nanogan/data/mnist), or
   the one Debian's `dataset-fashion-mnist` installs (/usr/share/datasets/fashion-mnist),
   then the download cache ~/.cache/nanogan/<dataset>, which is where downloads go.

A directory may hold each file gzipped (`train-images-idx3-ubyte.gz`) or plain
(`train-images-idx3-ubyte`). Whatever its origin, no byte reaches the GANs
before the SHA-256 of the *decompressed* file matches the published digest:
gzip wrappers differ between copies (mirrors, Debian, the one shipped here), the
data inside is the same everywhere. A mismatch stops the run with a sentence
that names the file and what to do.

Downloads try each mirror in turn over HTTPS with a timeout, check the bytes
(the published digest of the .gz where one is known, always the decompressed
digest) *before* anything is written, then write a temporary file in the target
directory and rename it into place with os.replace. A rename is atomic, so an
interrupted download never leaves a file that looks complete.
"""
import hashlib
import os
import sys
import urllib.error
import urllib.request
from http.client import HTTPException

import numpy as np

from . import idx
from ..errors import NanoganError
from ..files import atomic_open, shown

PACKAGE_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist")
ENV_VAR = "NANOGAN_DATA_DIR"
TIMEOUT = 30.0                 # seconds a mirror may stay silent before we try the next one
MAX_DOWNLOAD = 100 * 2**20     # the largest file is 30 MB; a mirror sending more is broken

# Both datasets use the same four file names; each split is (images, labels).
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

DATASETS = {
    "mnist": {
        "files": SPLITS,
        # SHA-256 of the decompressed canonical files: what the mirrors' .gz files (their
        # digests below, the ones MNIST loaders commonly pin) decompress to, byte for byte.
        "sha256": {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        # SHA-256 of the .gz files the mirrors serve (ours were recompressed, so they differ).
        "gz_sha256": {
            "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        "mirrors": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        "local_dirs": (PACKAGE_DATA,),
    },
    "fashion-mnist": {
        "files": SPLITS,
        "sha256": {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        "gz_sha256": {},  # not published; the decompressed check above is the one that matters
        "mirrors": ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        "local_dirs": ("/usr/share/datasets/fashion-mnist",),
    },
}

# Verified uint8 arrays already read in this process, keyed by file identity, so
# loading the same split twice skips the disk, the gunzip and the hash.
_cache = {}


def load_dataset(name="mnist", split="train", data_dir=None, mirrors=None, progress=True):
    """The verified images and labels of one split of a dataset.

    Arguments:
        name: a key of DATASETS, "mnist" or "fashion-mnist".
        split: "train" (60,000 examples) or "test" (10,000).
        data_dir: a directory to read from and download into (else NANOGAN_DATA_DIR).
        mirrors: base URLs to download from, tried in order; None means the
            dataset's public mirrors, () means never download.
        progress: print download progress to stderr.

    Returns:
        images: float32 array of shape (N, 1, 28, 28), pixels p in 0..255 mapped
            to p / 127.5 - 1 in [-1, 1], the range of the generator's tanh.
        labels: int64 array of shape (N,), the class of each image (0..9).
    """
    if name not in DATASETS:
        raise NanoganError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}.")
    spec = DATASETS[name]
    if split not in spec["files"]:
        raise NanoganError(f"unknown split {split!r}; choose one of: {', '.join(spec['files'])}.")
    mirrors = spec["mirrors"] if mirrors is None else tuple(mirrors)
    dirs, download_dir = _search_dirs(name, data_dir)
    image_file, label_file = spec["files"][split]
    pixels = _load_file(spec, image_file, dirs, download_dir, mirrors, progress)  # (N, 28, 28) uint8
    labels = _load_file(spec, label_file, dirs, download_dir, mirrors, progress)  # (N,) uint8

    images = pixels.reshape(len(pixels), 1, *pixels.shape[1:]).astype(np.float32)  # (N, 1, 28, 28)
    images /= 127.5  # in place: no second 188 MB temporary
    images -= 1.0
    return images, labels.astype(np.int64)


def _search_dirs(name, data_dir):
    """The directories to look in, in order, and the one a download goes to."""
    data_dir = data_dir or os.environ.get(ENV_VAR) or None
    if data_dir:
        data_dir = os.path.expanduser(str(data_dir))
        _check_user_dir(data_dir)
        return [data_dir], data_dir
    cache = os.path.join(os.path.expanduser("~"), ".cache", "nanogan", name)
    return [*DATASETS[name]["local_dirs"], cache], cache


def _check_user_dir(path):
    """Fail early and clearly when a directory the user named cannot be used.

    A directory that does not exist yet is fine: downloads create it.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise NanoganError(f"the data directory {shown(path)} is a file, not a directory; "
                           f"point --data-dir or {ENV_VAR} at a directory.")
    if os.path.isdir(path) and not os.access(path, os.R_OK | os.X_OK):
        raise NanoganError(f"the data directory {shown(path)} cannot be read (permission denied); "
                           f"fix its permissions or point --data-dir or {ENV_VAR} elsewhere.")


def _find(dirs, file):
    """The first existing `file` or `file.gz` in `dirs`, or None."""
    for d in dirs:
        for candidate in (file, file + ".gz"):
            path = os.path.join(d, candidate)
            if os.path.exists(path):  # not isfile: a directory in the way should be an error
                return path
    return None


def _load_file(spec, file, dirs, download_dir, mirrors, progress):
    """The verified uint8 array of one of the four files, found in `dirs` or downloaded."""
    path = _find(dirs, file)
    if path is None and not mirrors:
        raise NanoganError(f"{shown(file)}(.gz) is not in {' or '.join(map(shown, dirs))} and downloading is turned off "
                           f"(no mirrors); copy the files there or point --data-dir or {ENV_VAR} at a copy.")
    if path is None:
        return _download(spec, file, download_dir, mirrors, progress)

    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)  # a replaced file is read anew
    if key not in _cache:
        buf = idx.read_bytes(path)            # decompressed, read once
        array = idx.parse_idx(buf, path)      # a view of buf: no copy
        _verify(buf, spec["sha256"][file], path)
        _cache[key] = array
    return _cache[key]


def _verify(buf, expected, path):
    """Stop unless the SHA-256 of the decompressed bytes is the published one."""
    digest = hashlib.sha256(buf).hexdigest()
    if digest == expected:
        return
    if os.path.dirname(os.path.abspath(path)) == PACKAGE_DATA:
        fix = "reinstall nanogan (or restore the file from git) to get the shipped copy back"
    else:
        fix = "delete it and run again to download a fresh copy"
    raise NanoganError(f"{shown(path)} is corrupt or not the canonical file (its SHA-256 is {digest[:16]}..., "
                       f"expected {expected[:16]}...); {fix}.")


def _download(spec, file, dest_dir, mirrors, progress):
    """Fetch `file`.gz from the first mirror serving the right bytes, save it, return its array."""
    gz_name = file + ".gz"
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + gz_name
        try:
            raw = _fetch(url, progress)
            array = _check_download(raw, spec, file, url)
        except NanoganError as e:
            failures.append(f"{shown(url)}: {str(e).rstrip('.')}")
            continue
        _write_atomically(os.path.join(dest_dir, gz_name), raw)
        return array
    raise NanoganError(f"could not download {shown(gz_name)} into {shown(dest_dir)} from any mirror "
                       f"({'; '.join(failures)}); check your network, or copy the file there "
                       f"yourself and point --data-dir or {ENV_VAR} at it.")


def _fetch(url, progress):
    """The bytes served at `url`, or NanoganError saying why not (one attempt, no retry)."""
    got = 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "nanogan"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            size = int(response.headers.get("Content-Length") or 0)  # 0: not announced
            chunks = []
            while chunk := response.read(1 << 16):
                chunks.append(chunk)
                got += len(chunk)
                if got > MAX_DOWNLOAD:
                    raise NanoganError(f"served more than {MAX_DOWNLOAD >> 20} MB, far more than the file.")
                if progress:
                    _show_progress(url, got, size)
    # HTTPError (404, 500, ...) and URLError (refused, DNS, TLS) are OSErrors, and so is
    # TimeoutError; HTTPException covers a connection the server drops mid-answer.
    except (OSError, HTTPException) as e:
        raise NanoganError(_why(e)) from None
    finally:
        if progress and got:
            sys.stderr.write("\n")  # end the status line
    if size and got != size:
        raise NanoganError(f"the connection ended early ({got} of {size} bytes).")
    return b"".join(chunks)


def _why(error):
    """A short reason for a failed request, for the list of failed mirrors."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {shown(error.reason)}"
    if isinstance(error, urllib.error.URLError):
        error = error.reason  # the underlying socket error, or a string
    if isinstance(error, TimeoutError):
        return f"no answer within {TIMEOUT:g} s (timed out)"
    return shown(error) or type(error).__name__


def _show_progress(url, got, size):
    """One status line, rewritten in place with a carriage return."""
    done = f"{100 * got // size:3d}% of {size / 1e6:.1f} MB" if size else f"{got / 1e6:.1f} MB"
    sys.stderr.write(f"\rdownloading {shown(url)}: {done}")
    sys.stderr.flush()


def _check_download(raw, spec, file, url):
    """The array in downloaded `raw` bytes, after both digest checks; else NanoganError."""
    gz_expected = spec["gz_sha256"].get(file)
    if gz_expected:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != gz_expected:
            raise NanoganError(f"served wrong bytes (SHA-256 {digest[:16]}..., "
                               f"expected {gz_expected[:16]}...).")
    buf = idx.gunzip_if_gzip(raw, url)
    array = idx.parse_idx(buf, url)
    digest = hashlib.sha256(buf).hexdigest()
    if digest != spec["sha256"][file]:
        raise NanoganError(f"served a file that decompresses to the wrong bytes "
                           f"(SHA-256 {digest[:16]}..., expected {spec['sha256'][file][:16]}...).")
    return array


def _write_atomically(path, data):
    """Write `data` to `path` so that `path` is either absent or complete
    (files.atomic_open: a temporary file beside it, renamed into place), turning an
    unwritable directory or a full disk into a sentence for the user."""
    folder = os.path.dirname(path)
    opened = False
    try:
        os.makedirs(folder, exist_ok=True)
        with atomic_open(path) as f:
            opened = True
            f.write(data)
    except OSError as e:
        if not opened:
            raise NanoganError(f"cannot write into {shown(folder)} ({e.strerror or e}); "
                               f"point --data-dir or {ENV_VAR} at a writable directory.") from None
        raise NanoganError(f"cannot write {shown(path)} ({e.strerror or e}); "
                           "free some disk space or choose another --data-dir.") from None
