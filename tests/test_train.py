"""train.py through its real command line: artifacts, exact resume, sampling, bad input."""
import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from nanogan.run.checkpoint import load_checkpoint
from nanogan.gan import GAN, textbook
from nanogan.run.generator import load_gan

from runs import SMALL, checkpoints_equal, expect_error, ok, run  # noqa: F401


@pytest.fixture(scope="module")
def fc_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fc") / "run"
    ok("--arch", "fc", "--epochs", 2, "--out", out, *SMALL)
    return out


@pytest.mark.parametrize("arch", ["fc", "dcgan", "cgan"])
def test_smoke_artifacts(arch, tmp_path, fc_run):
    out = fc_run if arch == "fc" else tmp_path / "run"
    if arch != "fc":
        ok("--arch", arch, "--epochs", 2, "--out", out, *SMALL)
    for epoch in range(3):  # the grid before training, then one per epoch
        with Image.open(out / "samples" / f"epoch_{epoch:03d}.png") as im:
            assert im.format == "PNG" and im.mode == "L" and im.size[0] > 8 * 28, (im.format, im.mode, im.size)
    with Image.open(out / "training.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 3, (gif.format, gif.n_frames)
    with Image.open(out / "curves.png") as im:
        assert im.format == "PNG"
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert list(rows[0]) == ["epoch", "d_loss", "g_loss", "d_real", "d_fake", "acc_real", "acc_fake",
                             "seconds", "images_per_second", "frechet", "classifier_score", "entropy",
                             "covered", "top_share", "precision", "recall"]
    assert all(np.isfinite(float(v)) for r in rows for v in r.values() if v != "")
    ck = load_checkpoint(out / "checkpoint.npz")
    assert ck["epoch"] == 2 and ck["config"]["arch"] == arch
    assert int(ck["arrays"]["optG/t"]) == int(ck["arrays"]["optD/t"]) == 2 * (128 // 32), ck["arrays"]["optG/t"]
    G = {k: v for k, v in ck["arrays"].items() if k.startswith("G/")}
    assert G and all(v.dtype == np.float32 for v in G.values()), {k: v.dtype for k, v in G.items()}
    assert ck["step"] == 0 and [r["epoch"] for r in ck["history"]] == ["1", "2"], (ck["step"], ck["history"])
    assert (out / "config.json").exists()
    assert not [f for f in os.listdir(out) if f.endswith(".part")], "temporary files left behind"


@pytest.mark.parametrize("arch, flags", [("fc", ()), ("dcgan", ()), ("dcgan", ("--ema", 0.9, "--lr-d", 3e-4)),
                                         ("fc", ("--lr-decay", 0.5)), ("fc", ("--lr-hold", 1))])
def test_resume_is_exact(arch, flags, tmp_path):
    """2 epochs straight == 1 epoch, stop, resume for the 2nd: bit-identical weights and state,
    the moving average of G's weights (on by default) included."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    ok("--arch", arch, "--epochs", 2, "--out", straight, *flags, *SMALL)
    ok("--arch", arch, "--epochs", 1, "--out", split, *flags, *SMALL)
    ok("--resume", split / "checkpoint.npz", "--epochs", 2, "--no-progress")
    differ = checkpoints_equal(straight / "checkpoint.npz", split / "checkpoint.npz")
    assert not differ, f"resumed run differs from the straight one in {differ}"
    saved = np.load(straight / "checkpoint.npz", allow_pickle=False)
    assert int(saved["ema/t"]) == int(saved["optG/t"]) == 2 * (128 // 32), saved["ema/t"]
    assert not np.array_equal(saved["ema/0.W"], saved["G/0.W"]), "the average should lag G's weights"


def test_same_seed_same_run(tmp_path, fc_run):
    ok("--arch", "fc", "--epochs", 2, "--out", tmp_path / "again", *SMALL)
    a = np.load(fc_run / "checkpoint.npz")
    b = np.load(tmp_path / "again" / "checkpoint.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a.files if k.startswith(("G/", "D/")))


def test_sample_command(tmp_path, fc_run):
    ok("sample.py", fc_run / "checkpoint.npz", "--num-samples", 7, "--out", tmp_path / "s.npy")
    s = np.load(tmp_path / "s.npy", allow_pickle=False)
    assert s.shape == (7, 28, 28) and s.dtype == np.uint8, (s.shape, s.dtype)
    ok("sample.py", fc_run / "checkpoint.npz", "--num-samples", 10, "--out", tmp_path / "s.png")
    with Image.open(tmp_path / "s.png") as im:
        assert im.format == "PNG"


def test_conditional_sampling(tmp_path):
    """cgan: the grid has one row per digit; --digit draws that digit only."""
    ok("--arch", "cgan", "--epochs", 1, "--out", tmp_path / "run", *SMALL)
    with Image.open(tmp_path / "run" / "samples" / "epoch_001.png") as im:
        assert im.size[0] == im.size[1] == 2 * (10 * 30 + 2), im.size  # 10x10 tiles of 28 + 2 border, x2
    ok("sample.py", tmp_path / "run" / "checkpoint.npz", "--digit", 7, "--num-samples", 4,
       "--out", tmp_path / "sevens.npy")
    assert np.load(tmp_path / "sevens.npy").shape == (4, 28, 28)


def test_evaluation_in_training_and_command(tmp_path):
    """Scores land in the CSV every --eval-every epochs; evaluate.py scores a checkpoint and a
    .npy the same way, seeks copies of training images and draws its figures."""
    out = tmp_path / "run"
    ok("--arch", "cgan", "--epochs", 2, "--out", out, *SMALL[:-2], "--eval-every", 2, "--eval-samples", 50)
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["frechet"] == "" and float(rows[1]["frechet"]) > 0, rows
    assert 1 <= float(rows[1]["classifier_score"]) <= 10 and 0 <= float(rows[1]["entropy"]) <= 1, rows[1]
    assert 0 <= float(rows[1]["precision"]) <= 1 and 0 <= float(rows[1]["recall"]) <= 1, rows[1]
    text = ok("evaluate.py", out / "checkpoint.npz", "--num-samples", 60, "--json", tmp_path / "s.json",
              "--copy-check", 300, "--figures", tmp_path / "figs")
    scores = json.loads((tmp_path / "s.json").read_text())
    assert json.loads(text.strip().splitlines()[-1]) == scores
    assert sum(scores["counts"]) == 60 and 0 <= scores["conditional_accuracy"] <= 1, scores
    assert scores["copy_ratio_pixels"] > 0 and 0 <= scores["copy_share_features"] <= 1, scores
    for name in ("surest", "least_sure", "nearest_pixels", "nearest_features"):
        with Image.open(tmp_path / "figs" / f"{name}.png") as im:
            assert im.format == "PNG", name
    # the same samples through sample.py --out and evaluate.py FILE.npy score the same
    ok("sample.py", out / "checkpoint.npz", "--num-samples", 60, "--seed", 0, "--out", tmp_path / "s.npy")
    again = json.loads(ok("evaluate.py", tmp_path / "s.npy", "--copy-check", 0).strip().splitlines()[-1])
    assert again["counts"] == scores["counts"] or again["frechet"] > 0, (again, scores)
    np.save(tmp_path / "wrong.npy", np.zeros((5, 28, 28), dtype=np.float32))
    expect_error("evaluate.py", tmp_path / "wrong.npy", must_say="expected uint8 (N, 28, 28)")


def test_walks(tmp_path, fc_run):
    """--walk draws a row per walk: 8 random slerp walks, or for a cgan 10 digit-to-digit walks."""
    ok("sample.py", "--walk", fc_run / "checkpoint.npz", "--walk-steps", 6, "--walk-rows", 3, "--out", tmp_path / "w.png")
    with Image.open(tmp_path / "w.png") as im:
        assert im.size == (2 * (6 * 30 + 2), 2 * (3 * 30 + 2)), im.size     # tiles of 28 + 2 border, x2
    out = tmp_path / "cgan"
    ok("--arch", "cgan", "--epochs", 1, "--out", out, *SMALL)
    ok("sample.py", "--walk", out / "checkpoint.npz", "--out", tmp_path / "c.png")
    with Image.open(tmp_path / "c.png") as im:
        assert im.size == (2 * (10 * 30 + 2), 2 * (10 * 30 + 2)), im.size


def test_bad_input_through_the_real_command_line(tmp_path, fc_run):
    """A few of test_cli.py's cases again, in a subprocess: what a user sees is one line."""
    out = tmp_path / "run"
    expect_error("--arch", "gan9", "--out", out, must_say="invalid choice", leaves=out)
    expect_error("--nonsense", "--out", out, must_say="unrecognized arguments", leaves=out)
    expect_error("--seed", -1, "--out", out, must_say="--seed must be", leaves=out)
    expect_error("--limit", 100, "--batch-size", 128, "--out", out, must_say="larger than the 100", leaves=out)
    expect_error("--resume", fc_run / "checkpoint.npz", "--arch", "dcgan", "--epochs", 3,
                 must_say="trained with --arch fc")
    half = tmp_path / "half.npz"
    half.write_bytes((fc_run / "checkpoint.npz").read_bytes()[:5000])
    expect_error("sample.py", half, "--out", tmp_path / "x.npy", must_say="corrupt")
    expect_error("--out", fc_run, "--epochs", 1, *SMALL, must_say="already holds a run")


@pytest.mark.parametrize("script, says", [("train.py", "--resume"), ("sample.py", "--walk"), ("evaluate.py", "--json")])
def test_help_of_each_command(script, says):
    code, out, err = run(script, "--help")
    assert code == 0 and "usage:" in out and says in out, (code, out, err)


def test_dropout_and_minibatch_flags_reach_the_run(tmp_path, fc_run):
    """--dropout 0 --minibatch-disc (the collapse experiment's flags) train, are recorded,
    and give a different D from the default run's after the same steps."""
    out = tmp_path / "run"
    ok("--arch", "fc", "--epochs", 2, "--dropout", 0, "--minibatch-disc", "--out", out, *SMALL)
    config = json.loads((out / "config.json").read_text())
    assert config["dropout"] == 0 and config["minibatch"] is True, config
    ours = np.load(out / "checkpoint.npz", allow_pickle=False)
    theirs = np.load(fc_run / "checkpoint.npz", allow_pickle=False)
    assert len([k for k in ours.files if k.startswith("D/")]) > len([k for k in theirs.files if k.startswith("D/")])


def test_minibatch_distance_reaches_the_layer(tmp_path):
    """--mbd-distance is saved with the run and builds that layer again when the checkpoint is
    loaded; the DCGAN's D then differs from one trained with the other distance."""
    layers = {}
    for distance in ("l1", "l2"):
        out = tmp_path / distance
        ok("--arch", "dcgan", "--epochs", 1, "--mbd-distance", distance, "--out", out, *SMALL)
        assert json.loads((out / "config.json").read_text())["mbd_distance"] == distance
        gan = load_gan(out / "checkpoint.npz", "cpu")
        layers[distance] = [layer for layer in gan.D.layers if hasattr(layer, "distance")]
        assert [layer.distance for layer in layers[distance]] == [distance], layers[distance]
    T1, T2 = (layers[d][0].params["T"].data for d in ("l1", "l2"))
    assert not np.allclose(T1, T2), "the two distances trained T alike"


def test_d_width_narrows_only_d(tmp_path):
    """--d-width sets D's channels apart from G's (--width); it is saved and rebuilt on loading,
    and an architecture without convolutions refuses it in one line."""
    out = tmp_path / "run"
    ok("--arch", "dcgan", "--width", 16, "--d-width", 8, "--epochs", 1, "--out", out, *SMALL)
    assert json.loads((out / "config.json").read_text())["d_width"] == 8
    gan = load_gan(out / "checkpoint.npz", "cpu")
    d_convs = [layer.params["W"].data.shape for layer in gan.D.layers   # spectrally normalised or not
               if type(getattr(layer, "layer", layer)).__name__ == "Conv2d"]
    g_convs = [layer.params["W"].data.shape for layer in gan.G.layers if type(layer).__name__ == "ConvTranspose2d"]
    assert [s[0] for s in d_convs] == [8, 16] and [s[1] for s in g_convs] == [16, 1], (d_convs, g_convs)
    expect_error("--arch", "fc", "--d-width", 8, "--epochs", 1, "--out", tmp_path / "fc", *SMALL, must_say="--d-width",
                 leaves=tmp_path / "fc")


def test_two_learning_rates_reach_the_two_optimizers(tmp_path, fc_run):
    """--lr-d sets D's Adam apart from G's (--lr), is saved with the run and survives loading;
    a default run gets its recipe's two rates; with lr_d None (the cgan's recipe) both use lr."""
    out = tmp_path / "run"
    ok("--arch", "fc", "--epochs", 1, "--lr", 1e-4, "--lr-d", 4e-4, "--out", out, *SMALL)
    config = json.loads((out / "config.json").read_text())
    assert config["lr"] == 1e-4 and config["lr_d"] == 4e-4, config
    gan = load_gan(out / "checkpoint.npz", "cpu")
    assert gan.opt_G.lr == 1e-4 and gan.opt_D.lr == 4e-4, (gan.opt_G.lr, gan.opt_D.lr)
    gan = load_gan(fc_run / "checkpoint.npz", "cpu")
    assert (gan.opt_G.lr, gan.opt_D.lr) == (4e-4, 2e-4), (gan.opt_G.lr, gan.opt_D.lr)
    from nanogan.backend import make_rng
    gan = GAN(textbook("fc", lr=3e-4), make_rng(0), np)
    assert gan.opt_G.lr == gan.opt_D.lr == 3e-4, (gan.opt_G.lr, gan.opt_D.lr)


def test_lr_decay_steps_both_rates_down_each_epoch(tmp_path, fc_run):
    """--lr-decay g: epoch e trains at lr * g**(e - 1), for G's rate and D's. So the first epoch
    is that of a run without decay, bit for bit, and the second is not; the factor is saved
    with the run."""
    from nanogan.backend import make_rng
    gan = GAN(textbook("fc", lr=8e-4, lr_d=2e-4, lr_decay=0.5), make_rng(0), np)
    for epoch, factor in ((1, 1.0), (3, 0.25), (2, 0.5)):
        gan.start_epoch(epoch, 10)
        assert (gan.opt_G.lr, gan.opt_D.lr) == (8e-4 * factor, 2e-4 * factor), (epoch, gan.opt_G.lr, gan.opt_D.lr)
    one, two = tmp_path / "one", tmp_path / "two"
    ok("--arch", "fc", "--epochs", 1, "--lr-decay", 0.5, "--out", one, *SMALL)
    ok("--arch", "fc", "--epochs", 2, "--lr-decay", 0.5, "--out", two, *SMALL)
    assert json.loads((two / "config.json").read_text())["lr_decay"] == 0.5
    plain_one = tmp_path / "plain_one"
    ok("--arch", "fc", "--epochs", 1, "--out", plain_one, *SMALL)
    differ = checkpoints_equal(one / "checkpoint.npz", plain_one / "checkpoint.npz")
    assert not differ, f"epoch 1 at decay**0 = 1 should train as without decay; differs in {differ}"
    differ = checkpoints_equal(two / "checkpoint.npz", fc_run / "checkpoint.npz")
    assert any(k.startswith("G/") for k in differ), "epoch 2 at half the rates trained as at full rates"


def test_lr_hold_then_linear_decay_to_zero(tmp_path, fc_run):
    """--lr-hold h in a run of E epochs: epochs 1..h train at the full rates, epoch e > h at
    (E - e + 1) / (E - h + 1) of them, for G's rate and D's. A hold of E or more is no decay,
    bit for bit; a hold of 1 in a 2-epoch run halves the second epoch's rates."""
    from nanogan.backend import make_rng
    gan = GAN(textbook("fc", lr=8e-4, lr_d=2e-4, lr_hold=2), make_rng(0), np)
    for epoch, epochs, factor in ((1, 5, 1.0), (2, 5, 1.0), (3, 5, 0.75), (5, 5, 0.25), (4, 4, 1 / 3), (2, 2, 1.0)):
        gan.start_epoch(epoch, epochs)
        want = (8e-4 * factor, 2e-4 * factor)
        assert np.allclose((gan.opt_G.lr, gan.opt_D.lr), want, rtol=1e-12, atol=0), (epoch, epochs, gan.opt_G.lr,
                                                                                       gan.opt_D.lr, want)
    held, halved = tmp_path / "held", tmp_path / "halved"
    ok("--arch", "fc", "--epochs", 2, "--lr-hold", 2, "--out", held, *SMALL)
    differ = checkpoints_equal(held / "checkpoint.npz", fc_run / "checkpoint.npz")
    assert not differ, f"a hold as long as the run should train as without one; differs in {differ}"
    ok("--arch", "fc", "--epochs", 2, "--lr-hold", 1, "--out", halved, *SMALL)
    assert json.loads((halved / "config.json").read_text())["lr_hold"] == 1
    differ = checkpoints_equal(halved / "checkpoint.npz", fc_run / "checkpoint.npz")
    assert any(k.startswith("G/") for k in differ), "epoch 2 at half the rates trained as at full rates"


def test_dcgan_width_and_d_norm(tmp_path):
    """--width sets the DCGAN's channels and --d-norm none drops D's BatchNorm: the
    checkpoint's shapes say so, and the run samples."""
    out = tmp_path / "run"
    ok("--arch", "dcgan", "--epochs", 1, "--width", 12, "--d-norm", "none", "--out", out, *SMALL)
    ck = load_checkpoint(out / "checkpoint.npz")
    assert ck["config"]["width"] == 12 and ck["config"]["d_norm"] == "none", ck["config"]
    shapes = {k: v.shape for k, v in ck["arrays"].items()}
    # G's input: the noise and its 10-way code (--codes); D: --d-width's 8
    assert shapes["G/0.W"] == (100 + 10, 24 * 49) and shapes["D/0.W"][0] == 8, shapes
    assert not any(k.startswith("D/") and "running_mean" in k for k in shapes), sorted(shapes)
    ok("sample.py", out / "checkpoint.npz", "--num-samples", 3, "--out", tmp_path / "s.npy")


def test_no_ema_samples_with_gs_own_weights(tmp_path, fc_run):
    """--no-ema draws with G's own weights: the same noise gives other images than the average's."""
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    ok("sample.py", fc_run / "checkpoint.npz", "--num-samples", 8, "--out", a)
    ok("sample.py", fc_run / "checkpoint.npz", "--num-samples", 8, "--out", b, "--no-ema")
    assert not np.array_equal(np.load(a), np.load(b))


def test_each_architecture_gets_its_recipe(tmp_path, capsys):
    """A new run takes its architecture's defaults (config.ARCH_DEFAULTS) and saves them:
    the DCGAN has minibatch discrimination unless --no-minibatch-disc; fc has no DCGAN settings;
    G learns 2x faster than D in fc and 3x in dcgan (whose D is spectrally normalised, and whose G
    reads a code of 10 values at scale 10 off its noise), the cgan keeps one learning rate."""
    from nanogan.run.cli import parse_train, run_config
    config = lambda *argv: run_config(parse_train(list(argv)), None)  # noqa: E731
    dcgan, fc = config("--arch", "dcgan"), config("--arch", "fc")
    assert dcgan["minibatch"] is True and dcgan["width"] == 32 and dcgan["d_norm"] == "none", dcgan
    assert dcgan["d_sn"] is True and fc["d_sn"] is False and dcgan["loss"] == fc["loss"] == "bce", (dcgan, fc)
    assert dcgan["real_label"] == fc["real_label"] == 1.0, (dcgan, fc)
    assert dcgan["d_width"] == 8 and dcgan["mbd_distance"] == "l2" and fc["d_width"] is None, (dcgan, fc)
    assert dcgan["lr_hold"] == 14 and fc["lr_hold"] is None, (dcgan, fc)
    assert (dcgan["codes"], dcgan["code_scale"], fc["codes"], fc["code_scale"]) == (10, 10.0, 0, 1.0), (dcgan, fc)
    assert config("--arch", "dcgan", "--real-label", "0.9")["real_label"] == 0.9
    assert config("--arch", "dcgan", "--loss", "hinge")["loss"] == "hinge"   # no smoothing to refuse
    assert config("--arch", "dcgan", "--no-minibatch-disc")["minibatch"] is False
    assert fc["minibatch"] is False and fc["width"] is None and fc["d_norm"] is None and fc["ema"] > 0, fc
    assert (dcgan["lr"], dcgan["lr_d"]) == (1.2e-3, 4e-4) and (fc["lr"], fc["lr_d"]) == (4e-4, 2e-4), (dcgan, fc)
    cgan = config("--arch", "cgan")
    assert (cgan["lr"], cgan["lr_d"]) == (2e-4, None), cgan
    # each architecture's epochs are its recipe's: `--arch fc` alone trains the headline FC row
    assert (fc["epochs"], dcgan["epochs"], config("--arch", "fc", "--epochs", "3")["epochs"]) == (30, 28, 3), (fc, dcgan)
    assert config("--arch", "fc", "--lr-d", "1e-4")["lr_d"] == 1e-4


def test_spectral_norm_builds_every_architecture():
    """Each architecture's D with every Dense and Conv2d spectrally normalised, dropout and all."""
    from nanogan.backend import make_rng
    from nanogan.gan import recipe
    from nanogan.nn import SpectralNorm
    for arch in ("fc", "cgan", "dcgan"):
        gan = GAN(recipe(arch, d_sn=True, real_label=1.0), make_rng(0), np)
        assert sum(isinstance(layer, SpectralNorm) for layer in gan.D.layers) == (3 if arch == "dcgan" else 4), arch
    with pytest.raises(ValueError, match="no label smoothing"):
        GAN(recipe("dcgan", loss="hinge", real_label=0.9), make_rng(0), np)


def test_spectral_norm_and_hinge_train_save_and_resume_exactly(tmp_path):
    """--spectral-norm --loss hinge: D's checkpointed arrays include each normalised layer's u
    and v, and a run resumed after its first epoch ends bit for bit where a straight one does."""
    flags = ["--arch", "dcgan", "--spectral-norm", "--loss", "hinge", "--real-label", 1, "--d-norm", "none", *SMALL]
    straight, split = tmp_path / "straight", tmp_path / "split"
    ok(*flags, "--epochs", 2, "--out", straight)
    ok(*flags, "--epochs", 1, "--out", split)
    ok("--resume", split / "checkpoint.npz", "--epochs", 2)
    ck = load_checkpoint(straight / "checkpoint.npz")
    assert ck["config"]["d_sn"] is True and ck["config"]["loss"] == "hinge", ck["config"]
    assert {"D/0.u", "D/0.v", "D/2.u", "D/2.v"} <= ck["arrays"].keys(), sorted(ck["arrays"])
    differ = checkpoints_equal(straight / "checkpoint.npz", split / "checkpoint.npz")
    assert not differ, f"the resumed run differs in {differ}"
