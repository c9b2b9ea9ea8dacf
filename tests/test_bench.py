"""bench.py runs end to end at a tiny size (its numbers are for the README, never asserted here)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bench  # noqa: E402
from nanogan.command import main as cli_main  # noqa: E402


def test_comparison_table(capsys):
    assert bench.main(["--archs", "fc", "dcgan", "--batches", "8", "--repeats", "2", "--warmup", "1",
                       "--no-memory", "--matmul-size", "64"]) == 0
    out = capsys.readouterr().out
    for arch in ("fc", "dcgan"):
        for nets in ("textbook", "recipe"):
            label = arch if nets == "textbook" else f"{arch} {nets}"
            rows = [l for l in out.splitlines() if l.startswith(f"| {label} | 8 |")]
            assert len(rows) == 1, out


def test_profile_accounts_for_every_layer(capsys):
    assert bench.main(["--archs", "dcgan", "--nets", "textbook", "--batches", "4", "--repeats", "1",
                       "--warmup", "1", "--profile"]) == 0
    out = capsys.readouterr().out
    for part in ("D[2] Conv2d(64, 128, k=4, s=2, p=1) backward", "G[4] ConvTranspose2d(128, 64, k=4, s=2, p=1) forward",
                 "Adam on G", "Adam on D", "the rest ("):
        assert f"| {part}" in out, f"{part!r} missing from:\n{out}"
    shares = [float(l.split("|")[3].strip().rstrip("%")) for l in out.splitlines()
              if l.startswith("| ") and l.split("|")[3].strip().endswith("%")]
    assert abs(sum(shares) - 100) < 1, f"shares add up to {sum(shares)}"


def test_torch_twin_of_the_recipe_matches_nanogan_networks():
    """The PyTorch twin of each recipe has as many trainable numbers as nanogan's networks, and
    mixes the batch (BatchNorm, minibatch discrimination) exactly where nanogan's D does."""
    torch = bench.try_torch()
    if torch is None:
        import pytest
        pytest.skip("PyTorch not installed")
    import numpy as np
    from nanogan.backend import make_rng
    from nanogan.gan import GAN
    for arch in ("fc", "dcgan"):
        for nets in ("textbook", "recipe"):
            config = bench.config_for(arch, nets)
            gan, twin = GAN(config, make_rng(0), np), bench.TorchGAN(torch, config, "cpu")
            for ours, theirs in ((gan.G, twin.G), (gan.D, twin.D)):
                assert sum(p.data.size for p in ours.parameters()) == \
                    sum(p.numel() for p in theirs.parameters()), (arch, nets)
            assert twin.joined == gan.joined and bool(twin.ema) == bool(gan.ema), (arch, nets)
            stats = twin.step(torch.from_numpy(bench.input_batch(4)))
            assert torch.isfinite(stats).all(), (arch, nets, stats)


def test_passes_trace_the_step_and_leave_its_numbers_alone(capsys):
    """--passes sees the layers' element-wise operations by source line, and tracing changes
    nothing a step computes: the same weights after one step with and without it."""
    import numpy as np
    from nanogan.backend import make_rng
    from nanogan.gan import GAN
    assert bench.main(["--archs", "dcgan", "--nets", "textbook", "--batches", "4", "--repeats", "1",
                       "--warmup", "1", "--passes"]) == 0
    bench.print_passes("dcgan", 4, repeats=1, warmup=1, min_mb=0)        # every pass, however small
    out = capsys.readouterr().out
    assert "nanogan/nn/activations.py" in out and "nanogan/nn/batchnorm.py" in out, out
    rows = bench.passes_step("dcgan", 4, repeats=1, warmup=0)
    assert any(what.startswith("matmul") for _, what, *_ in rows), rows    # traced, then left out of the table
    weights = []
    for traced in (False, True):
        rng = make_rng(0)
        gan = GAN(bench.config_for("dcgan"), rng, np)
        x = bench.input_batch(4)
        if traced:
            x = bench.trace(gan, x)
        gan.step(x, rng)
        weights.append([np.asarray(p.data).copy() for p in gan.G.parameters() + gan.D.parameters()])
    for a, b in zip(*weights):
        assert np.array_equal(a, b), "tracing changed a weight"


def test_bad_options_are_one_line(capsys):
    """Every bad value is an `error:` line and exit status 2, before anything is allocated:
    a batch whose step would need more memory than train.py allows, a ceiling's n of 200,000
    (149 GB), --passes on a GPU."""
    for argv in (["--batches", "0"], ["--repeats", "0"], ["--warmup", "-1"], ["--threads", "0"],
                 ["--matmul-size", "200000"], ["--batches", "100000000"], ["--batches", "x"],
                 ["--passes", "--device", "cuda"]):
        assert cli_main(bench.main, argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
