"""Reading and writing IDX files, the format MNIST is distributed in.

An IDX file is a tiny header followed by the raw array, row-major:

    bytes 0-1   0x00 0x00              (always zero; the start of the "magic number")
    byte  2     dtype code             (0x08 = unsigned byte; the others are listed below)
    byte  3     number of dimensions   (1 for labels, 3 for a stack of images)
    then        one big-endian uint32 per dimension, e.g. 60000, 28, 28
    then        the payload: prod(dims) elements of that dtype

So `train-images-idx3-ubyte` starts with 00 00 08 03, then 60000, 28, 28, then
60000 * 28 * 28 = 47,040,000 bytes of pixels. nanogan only needs unsigned bytes,
so it reads and writes code 0x08 and names the others in its error message.

The files are usually gzipped. We decide by looking at the first two bytes
(the gzip magic 1f 8b), never at the file name, because names lie: a user may
have unpacked `foo.gz` without renaming it. `read_bytes` does that step and
`parse_idx` works on the result, so a caller that wants a checksum of the
decompressed bytes (datasets.py) decompresses once and parses the same buffer.
"""
import gzip
import math
import struct
import zlib

import numpy as np

from ..errors import NanoganError
from ..files import atomic_open, read_regular, shown

GZIP_MAGIC = b"\x1f\x8b"
UBYTE = 0x08
# Every dtype code of the format, so an error can say what it found.
DTYPE_NAMES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16",
               0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
MAX_DIMS = 4                   # MNIST's files have 1 (labels) or 3 (images); write_idx writes up to 4
MAX_BYTES = 64 * 2**20         # the largest file, train-images, is 47,040,016 bytes unpacked


def gunzip_if_gzip(raw, name):
    """`raw` decompressed if it starts with the gzip magic, else `raw` unchanged.

    `name` (a path or URL) is only used in the error message.
    """
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        data = _gunzip(raw, MAX_BYTES)
    # BadGzipFile (an OSError): a broken header; EOFError: the stream stops early;
    # zlib.error: the compressed data itself is damaged.
    except (OSError, EOFError, zlib.error) as e:
        raise NanoganError(f"{shown(name)} starts like a gzip file but does not decompress ({shown(e)}), "
                           "so it is damaged or cut short; replace it with a good copy.") from None
    if data is None:
        raise NanoganError(f"{shown(name)} unpacks to more than {MAX_BYTES} bytes, more than any IDX file "
                           "nanogan reads, so it is not one; replace it with a good copy.")
    return data


def _gunzip(raw, limit):
    """gzip.decompress(raw), but never more than `limit` bytes out: a few KB of gzip can
    unpack to gigabytes (None then). Members one after another (as `cat a.gz b.gz` makes) are joined."""
    out, size = [], 0
    while raw:
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)         # a gzip header, then deflate
        out.append(d.decompress(raw, limit + 1 - size))
        size += len(out[-1])
        if size > limit:
            return None
        if not d.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        raw = d.unused_data.lstrip(b"\0")                           # gzip allows zero padding between members
    return b"".join(out)


def read_bytes(path):
    """The bytes of the file at `path`, gunzipped when they are gzip."""
    return gunzip_if_gzip(read_regular(path, "the data file", MAX_BYTES), path)


def parse_idx(buf, name):
    """The array stored in the IDX bytes `buf` (already decompressed).

    Returns a uint8 array of the shape the header gives. It is a read-only view
    of `buf` (no copy), which is why loading is fast; call `.copy()` to write
    into it. Every way the bytes can disagree with the header raises
    NanoganError naming `name`.
    """
    if len(buf) < 4:
        raise NanoganError(f"{shown(name)} is truncated: it has {len(buf)} bytes, "
                           "fewer than the 4-byte IDX magic number; replace it with a good copy.")
    zero0, zero1, code, ndim = buf[0], buf[1], buf[2], buf[3]
    if zero0 != 0 or zero1 != 0 or code not in DTYPE_NAMES:
        raise NanoganError(f"{shown(name)} is not an IDX file (it starts with bytes {bytes(buf[:4]).hex(' ')}, "
                           "not 00 00 <dtype> <ndim>) nor a gzipped one; replace it with a good copy.")
    if code != UBYTE:
        raise NanoganError(f"{shown(name)} holds {DTYPE_NAMES[code]} values (IDX dtype code 0x{code:02x}), "
                           "but nanogan reads only unsigned bytes (0x08).")
    if ndim > MAX_DIMS:
        raise NanoganError(f"{shown(name)} has {ndim} dimensions in its header; an IDX file nanogan reads has "
                           f"at most {MAX_DIMS}, so it is damaged; replace it with a good copy.")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise NanoganError(f"{shown(name)} is truncated inside its header ({len(buf)} bytes, "
                           f"{header} needed for {ndim} dimensions); replace it with a good copy.")
    dims = struct.unpack(f">{ndim}I", buf[4:header])  # big-endian uint32s
    expected = math.prod(dims)                         # exact (no int64 overflow); 1 for ndim == 0, a scalar
    payload = len(buf) - header
    size = f"{' x '.join(map(str, dims))} = {expected}" if ndim > 1 else str(expected)
    if payload < expected:
        raise NanoganError(f"{shown(name)} is truncated: its header promises {size} bytes of data "
                           f"but only {payload} follow; replace it with a good copy.")
    if payload > expected:
        raise NanoganError(f"{shown(name)} has {payload - expected} bytes after the {size} its header "
                           "describes, so header and data disagree; replace it with a good copy.")
    return np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path):
    """The uint8 array in the IDX file at `path`, gzipped or plain (see parse_idx)."""
    return parse_idx(read_bytes(path), path)


def idx_bytes(array):
    """The IDX encoding of a uint8 array with 1 to 4 dimensions (the inverse of parse_idx)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"write_idx writes uint8 arrays only, got {array.dtype}")
    if not 1 <= array.ndim <= 4:
        raise ValueError(f"write_idx writes arrays of 1 to 4 dimensions, got {array.ndim}")
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, UBYTE, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()  # C order, as the format wants


def write_idx(path, array):
    """Write `array` (uint8, 1 to 4 dims) as IDX; gzip it when `path` ends in .gz."""
    data = idx_bytes(array)
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)  # mtime=0: same array, same bytes, same digest
    with atomic_open(path) as f:
        f.write(data)
