"""The shipped MNIST and Fashion-MNIST classifiers and their loss."""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nanogan.backend import get_xp, make_rng, to_host
from nanogan.eval.classifier import accuracy, features, load_classifier, make_classifier, save_classifier
from nanogan.data.datasets import load_dataset
from nanogan.errors import NanoganError
from nanogan.nn.softmax import SoftmaxCrossEntropy, log_softmax
from helpers import DEVICES, assert_close, numeric_grad


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), k=st.integers(2, 6), scale=st.sampled_from([1.0, 30.0]), seed=st.integers(0, 2**16))
def test_softmax_cross_entropy_gradient(device, n, k, scale, seed):
    xp = get_xp(device)
    rng = np.random.default_rng(seed)
    z = xp.asarray(scale * rng.standard_normal((n, k)))        # float64; scale 30 tests stability
    y = xp.asarray(rng.integers(0, k, n))
    loss = SoftmaxCrossEntropy()
    value = loss(z, y)
    assert np.isfinite(float(value)) and value.dtype == np.float64
    analytic = loss.backward()
    numeric = numeric_grad(lambda: loss.forward(z, y), z)
    assert_close(analytic, numeric, "SoftmaxCrossEntropy dL/dz", rtol=1e-5, atol=1e-8)


def test_softmax_cross_entropy_values():
    z = np.array([[1000.0, 0.0], [0.0, 0.0]], dtype=np.float32)   # no overflow at 1000
    loss = SoftmaxCrossEntropy()
    assert float(loss(z, np.array([1, 0]))) == pytest.approx((1000 + np.log(2)) / 2)
    assert loss.backward().dtype == np.float32
    np.testing.assert_allclose(np.exp(log_softmax(np.log([[1.0, 3.0]]))), [[0.25, 0.75]])
    with pytest.raises(ValueError, match="labels"):
        loss(z, np.array([0.0, 1.0]))


def test_shipped_classifier_accuracy():
    """The issue's requirement: >= 99% on the 10,000 MNIST test digits."""
    model = load_classifier()
    assert not model.training
    images, labels = load_dataset("mnist", "test")
    feats, probs = features(model, images)
    assert feats.shape == (10_000, 128) and probs.shape == (10_000, 10) and feats.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-9)
    acc = (probs.argmax(axis=1) == labels).mean()
    assert acc >= 0.99, f"test accuracy {acc:.4f} < 0.99"


def test_save_load_round_trip(tmp_path):
    model = make_classifier(make_rng(1))
    path = tmp_path / "c.npz"
    save_classifier(path, model, {"seed": 1})
    loaded = load_classifier(path)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        np.testing.assert_array_equal(to_host(a), to_host(b), err_msg=name)
    x = np.random.default_rng(0).uniform(-1, 1, (7, 1, 28, 28)).astype(np.float32)
    assert accuracy(loaded, x, np.zeros(7, dtype=np.int64), batch_size=3) >= 0  # batching runs
    with pytest.raises(NanoganError, match="the classifier is missing: .*missing.npz does not exist"):
        load_classifier(tmp_path / "missing.npz")


def test_random_shift_moves_each_image_within_bounds():
    from nanogan.eval.classifier import random_shift
    x = np.full((20, 1, 28, 28), -1, dtype=np.float32)
    x[:, 0, 13, 14] = 1                                       # one lit pixel per image
    y = random_shift(x, make_rng(0), 2)
    assert y.shape == x.shape and y.dtype == np.float32
    where = np.array([np.argwhere(img[0] == 1)[0] for img in y])   # (20, 2)
    assert (np.abs(where - [13, 14]) <= 2).all() and len({tuple(w) for w in where}) > 1


def test_the_fashion_classifier_ships_and_says_what_it_knows():
    assert load_classifier(dataset="fashion-mnist").dataset == "fashion-mnist"
    assert load_classifier().dataset == "mnist"           # saved before the name was recorded


def test_a_missing_classifier_is_one_line(tmp_path, monkeypatch):
    from nanogan.eval import classifier
    monkeypatch.setitem(classifier.WEIGHTS, "fashion-mnist", str(tmp_path / "none.npz"))
    for dataset, says in (("fashion-mnist", "nanogan's fashion-mnist classifier is missing: .*none.npz does not "
                                            "exist; train it with `python -m nanogan.eval.classifier --train --dataset "
                                            "fashion-mnist"),
                          ("cifar", "no classifier for dataset 'cifar'; nanogan ships one for: mnist, fashion-mnist")):
        with pytest.raises(NanoganError, match=says) as e:
            load_classifier(dataset=dataset)
        assert "\n" not in str(e.value) and str(e.value).endswith(".")


def test_command_line_on_another_dataset(tmp_path, monkeypatch, capsys):
    """--dataset picks the data to train and test on, and the name is saved with the weights
    (on 200 random stand-in images: this checks the plumbing, not the accuracy)."""
    from nanogan.eval.classifier import main
    from helpers import fake_dataset
    fake_dataset(monkeypatch, tmp_path)
    out = tmp_path / "c.npz"
    main(["--train", "--dataset", "fashion-mnist", "--epochs", "1", "--out", str(out)])
    assert load_classifier(out).dataset == "fashion-mnist"
    main(["--dataset", "fashion-mnist", "--out", str(out)])
    assert "fashion-mnist test accuracy" in capsys.readouterr().out


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_shipped_fashion_classifier_accuracy():
    """>= 90% on the 10,000 Fashion-MNIST test images."""
    images, labels = load_dataset("fashion-mnist", "test", mirrors=())
    acc = accuracy(load_classifier(dataset="fashion-mnist"), images, labels)
    assert acc >= 0.90, f"test accuracy {acc:.4f} < 0.90"


def test_a_bad_classifier_file_or_option_is_one_line(tmp_path, capsys):
    """The tool's command line and its weights file: text, a device, a folder, an archive
    without the marker, one with the marker but other arrays, NaN weights, a size out of
    range, an --out that cannot be written (refused before training): each one `error:`
    line and exit status 2. Nothing is unpickled (a pickle is refused as not an archive)."""
    import pickle
    from nanogan.command import main as run_command
    from nanogan.eval import classifier
    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    pickled = tmp_path / "weights.pkl"
    pickled.write_bytes(pickle.dumps({"format": "nanogan-classifier-1"}))
    no_marker, other, nan = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    np.savez(no_marker, x=np.ones(3, dtype=np.float32))
    np.savez(other, format=np.array(classifier.FORMAT), **{"model/0.W": np.ones(3, dtype=np.float32)})
    good = dict(np.load(classifier.WEIGHTS["mnist"]))
    good["model/0.W"] = np.full_like(good["model/0.W"], np.nan)
    np.savez(nan, **good)
    for argv in (["--out", str(text)], ["--out", str(pickled)], ["--out", "/dev/zero"], ["--out", str(tmp_path)],
                 ["--out", str(no_marker)], ["--out", str(other)], ["--out", str(nan)],
                 ["--train", "--epochs", "0"], ["--train", "--shift", "99"],
                 ["--train", "--out", str(tmp_path / "missing" / "w.npz")]):
        assert run_command(classifier.main, argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
