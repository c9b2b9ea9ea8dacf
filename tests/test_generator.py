"""Generator files: exported from a checkpoint they sample exactly as it does, load under a
checkpoint's checks, and the ones shipped in nanogan/pretrained/ are checked byte for byte."""
import numpy as np
import pytest

from nanogan.run import generator
from runs import SMALL, assert_one_error, main, ok


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "run"
    ok("--arch", "dcgan", "--epochs", 1, "--out", out, *SMALL)
    return out


def test_exported_generator_samples_as_its_checkpoint(small_run, tmp_path, capsys):
    gen = tmp_path / "g.npz"
    assert generator.main([str(small_run / "checkpoint.npz"), str(gen)]) == 0
    assert gen.stat().st_size < (small_run / "checkpoint.npz").stat().st_size / 2
    for source, out in ((small_run / "checkpoint.npz", tmp_path / "a.npy"), (gen, tmp_path / "b.npy")):
        code, _, err = main(capsys, "sample.py", source, "--num-samples", 16, "--out", out)
        assert code == 0, err
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert np.array_equal(a, b), f"{int((a != b).sum())} of {a.size} pixels differ"
    assert_one_error(*main(capsys, "sample.py", gen, "--no-ema", "--out", tmp_path / "c.npy"), "drop --no-ema")


def test_a_damaged_generator_file_is_one_error_line(small_run, tmp_path, capsys):
    gen = tmp_path / "g.npz"
    generator.main([str(small_run / "checkpoint.npz"), str(gen)])
    capsys.readouterr()
    arrays = dict(np.load(gen, allow_pickle=False))
    arrays["G/0.W"] = arrays["G/0.W"][:, :5]
    np.savez(tmp_path / "cut.npz", **arrays)
    assert_one_error(*main(capsys, "sample.py", tmp_path / "cut.npz", "--out", tmp_path / "x.png"), "G/0.W is float32")
    arrays = dict(np.load(gen, allow_pickle=False))
    arrays["config"] = np.array('{"arch": "dcgan"}')
    np.savez(tmp_path / "config.npz", **arrays)
    assert_one_error(*main(capsys, "sample.py", tmp_path / "config.npz", "--out", tmp_path / "x.png"), "lacks")


def test_a_shipped_file_that_does_not_match_its_digest_is_refused(small_run, tmp_path, monkeypatch, capsys):
    """Inside nanogan/pretrained/ only the files of SHA256SUMS, byte for byte, are loaded."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    generator.main([str(small_run / "checkpoint.npz"), str(folder / "dcgan.npz")])
    capsys.readouterr()
    (folder / "SHA256SUMS").write_text("0" * 64 + "  dcgan.npz\n")
    monkeypatch.setattr(generator, "PRETRAINED", str(folder))
    assert_one_error(*main(capsys, "sample.py", folder / "dcgan.npz", "--out", tmp_path / "x.png"),
                     "does not match its SHA-256")
    (folder / "other.npz").write_bytes((folder / "dcgan.npz").read_bytes())
    assert_one_error(*main(capsys, "sample.py", folder / "other.npz", "--out", tmp_path / "x.png"),
                     "not one of the generators shipped")
