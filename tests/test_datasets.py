"""The MNIST loader: the shipped copy, other directories, and every way a file can be wrong.

No test here downloads anything: every mirror list is emptied, so a missing file
is an error (downloads are tested in test_download.py against a local server).
"""
import gzip
import os
import shutil

import numpy as np
import pytest

from nanogan.data import datasets
from nanogan.data.datasets import DATASETS, PACKAGE_DATA, load_dataset
from nanogan.errors import NanoganError
from nanogan.data.idx import idx_bytes

TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(autouse=True)
def sandbox(monkeypatch, tmp_path):
    """No downloads, no real home directory, no NANOGAN_DATA_DIR from the environment."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NANOGAN_DATA_DIR", raising=False)
    for spec in DATASETS.values():
        monkeypatch.setitem(spec, "mirrors", ())


def plain_test_split(folder):
    """Unzip the shipped MNIST test split into `folder`; return the labels file's path."""
    folder.mkdir(exist_ok=True)
    for file in TEST_FILES:
        with gzip.open(os.path.join(PACKAGE_DATA, file + ".gz")) as src:
            (folder / file).write_bytes(src.read())
    return folder / TEST_FILES[1]


def one_line_error(match, **kwargs):
    """Load and return the error's message, checking it is one sentence on one line."""
    with pytest.raises(NanoganError, match=match) as e:
        load_dataset(**{"progress": False, **kwargs})
    message = str(e.value)
    assert "\n" not in message and message.endswith(".")
    return message


def test_shipped_mnist_matches_the_published_facts():
    images, labels = load_dataset("mnist", "train")
    assert images.shape == (60000, 1, 28, 28) and images.dtype == np.float32
    assert labels.shape == (60000,) and labels.dtype == np.int64
    assert images.min() == -1.0 and images.max() == 1.0
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    pixels = (images + 1) / 2  # = p / 255 for the raw pixel p
    assert abs(pixels.mean() - 0.1307) < 1e-4
    assert abs(pixels.std() - 0.3081) < 1e-4

    images, labels = load_dataset("mnist", "test")
    assert images.shape == (10000, 1, 28, 28) and labels.shape == (10000,)
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_scaling_is_exact():
    images, _ = load_dataset("mnist", "test")
    with gzip.open(os.path.join(PACKAGE_DATA, TEST_FILES[0] + ".gz")) as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    np.testing.assert_array_equal(images, raw.astype(np.float32) / np.float32(127.5) - np.float32(1))


def test_loading_twice_gives_fresh_arrays():
    first, _ = load_dataset("mnist", "test")
    first[:] = 0  # the caller owns what it gets; the in-process cache must not see this
    second, _ = load_dataset("mnist", "test")
    assert second.max() == 1.0


def test_plain_files_in_a_data_dir(tmp_path):
    plain_test_split(tmp_path / "elsewhere")
    images, labels = load_dataset("mnist", "test", data_dir=tmp_path / "elsewhere", progress=False)
    shipped, shipped_labels = load_dataset("mnist", "test")
    np.testing.assert_array_equal(images, shipped)
    np.testing.assert_array_equal(labels, shipped_labels)


def test_environment_variable_and_its_precedence(tmp_path, monkeypatch):
    plain_test_split(tmp_path / "good")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("NANOGAN_DATA_DIR", str(tmp_path / "good"))
    assert load_dataset("mnist", "test", progress=False)[0].shape == (10000, 1, 28, 28)
    monkeypatch.setenv("NANOGAN_DATA_DIR", str(tmp_path / "empty"))
    one_line_error("not in .*empty", name="mnist", split="test")
    # an explicit data_dir wins over the environment
    assert load_dataset("mnist", "test", data_dir=tmp_path / "good", progress=False)[1].shape == (10000,)


def test_checksum_mismatch_names_the_file_and_the_fix(tmp_path):
    labels_file = plain_test_split(tmp_path)
    data = bytearray(labels_file.read_bytes())
    data[-1] = (data[-1] + 1) % 10  # still a perfectly valid IDX file, one label changed
    labels_file.write_bytes(bytes(data))
    message = one_line_error("corrupt or not the canonical file", name="mnist", split="test",
                             data_dir=tmp_path)
    assert str(labels_file) in message and "delete it and run again" in message


def test_a_replaced_file_is_checked_again(tmp_path):
    labels_file = plain_test_split(tmp_path)
    load_dataset("mnist", "test", data_dir=tmp_path, progress=False)
    labels_file.write_bytes(idx_bytes(np.zeros(10000, np.uint8)))  # same size, new content
    os.utime(labels_file, ns=(1, 1))
    one_line_error("corrupt or not the canonical file", name="mnist", split="test", data_dir=tmp_path)


def test_a_damaged_shipped_copy_says_reinstall(tmp_path, monkeypatch):
    fake_package = tmp_path / "package-data"
    fake_package.mkdir()
    shutil.copy(os.path.join(PACKAGE_DATA, TEST_FILES[0] + ".gz"), fake_package)
    (fake_package / (TEST_FILES[1] + ".gz")).write_bytes(gzip.compress(idx_bytes(np.zeros(10000, np.uint8))))
    monkeypatch.setattr(datasets, "PACKAGE_DATA", str(fake_package))
    monkeypatch.setitem(DATASETS["mnist"], "local_dirs", (str(fake_package),))
    one_line_error("reinstall nanogan", name="mnist", split="test")


@pytest.mark.parametrize("damage, words", [
    (lambda b: b[: len(b) // 2], "is truncated: its header promises 10000 bytes of data but only 4996"),
    (lambda b: b"\x08\x00" + b[2:], "is not an IDX file"),
    # 10000 labels (0x2710) in the header becomes 10256 (0x2810), or 9993 (0x2709)
    (lambda b: b[:6] + b"\x28" + b[7:], "header promises 10256 bytes of data but only 10000 follow"),
    (lambda b: b[:7] + b"\x09" + b[8:], "has 7 bytes after the 9993 its header"),
    (lambda b: b"\x1f\x8b\x08" + b"junk" * 20, "starts like a gzip file but does not decompress"),
    (lambda b: gzip.compress(b)[:-100], "starts like a gzip file but does not decompress"),
])
def test_damaged_files_in_a_data_dir(tmp_path, damage, words):
    labels_file = plain_test_split(tmp_path)
    labels_file.write_bytes(damage(labels_file.read_bytes()))
    message = one_line_error(words, name="mnist", split="test", data_dir=tmp_path)
    assert message.startswith(str(labels_file))


def test_a_file_named_gz_that_is_nothing_of_the_sort(tmp_path):
    plain_test_split(tmp_path)
    os.remove(tmp_path / TEST_FILES[1])
    (tmp_path / (TEST_FILES[1] + ".gz")).write_text("404 Not Found")
    one_line_error("is not an IDX file .* nor a gzipped one", name="mnist", split="test", data_dir=tmp_path)


def test_empty_directory(tmp_path):
    message = one_line_error("downloading is turned off", name="mnist", split="test", data_dir=tmp_path)
    assert f"t10k-images-idx3-ubyte(.gz) is not in {tmp_path} and" in message


def test_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "mnist.tar").write_text("")
    one_line_error("is a file, not a directory", name="mnist", data_dir=tmp_path / "mnist.tar")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_unreadable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        one_line_error("cannot be read", name="mnist", data_dir=locked)
    finally:
        locked.chmod(0o755)


def test_unreadable_file(tmp_path):
    plain_test_split(tmp_path)
    os.remove(tmp_path / TEST_FILES[1])
    (tmp_path / TEST_FILES[1]).mkdir()  # something is there, but it cannot be read as a file
    one_line_error("is a directory, not a regular file", name="mnist", split="test", data_dir=tmp_path)


def test_unknown_names():
    one_line_error("unknown dataset 'cifar'; choose one of: mnist, fashion-mnist", name="cifar")
    one_line_error("unknown split 'valid'; choose one of: train, test", split="valid")


def test_fashion_without_its_files_points_at_the_cache(tmp_path, monkeypatch):
    monkeypatch.setitem(DATASETS["fashion-mnist"], "local_dirs", (str(tmp_path / "nowhere"),))
    message = one_line_error("downloading is turned off", name="fashion-mnist")
    cache = os.path.join(str(tmp_path), "home", ".cache", "nanogan", "fashion-mnist")
    assert f"is not in {tmp_path / 'nowhere'} or {cache} and" in message


FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Debian's dataset-fashion-mnist is not installed")
def test_installed_fashion_mnist():
    images, labels = load_dataset("fashion-mnist", "test", progress=False)
    assert images.shape == (10000, 1, 28, 28) and images.dtype == np.float32
    assert np.bincount(labels).tolist() == [1000] * 10
