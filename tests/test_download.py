"""Downloads, against a local HTTP server serving good, bad, truncated and missing files.

Nothing here touches the real network: every dataset's mirror list is emptied,
and urlopen is wrapped to refuse any address but 127.0.0.1. The data are a tiny
stand-in data set ("tiny": 5 random 28x28 images) registered in DATASETS for
the test, with digests computed here, so the download path is exercised
exactly as for MNIST but in milliseconds.
"""
import gzip
import hashlib
import os
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from nanogan.data import datasets
from nanogan.data.datasets import DATASETS, SPLITS, load_dataset
from nanogan.errors import NanoganError
from nanogan.data.idx import idx_bytes

REAL_MIRRORS = {name: spec["mirrors"] for name, spec in DATASETS.items()}  # before any patching

rng = np.random.default_rng(0)
IMAGES = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
LABELS = rng.integers(0, 10, 5, dtype=np.uint8)
OTHER = idx_bytes(255 - IMAGES)  # a well-formed file with the wrong content
PLAIN = {}
for image_file, label_file in SPLITS.values():
    PLAIN[image_file], PLAIN[label_file] = idx_bytes(IMAGES), idx_bytes(LABELS)
GZ = {f: gzip.compress(b, mtime=0) for f, b in PLAIN.items()}


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def tiny_spec(gz_digests=True):
    """A DATASETS entry for the tiny data; without gz digests it is checked like Fashion-MNIST."""
    return {"files": SPLITS, "sha256": {f: sha256(b) for f, b in PLAIN.items()},
            "gz_sha256": {f: sha256(b) for f, b in GZ.items()} if gz_digests else {},
            "mirrors": (), "local_dirs": ()}


# What each mirror serves for a file f: (body, how).
BEHAVIOURS = {
    "good": lambda f: (GZ[f], "send"),
    "bad": lambda f: (gzip.compress(OTHER, mtime=0), "send"),   # valid gzip, valid IDX, wrong data
    "short": lambda f: (GZ[f][: len(GZ[f]) // 2], "send"),       # a truncated file, honestly sized
    "cut": lambda f: (GZ[f], "cut"),                             # connection drops halfway
    "notgz": lambda f: (b"<html>Sorry, we moved</html>", "send"),
    "hang": lambda f: (b"", "hang"),                             # never answers
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits.append(self.path)
        prefix, _, name = self.path.strip("/").partition("/")
        file = name.removesuffix(".gz")
        if prefix not in BEHAVIOURS or file not in GZ:
            self.send_error(404)
            return
        body, how = BEHAVIOURS[prefix](file)
        if how == "hang":
            self.server.release.wait(10)  # the client times out long before
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if how == "cut" else body)
        self.close_connection = True

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.hits, httpd.release = [], threading.Event()
    httpd.url = lambda prefix: f"http://127.0.0.1:{httpd.server_port}/{prefix}/"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def sandbox(monkeypatch, tmp_path):
    """Local server only, no real mirrors, no writes to the real home directory."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NANOGAN_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "TIMEOUT", 0.2)
    for spec in DATASETS.values():
        monkeypatch.setitem(spec, "mirrors", ())
    monkeypatch.setitem(DATASETS, "tiny", tiny_spec())
    monkeypatch.setitem(DATASETS, "tiny-nogz", tiny_spec(gz_digests=False))

    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def local_only(request, timeout):
        assert request.full_url.startswith("http://127.0.0.1:"), f"a test reached for {request.full_url}"
        return no_proxy.open(request, timeout=timeout)
    monkeypatch.setattr(urllib.request, "urlopen", local_only)


def files_in(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_download_verifies_writes_and_is_reused(server, tmp_path):
    data = tmp_path / "data"  # does not exist yet: downloading creates it
    images, labels = load_dataset("tiny", "train", data, mirrors=[server.url("good")], progress=False)
    np.testing.assert_array_equal(images, IMAGES[:, None] / np.float32(127.5) - 1)
    np.testing.assert_array_equal(labels, LABELS)
    assert files_in(data) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert (data / "train-images-idx3-ubyte.gz").read_bytes() == GZ["train-images-idx3-ubyte"]
    hits = len(server.hits)
    load_dataset("tiny", "train", data, mirrors=[server.url("good")], progress=False)
    assert len(server.hits) == hits  # second time from disk


def test_mirrors_are_tried_in_turn(server, tmp_path):
    mirrors = [server.url(p) for p in ("missing", "bad", "hang", "good")]
    load_dataset("tiny", "test", tmp_path, mirrors=mirrors, progress=False)
    assert [h.split("/")[1] for h in server.hits[:4]] == ["missing", "bad", "hang", "good"]
    assert files_in(tmp_path) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.mark.parametrize("dataset, prefix, words", [
    ("tiny", "missing", "HTTP 404"),
    ("tiny", "hang", "timed out"),
    ("tiny", "cut", "connection ended early"),
    ("tiny", "bad", "served wrong bytes"),
    ("tiny", "short", "served wrong bytes"),
    ("tiny", "notgz", "served wrong bytes"),
    # without a .gz digest (as for Fashion-MNIST) the decompressed check catches them
    ("tiny-nogz", "bad", "decompresses to the wrong bytes"),
    ("tiny-nogz", "short", "does not decompress"),
    ("tiny-nogz", "notgz", "not an IDX file"),
    ("tiny-nogz", "cut", "connection ended early"),
])
def test_a_bad_mirror_is_named_and_leaves_nothing(server, tmp_path, dataset, prefix, words):
    with pytest.raises(NanoganError) as e:
        load_dataset(dataset, "train", tmp_path, mirrors=[server.url(prefix)], progress=False)
    message = str(e.value)
    assert message.startswith(f"could not download train-images-idx3-ubyte.gz into {tmp_path}")
    assert server.url(prefix) + "train-images-idx3-ubyte.gz: " in message and words in message
    assert "\n" not in message and message.endswith(".")
    assert files_in(tmp_path) == []  # no partial file, no temporary file


def test_every_failed_mirror_is_listed(server, tmp_path):
    with pytest.raises(NanoganError) as e:
        load_dataset("tiny", "test", tmp_path, mirrors=[server.url("missing"), server.url("bad")],
                     progress=False)
    assert "missing/t10k-images-idx3-ubyte.gz: HTTP 404" in str(e.value)
    assert "bad/t10k-images-idx3-ubyte.gz: served wrong bytes" in str(e.value)


def test_progress_is_shown(server, tmp_path, capsys):
    load_dataset("tiny", "train", tmp_path, mirrors=[server.url("good")], progress=True)
    err = capsys.readouterr().err
    assert "downloading " in err and "100% of" in err and err.endswith("\n")


def test_unwritable_destination(server, tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(NanoganError, match="cannot write into"):
        load_dataset("tiny", "train", tmp_path / "a-file" / "data", mirrors=[server.url("good")],
                     progress=False)


def test_interrupted_write_leaves_no_file(server, tmp_path, monkeypatch):
    def interrupted(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(datasets.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("tiny", "train", tmp_path, mirrors=[server.url("good")], progress=False)
    assert files_in(tmp_path) == []


def test_fashion_looks_in_the_debian_directory_then_the_cache(server, tmp_path, monkeypatch):
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    fashion = DATASETS["fashion-mnist"]
    monkeypatch.setitem(fashion, "sha256", tiny_spec()["sha256"])  # the tiny files stand in
    monkeypatch.setitem(fashion, "local_dirs", (str(system),))
    monkeypatch.setitem(fashion, "mirrors", (server.url("good"),))

    system.mkdir()
    for file in SPLITS["train"]:
        (system / (file + ".gz")).write_bytes(GZ[file])
    load_dataset("fashion-mnist", "train", progress=False)
    assert server.hits == []  # found in the system directory

    load_dataset("fashion-mnist", "test", progress=False)  # not there: downloaded into the cache
    cache = tmp_path / "home" / ".cache" / "nanogan" / "fashion-mnist"
    assert files_in(cache) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_real_mirrors_are_https_and_several():
    for name, mirrors in REAL_MIRRORS.items():
        assert len(mirrors) >= 2, name
        assert all(m.startswith("https://") for m in mirrors), name
