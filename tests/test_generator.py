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


def test_a_file_from_before_the_codes_scale_samples_at_scale_1(small_run, tmp_path, capsys):
    """A generator file (or checkpoint) saved with a code but before --code-scale existed was
    trained on [z, e_c]: it loads with scale 1 and samples as G([z, e_c]), whatever today's
    recipe says. The small run has the recipe's code of 10 values at scale 10."""
    import json
    from nanogan.backend import make_rng
    gen = tmp_path / "g.npz"
    generator.main([str(small_run / "checkpoint.npz"), str(gen)])
    capsys.readouterr()
    arrays = dict(np.load(gen, allow_pickle=False))
    config = json.loads(arrays["config"].item())
    assert (config["codes"], config["code_scale"]) == (10, 10.0), config
    del config["code_scale"]
    arrays["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "old.npz", **arrays)
    gan = generator.load_gan(str(tmp_path / "old.npz"), "cpu")
    assert gan.code_scale == 1.0, gan.code_scale
    z = make_rng(4).standard_normal((6, gan.z_dim), dtype=np.float32)                 # (6, 100) float32
    onehot = np.eye(10, dtype=np.float32)[z[:, :10].argmax(axis=1)]                    # (6, 10) float32, scale 1
    gan.G.eval()
    want = gan.G.forward(np.concatenate([z, onehot], axis=1))
    assert np.array_equal(gan.sample(z), want), "an old file did not sample G([z, e_c])"
