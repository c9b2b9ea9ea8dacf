"""A damaged or hand-edited checkpoint is one `error:` line or a valid run, never a
traceback, never a silent cast, never a lost good checkpoint.

A hypothesis-driven mutator damages a real checkpoint in every way a disk, a network copy
or a person can: truncation, flipped bytes, entries of the wrong dtype or shape, missing
and extra entries, non-finite weights, and nonsense in the configuration, epoch, step,
random state and history.
"""
import csv
import io
import json
import os
import shutil
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nanogan.run.checkpoint import FORMAT, load_checkpoint
from nanogan.errors import NanoganError
from nanogan.files import read_npy, read_npz
from runs import SMALL, assert_one_error, main, ok

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A real 1-epoch checkpoint of the conditional GAN (the widest config) and its bytes."""
    out = tmp_path_factory.mktemp("good") / "run"
    ok("--arch", "cgan", "--epochs", 1, "--out", out, *SMALL)
    path = out / "checkpoint.npz"
    return path, path.read_bytes()


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """A mutated config may name another dataset; its download must not reach the network."""
    import urllib.request

    def refuse(*args, **kw):
        raise OSError("the tests never download")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def entries(raw):
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        return {name[:-4]: np.lib.format.read_array(z.open(name)) for name in z.namelist()}


def pack(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


JUNK = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                 st.none(), st.booleans(), st.lists(st.integers(), max_size=3), st.just({}))


@st.composite
def damage(draw, raw):
    """bytes of a damaged copy of the checkpoint `raw`, and a word saying how."""
    kind = draw(st.sampled_from(["truncate", "flip", "dtype", "shape", "drop", "extra", "nan", "config",
                                 "meta", "history"]))
    if kind == "truncate":
        return raw[:draw(st.integers(0, len(raw) - 1))], kind
    if kind == "flip":
        data = bytearray(raw)
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        return bytes(data), kind
    arrays = entries(raw)
    weights = sorted(k for k in arrays if "/" in k)
    key = draw(st.sampled_from(weights))
    if kind == "dtype":
        arrays[key] = arrays[key].astype(draw(st.sampled_from([np.float64, np.float16, np.int32, np.uint8])))
    elif kind == "shape":
        arrays[key] = draw(st.sampled_from([arrays[key].reshape(-1)[:-1] if arrays[key].size > 1 else np.zeros(2),
                                            np.zeros(arrays[key].shape + (1,), arrays[key].dtype),
                                            np.zeros((), arrays[key].dtype)]))
    elif kind == "drop":
        del arrays[draw(st.sampled_from(sorted(arrays)))]
    elif kind == "extra":
        arrays[draw(st.sampled_from(["G/99.W", "optD/m.999", "junk", "config2"]))] = np.zeros(3, np.float32)
    elif kind == "nan":
        a = arrays[key].copy()
        if a.dtype.kind == "f" and a.size:
            a.reshape(-1)[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        arrays[key] = a
    elif kind == "config":
        config = json.loads(arrays["config"].item())
        name = draw(st.sampled_from(sorted(config) + ["unknown_option"]))
        if draw(st.booleans()) and name in config:
            del config[name]
        else:
            config[name] = draw(JUNK)
        arrays["config"] = np.array(json.dumps(config))
    elif kind == "meta":
        name = draw(st.sampled_from(["epoch", "step", "rng", "epoch_rng", "totals", "seconds", "format"]))
        arrays[name] = np.array(draw(st.one_of(JUNK.filter(lambda v: not isinstance(v, dict)),
                                               st.just(json.dumps({"bit_generator": "PCG64"})))))
    else:
        row = st.fixed_dictionaries({"epoch": st.sampled_from(["0", "1", "x"])},
                                    optional={k: st.one_of(st.text(max_size=3), st.sampled_from(["0.5", "nan", ""]))
                                              for k in ("d_loss", "g_loss", "d_real", "d_fake", "acc_real", "acc_fake",
                                                        "frechet")})
        arrays["history"] = np.array(json.dumps(draw(st.one_of(JUNK, st.lists(row, max_size=3)))))
    return pack(arrays), kind


@SETTINGS
@given(data=st.data())
def test_damaged_checkpoint_is_one_error_line_or_a_valid_run(good, data, capsys):
    path, raw = good
    bad, kind = data.draw(damage(raw))
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "checkpoint.npz")
        with open(ck, "wb") as f:
            f.write(bad)
        for argv in (["sample.py", ck, "--num-samples", 3, "--out", os.path.join(tmp, "s.npy")],
                     ["--resume", ck, "--epochs", 2, "--out", os.path.join(tmp, "next")]):
            code, out, err = main(capsys, *argv)
            if code != 0:
                assert_one_error(code, out, err, "")
                assert not os.path.exists(os.path.join(tmp, "next")), f"{kind}: a failed resume left a directory"
            elif argv[0] == "sample.py":
                s = np.load(os.path.join(tmp, "s.npy"), allow_pickle=False)
                assert s.shape == (3, 28, 28) and s.dtype == np.uint8, (kind, s.shape, s.dtype)
            else:  # a damage that left a valid checkpoint trains on from it, into a whole run
                assert load_checkpoint(os.path.join(tmp, "next", "checkpoint.npz"))["epoch"] == 2, kind
    assert path.read_bytes() == raw, "the good checkpoint was modified"


@pytest.mark.parametrize("arch", [{}, [], ["dcgan"], 3])
def test_unhashable_or_odd_arch_is_one_error_line(good, tmp_path, capsys, arch):
    """The legacy filling reads "arch" before the configuration is checked; a damaged file's
    arch of any JSON type must still end in the checks' one error line (hypothesis found {})."""
    path, raw = good
    arrays = entries(raw)
    config = json.loads(arrays["config"].item())
    config["arch"] = arch
    arrays["config"] = np.array(json.dumps(config))
    (tmp_path / "c.npz").write_bytes(pack(arrays))
    assert_one_error(*main(capsys, "sample.py", tmp_path / "c.npz", "--out", tmp_path / "s.npy"),
                     "--arch must be one of")


def test_wrong_dtype_is_refused_not_cast(good, tmp_path, capsys):
    path, raw = good
    arrays = entries(raw)
    arrays["G/0.W"] = arrays["G/0.W"].astype(np.float64)
    (tmp_path / "c.npz").write_bytes(pack(arrays))
    assert_one_error(*main(capsys, "sample.py", tmp_path / "c.npz", "--out", tmp_path / "s.npy"),
                     "G/0.W is float64 (110, 256), expected float32 (110, 256)")


@pytest.mark.parametrize("edit, says", [
    (lambda a: a.update(epoch=np.array(-3)), "epoch must be a non-negative integer"),
    (lambda a: a.update(epoch=np.array(50)), "is past its run's 1 epochs"),
    (lambda a: a.update(config=np.array(json.dumps({**json.loads(a["config"].item()), "lr": -1}))),
     "--lr must be a positive number"),
    (lambda a: a.update(config=np.array(json.dumps({**json.loads(a["config"].item()), "z_dim": 10**9}))),
     "--z-dim must be an integer from 1 to 4096"),
    (lambda a: a.update(rng=np.array("{}")), "rng is not a random generator's state"),
    (lambda a: a.update(history=np.array('[{"epoch": "1", "d_loss": "x"}]')), "its history is not a list"),
    (lambda a: a.update(history=np.array('[{"epoch": "1"}]')), "its history is not a list"),
    (lambda a: a.update(config=np.array(json.dumps({**json.loads(a["config"].item()), "dataset": []}))),
     "--dataset must be one of"),                    # found by the mutator: a list is not hashable
    (lambda a: a.pop("optD/t"), "it lacks optD/t"),
    (lambda a: a.update(format=np.array("something else")), "is not a nanogan checkpoint"),
])
def test_hand_edits_are_named(edit, says, good, tmp_path, capsys):
    path, raw = good
    arrays = entries(raw)
    edit(arrays)
    (tmp_path / "c.npz").write_bytes(pack(arrays))
    assert_one_error(*main(capsys, "sample.py", tmp_path / "c.npz", "--out", tmp_path / "s.npy"), says)


def test_format_1_checkpoints_are_still_read(good, tmp_path, capsys):
    """A checkpoint from before format 2 (no step, history, epoch_rng; no dropout option)."""
    path, raw = good
    arrays = entries(raw)
    for key in ("step", "epoch_rng", "totals", "seconds", "history"):
        del arrays[key]
    config = json.loads(arrays["config"].item())
    for key in ("dropout", "eval_every", "eval_samples", "save_every"):
        del config[key]
    arrays.update(format=np.array("nanogan-checkpoint-1"), config=np.array(json.dumps(config)))
    os.makedirs(tmp_path / "old")
    shutil.copytree(path.parent / "samples", tmp_path / "old" / "samples")
    shutil.copy(path.parent / "config.json", tmp_path / "old" / "config.json")
    # the metrics.csv of that time: no precision and recall columns yet
    with open(path.parent / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(tmp_path / "old" / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[c for c in rows[0] if c not in ("precision", "recall")],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (tmp_path / "old" / "checkpoint.npz").write_bytes(pack(arrays))
    for epochs in (2, 3):         # twice: the second resume reads the history the first one saved
        code, out, err = main(capsys, "--resume", tmp_path / "old" / "checkpoint.npz", "--epochs", epochs)
        assert code == 0, err
    ck = load_checkpoint(tmp_path / "old" / "checkpoint.npz")
    assert [r["epoch"] for r in ck["history"]] == ["1", "2", "3"] and ck["config"]["dropout"] is None, ck["history"]
    assert ck["history"][0]["precision"] == "" and "precision" in ck["history"][2], ck["history"]


def test_checkpoints_from_before_the_new_options_keep_their_recipe(tmp_path, capsys):
    """A DCGAN checkpoint saved before --lr-d, --lr-decay, --ema, --width, --d-norm,
    --mbd-distance, --d-width, --lr-hold, --spectral-norm, --loss, --codes and --code-scale existed loads with the
    behaviour its run had (one learning rate that never decays, no averaging, 64 channels, BatchNorm
    in D and no spectral normalisation, the L1 distance, D as wide as G, no hold-then-decay, the
    BCE, G fed the noise alone, a code's entry 1), not today's defaults, and resumes."""
    out = tmp_path / "run"
    # what such a run was: the textbook DCGAN (64 channels, one learning rate, no averaging,
    # no label smoothing)
    ok("--arch", "dcgan", "--epochs", 1, "--ema", 0, "--width", 64, "--d-width", 64, "--mbd-distance", "l1",
       "--lr", 2e-4, "--lr-d", 2e-4, "--real-label", 1, "--no-spectral-norm", "--d-norm", "batch", "--codes", 0,
       "--out", out, *SMALL)
    path = out / "checkpoint.npz"
    arrays = entries(path.read_bytes())
    config = json.loads(arrays["config"].item())
    for key in ("lr_d", "lr_decay", "ema", "width", "d_norm", "mbd_distance", "d_width", "lr_hold", "d_sn", "loss",
                "codes", "code_scale"):
        del config[key]
    arrays.update(config=np.array(json.dumps(config)))
    path.write_bytes(pack(arrays))
    ck = load_checkpoint(path)
    keys = ("lr_d", "lr_decay", "ema", "width", "d_norm", "mbd_distance", "d_width", "lr_hold", "d_sn", "loss",
            "codes", "code_scale")
    assert {k: ck["config"][k] for k in keys} == {"lr_d": None, "lr_decay": 1.0, "ema": 0.0, "width": 64,
                                                  "d_norm": "batch", "mbd_distance": "l1", "d_width": None,
                                                  "lr_hold": None, "d_sn": False, "loss": "bce",
                                                  "codes": 0, "code_scale": 1.0}, ck["config"]
    code, out_text, err = main(capsys, "--resume", path, "--epochs", 2)
    assert code == 0, err
    assert not any(k.startswith("ema/") for k in np.load(path).files)


# -- the readers themselves ---------------------------------------------------------------

def test_read_npz_round_trip_and_refusals(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.array("text"),
              "f": np.asfortranarray(np.ones((3, 2), np.int64))}
    np.savez(tmp_path / "ok.npz", **arrays)
    back = read_npz(tmp_path / "ok.npz")
    assert back.keys() == arrays.keys() and all(np.array_equal(back[k], v) and back[k].dtype == v.dtype
                                                for k, v in arrays.items()), back
    np.savez(tmp_path / "obj.npz", o=np.array([{"x": 1}], dtype=object))
    with zipfile.ZipFile(tmp_path / "other.npz", "w") as z:
        z.writestr("readme.txt", "not an array")
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z:   # a header claiming 4 TB, with 8 bytes behind it
        z.writestr("x.npy", _npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)}, b"12345678"))
    for name in ("obj", "other", "huge"):
        with pytest.raises(NanoganError, match="corrupt"):
            read_npz(tmp_path / f"{name}.npz")
    with pytest.raises(NanoganError, match="does not exist"):
        read_npz(tmp_path / "missing.npz")
    with pytest.raises(NanoganError, match="is a directory"):
        read_npy(tmp_path)


def _npy_bytes(header, payload):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)   # magic string, then the header
    return buf.getvalue() + payload


def test_checkpoint_format_marker(good):
    assert FORMAT == "nanogan-checkpoint-2" and entries(good[1])["format"].item() == FORMAT
