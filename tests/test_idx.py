"""The IDX reader and writer: round trips, and every way a file can be broken."""
import gzip
import os
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from nanogan.errors import NanoganError
from nanogan.data.idx import idx_bytes, parse_idx, read_idx, write_idx

uint8_arrays = arrays(np.uint8, array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6))


@settings(max_examples=40, deadline=None)
@given(array=uint8_arrays, gz=st.booleans())
def test_round_trip_through_a_file(tmp_path_factory, array, gz):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.uint8
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz  # gzipped exactly when named .gz


@settings(max_examples=40, deadline=None)
@given(array=uint8_arrays)
def test_round_trip_through_bytes(array):
    np.testing.assert_array_equal(parse_idx(idx_bytes(array), "x"), array)


def test_header_layout_follows_the_format():
    buf = idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))
    assert buf[:4] == bytes([0, 0, 0x08, 2])
    assert struct.unpack(">2I", buf[4:12]) == (2, 3)
    assert buf[12:] == bytes(range(6))


def test_gzip_is_sniffed_not_guessed_from_the_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "gzipped-but-plain-name").write_bytes(gzip.compress(idx_bytes(array)))
    (tmp_path / "plain-but-named.gz").write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(tmp_path / "gzipped-but-plain-name"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-but-named.gz"), array)


def test_write_is_deterministic(tmp_path):
    array = np.ones((2, 2), np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


@pytest.mark.parametrize("array", [np.zeros(3, np.int32), np.zeros((1,) * 5, np.uint8),
                                   np.uint8(7)])
def test_write_rejects_what_the_reader_does_not_accept(array):
    with pytest.raises(ValueError):
        idx_bytes(array)


GOOD = idx_bytes(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))  # 16-byte header + 24


@pytest.mark.parametrize("buf, words", [
    (b"", "truncated"),
    (GOOD[:3], "truncated"),
    (GOOD[:10], "truncated inside its header"),
    (GOOD[:-1], "truncated: its header promises 2 x 3 x 4 = 24 bytes"),
    (GOOD + b"\0", "1 bytes after the 2 x 3 x 4 = 24 its header"),
    (b"\x01\x02" + GOOD[2:], "not an IDX file"),
    (GOOD[:2] + b"\x42" + GOOD[3:], "not an IDX file"),
    (GOOD[:2] + b"\x0d" + GOOD[3:], "float32 values"),
    (b"PK\x03\x04 a zip file, say", "not an IDX file"),
])
def test_bad_bytes_are_named(buf, words):
    with pytest.raises(NanoganError) as e:
        parse_idx(buf, "some-file")
    message = str(e.value)
    assert "some-file" in message and words in message
    assert message.endswith(".") and "\n" not in message


def test_header_dimensions_that_disagree_with_the_payload(tmp_path):
    # a well-formed header claiming 3 images of 28x28, followed by 2 images
    buf = struct.pack(">BBBB3I", 0, 0, 8, 3, 3, 28, 28) + bytes(2 * 28 * 28)
    (tmp_path / "short").write_bytes(buf)
    with pytest.raises(NanoganError, match="header promises 3 x 28 x 28 = 2352 bytes of data but only 1568"):
        read_idx(tmp_path / "short")


def test_gzip_that_is_not_gzip(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(b"\x1f\x8b" + b"certainly not deflate data" * 10)
    with pytest.raises(NanoganError, match="starts like a gzip file but does not decompress"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(GOOD * 100)[:-20])
    with pytest.raises(NanoganError, match="cut.gz starts like a gzip file"):
        read_idx(path)


def test_unreadable_path(tmp_path):
    with pytest.raises(NanoganError, match="missing does not exist"):
        read_idx(tmp_path / "missing")
    with pytest.raises(NanoganError, match="is a directory, not a regular file"):
        read_idx(tmp_path)


# -- hostile files: nothing hangs, nothing grows without bound --------------------------

def test_a_fifo_or_a_device_is_refused_without_blocking(tmp_path):
    """open() of a FIFO with no writer blocks for ever; /dev/zero behind a symlink never ends."""
    fifo = tmp_path / "train-images-idx3-ubyte"
    os.mkfifo(fifo)
    with pytest.raises(NanoganError, match="is a FIFO"):
        read_idx(fifo)
    if os.path.exists("/dev/zero"):
        (tmp_path / "zero").symlink_to("/dev/zero")
        with pytest.raises(NanoganError, match="is a device, not a regular file"):
            read_idx(tmp_path / "zero")


def test_gzip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    """A few hundred KB of gzip that would unpack to 200 MB stops at the bound."""
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        for _ in range(200):
            f.write(b"\0" * 2**20)
    assert path.stat().st_size < 2**20
    with pytest.raises(NanoganError, match="unpacks to more than"):
        read_idx(path)


def test_two_gzip_members_are_one_file(tmp_path):
    path = tmp_path / "two.gz"
    data = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
    path.write_bytes(gzip.compress(data[:7]) + gzip.compress(data[7:]))
    assert read_idx(path).tolist() == np.arange(12).reshape(3, 4).tolist()


@pytest.mark.parametrize("ndim", [5, 64, 255])
def test_absurd_dimension_counts_are_refused(ndim):
    buf = bytes([0, 0, 8, ndim]) + struct.pack(f">{ndim}I", *([1] * ndim))
    with pytest.raises(NanoganError, match=f"has {ndim} dimensions"):
        parse_idx(buf, "x")


def test_dimensions_whose_product_overflows_int64():
    """2**32-1 cubed and more: int64 arithmetic would wrap round to a small number."""
    buf = bytes([0, 0, 8, 4]) + struct.pack(">4I", *([2**32 - 1] * 4)) + b"\0" * 10
    with pytest.raises(NanoganError, match="truncated"):
        parse_idx(buf, "x")


def test_names_are_shown_escaped(tmp_path):
    with pytest.raises(NanoganError) as e:
        parse_idx(b"\1\2\3", "evil\nname\x1b[31m")
    assert "\n" not in str(e.value) and "\x1b" not in str(e.value) and "evil\\nname" in str(e.value)
