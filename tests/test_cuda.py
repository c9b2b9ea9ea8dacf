"""The CUDA path end to end: GAN.step on cuda against the CPU, train.py and bench.py with
--device cuda; then, on the CuPy stand-in, the counts that keep a step free of host syncs
and of needless host -> device traffic.

Tests marked `cuda` are CUDA cases: they run on a GPU or on the stand-in, and skip (or fail,
under NANOGAN_REQUIRE_CUDA=1) as conftest.py decides, subprocess tests included.
"""
import csv
import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nanogan.backend import get_xp, make_rng, to_device, to_host
from nanogan.data.batches import iterate
from nanogan.gan import GAN, recipe, textbook

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import bench  # noqa: E402

SMALL = ["--limit", "128", "--batch-size", "32", "--no-progress", "--eval-every", "0"]
# minibatch: False, or minibatch discrimination's distance (nanogan/nn/minibatch.py)
ARCHS = [("fc", False), ("fc", "l1"), ("dcgan", False), ("dcgan", "l1"), ("dcgan", "l2"), ("cgan", False), ("cgan", "l1")]
ARCH_IDS = [f"{arch}{f'-mbd-{minibatch}' if minibatch else ''}" for arch, minibatch in ARCHS]


def make_gan(arch, rng, xp, minibatch):
    return GAN(textbook(arch, minibatch=bool(minibatch), mbd_distance=minibatch or "l1"), rng, xp)


def batch(arch, B, xp):
    """A batch of B images uniform in [-1, 1], and for the conditional GAN digit labels."""
    y = to_device(np.arange(B, dtype=np.int64) % 10, xp) if arch == "cgan" else None
    return to_device(bench.input_batch(B), xp), y


def run(*args, script="train.py", code=None):
    """python SCRIPT ARGS (or python -c CODE ARGS) from the repository; returns (exit code, stdout, stderr).
    A stand-in run reaches the subprocess through PYTHONPATH (conftest.py)."""
    if args and str(args[0]) in ("sample.py", "evaluate.py"):
        script, args = str(args[0]), args[1:]
    cmd = [sys.executable, "-c", code] if code else [sys.executable, os.path.join(ROOT, script)]
    p = subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    return p.returncode, p.stdout, p.stderr


def ok(*args, script="train.py"):
    code, out, err = run(*args, script=script)
    assert code == 0, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    return out


# --------------------------------------------------------------------------------------
# One training step on cuda, against the same step on the CPU
# --------------------------------------------------------------------------------------

@pytest.mark.cuda
@pytest.mark.parametrize("arch, minibatch", ARCHS, ids=ARCH_IDS)
def test_step_matches_the_cpu(arch, minibatch):
    """Two GAN.steps from the same seed and batch on each device: the same statistics,
    and afterwards the same networks (G's samples and D's logits on a probe batch).

    Tolerances. Both devices compute in float32 (round-off u = 6e-8), but sum in different
    orders (cuBLAS and OpenBLAS block their products differently; on the stand-in the
    memory layouts differ), so values agree to about sqrt(K) u relative for sums of K
    terms, 5e-6 at K = 6272; the statistics are held to rtol 1e-4. D's accuracies count
    samples, and a logit within round-off of 0 may fall either side: they may differ by
    one sample. The networks after the steps are held to 1e-3, normwise: Adam divides each
    update by the gradient's own size, so a gradient element at round-off level moves its
    weight by a full +-lr either way. That happens at minibatch discrimination's |.| kinks
    (measured on the stand-in: 3e-4 between the two devices' outputs, against 2e-6
    without it) and for the biases just before a BatchNorm, whose exact gradient is zero
    but which BatchNorm's mean subtraction cancels again. A CUDA bug (a lost term, a wrong
    layout) differs at O(1)."""
    B = 32
    result = {}
    for device in ("cpu", "cuda"):
        xp = get_xp(device)
        rng = make_rng(0)
        gan = make_gan(arch, rng, xp, minibatch)
        x, y = batch(arch, B, xp)
        stats = [gan.step(x, rng, y) for _ in range(2)]
        assert all(type(s) is xp.ndarray and s.dtype == np.float32 for s in stats), [type(s) for s in stats]
        probe = make_rng(1)     # the same noise on both; dropout draws from rng, in the same state on both
        fake = gan.generate(gan.noise(B, probe), y)
        outputs = {"G(z)": fake, "D(G(z))": gan.discriminate(fake, y), "D(x)": gan.discriminate(x, y)}
        result[device] = np.array([to_host(s) for s in stats]), {k: to_host(v) for k, v in outputs.items()}
    (cpu_stats, cpu_out), (cuda_stats, cuda_out) = result["cpu"], result["cuda"]
    report = (f"statistics per step (D loss, G loss, D(x), D(G(z)), acc real, acc fake)\n"
              f"cpu  {cpu_stats}\ncuda {cuda_stats}")
    values, accuracies = np.s_[:, :4], np.s_[:, 4:]
    assert np.allclose(cuda_stats[values], cpu_stats[values], rtol=1e-4, atol=1e-6), report
    assert (np.abs(cuda_stats[accuracies] - cpu_stats[accuracies]) <= 1.5 / B).all(), report
    for name in cpu_out:
        a, b = cuda_out[name].astype(np.float64), cpu_out[name].astype(np.float64)
        i = np.unravel_index(np.argmax(np.abs(a - b)), a.shape)
        rel = np.linalg.norm(a - b) / np.linalg.norm(b)
        assert rel <= 1e-3, (f"{name} after two steps: |cuda - cpu| / |cpu| = {rel:.2e}; worst element "
                             f"{tuple(map(int, i))}: cuda {a[i]!r}, cpu {b[i]!r}\n{report}")


# --------------------------------------------------------------------------------------
# train.py --device cuda: training, evaluation, exact resume, sampling, scoring
# --------------------------------------------------------------------------------------

@pytest.mark.cuda
@pytest.mark.parametrize("arch", ["fc", "dcgan"])
def test_ctrl_c_mid_epoch_resumes_exactly_on_cuda(arch, tmp_path, capsys, monkeypatch):
    """The step raises SIGINT at the 6th step (epoch 2, step 2 of 4); the mid-epoch checkpoint,
    resumed on cuda, ends where a straight cuda run does (the epoch's batch order, the
    running totals and the random stream all come back)."""
    import signal

    import runs
    from nanogan.run.checkpoint import load_checkpoint
    real_step, calls = GAN.step, []

    def step(self, *args):
        out = real_step(self, *args)
        calls.append(1)
        if len(calls) == 6:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    straight, split = tmp_path / "straight", tmp_path / "split"
    assert runs.main(capsys, "--arch", arch, "--device", "cuda", "--epochs", 3, "--out", straight, *SMALL)[0] == 0
    with monkeypatch.context() as m:
        m.setattr(GAN, "step", step)
        assert runs.main(capsys, "--arch", arch, "--device", "cuda", "--epochs", 3, "--out", split, *SMALL)[0] == 130
    ck = load_checkpoint(split / "checkpoint.npz")
    assert (ck["epoch"], ck["step"]) == (1, 2), (ck["epoch"], ck["step"])
    assert runs.main(capsys, "--resume", split / "checkpoint.npz", "--device", "cuda")[0] == 0
    differ = runs.checkpoints_equal(split / "checkpoint.npz", straight / "checkpoint.npz")
    assert not differ, f"{arch} on cuda: resumed mid-epoch, differs from the straight run in {differ}"


@pytest.mark.cuda
def test_train_and_resume_exactly_on_cuda(tmp_path):
    """DCGAN, 2 epochs straight == 1 epoch, then resumed to 2: every array in the two
    checkpoints equal, bit for bit (weights, BatchNorm's running statistics, Adam's moments);
    the arrays that came off the device are plain NumPy float32. (The FC GANs' layers, dropout
    masks included, train on cuda in the cgan run below; test_train.py resumes both on the CPU.)"""
    arch = "dcgan"
    straight, split = tmp_path / "straight", tmp_path / "split"
    ok("--arch", arch, "--device", "cuda", "--epochs", 2, "--out", straight, *SMALL)
    ok("--arch", arch, "--device", "cuda", "--epochs", 1, "--out", split, *SMALL)
    ok("--resume", split / "checkpoint.npz", "--device", "cuda", "--epochs", 2, "--no-progress")
    with np.load(straight / "checkpoint.npz", allow_pickle=False) as a, \
            np.load(split / "checkpoint.npz", allow_pickle=False) as b:
        a, b = {k: a[k] for k in a.files}, {k: b[k] for k in b.files}
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
    timed = ("config", "history", "seconds")    # hold wall-clock times (history, seconds: format 2 on main)
    differ = [k for k in a if k not in timed and not np.array_equal(a[k], b[k])]
    assert not differ, f"resumed run differs from the straight one in {differ}"
    weights = {k: v for k, v in a.items() if k.startswith(("G/", "D/", "optG/m.", "optG/v.", "optD/m.", "optD/v."))}
    wrong = {k: (type(v).__name__, str(v.dtype)) for k, v in weights.items()
             if type(v) is not np.ndarray or v.dtype != np.float32}
    assert weights and not wrong, f"not NumPy float32: {wrong}"
    assert json.loads(a["config"].item())["device"] == "cuda"
    assert (straight / "samples" / "epoch_002.png").exists() and (straight / "curves.png").exists()


@pytest.mark.cuda
def test_cgan_with_evaluation_then_sample_and_evaluate_on_cuda(tmp_path):
    """cgan with minibatch discrimination, scored by the classifier on the device during
    training; then sample.py and evaluate.py of its checkpoint on cuda."""
    out = tmp_path / "run"
    ok("--arch", "cgan", "--minibatch-disc", "--device", "cuda", "--epochs", 1, "--out", out,
       *SMALL[:-2], "--eval-every", 1, "--eval-samples", 50)
    with open(out / "metrics.csv", newline="") as f:
        row = list(csv.DictReader(f))[0]
    assert float(row["frechet"]) > 0 and 1 <= float(row["classifier_score"]) <= 10, row
    ok("sample.py", out / "checkpoint.npz", "--device", "cuda", "--digit", 3, "--num-samples", 5,
       "--out", tmp_path / "threes.npy")
    s = np.load(tmp_path / "threes.npy", allow_pickle=False)
    assert s.shape == (5, 28, 28) and s.dtype == np.uint8, (s.shape, s.dtype)
    text = ok("evaluate.py", out / "checkpoint.npz", "--device", "cuda", "--num-samples", 60)
    scores = json.loads(text.strip().splitlines()[-1])
    assert sum(scores["counts"]) == 60 and 0 <= scores["conditional_accuracy"] <= 1, scores


def test_cuda_without_cupy_is_one_sentence(tmp_path):
    """test_train.py's version of this skips wherever a cupy is importable, the stand-in
    included; here CuPy is hidden from the subprocess (a None in sys.modules)."""
    hide_cupy = ("import runpy, sys; sys.modules['cupy'] = None; sys.argv[0] = 'train.py'; "
                 f"runpy.run_path({os.path.join(ROOT, 'train.py')!r}, run_name='__main__')")
    code, out, err = run("--device", "cuda", "--out", tmp_path / "run", *SMALL, code=hide_cupy)
    lines = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, f"exit {code}\n{err}"
    assert "--device cuda needs CuPy" in lines[0] and not (tmp_path / "run").exists(), err


# --------------------------------------------------------------------------------------
# bench.py --device cuda at a tiny size (its numbers are never asserted)
# --------------------------------------------------------------------------------------

@pytest.mark.cuda
def test_bench_on_cuda(capsys):
    """The comparison table, peak memory from the device's memory pool in a subprocess included."""
    assert bench.main(["--device", "cuda", "--archs", "fc", "--batches", "8", "--repeats", "2",
                       "--warmup", "1", "--matmul-size", "64"]) == 0
    out = capsys.readouterr().out
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in out.splitlines()
            if line.startswith("| fc | 8 |")]
    assert len(rows) == 1 and rows[0][6] != "–", out     # nanogan's peak MB was measured


@pytest.mark.cuda
def test_bench_profile_on_cuda(capsys):
    assert bench.main(["--device", "cuda", "--archs", "dcgan", "--batches", "4", "--repeats", "1",
                       "--warmup", "1", "--profile"]) == 0
    out = capsys.readouterr().out
    assert "| D[2] Conv2d(64, 128, k=4, s=2, p=1) backward |" in out and "| Adam on G |" in out, out


def test_bench_count():
    """bench.py --count imports the stand-in itself, so it runs in any test run."""
    out = ok("--count", "--archs", "fc", "dcgan", "--batches", "16", script="bench.py")
    heads = [line for line in out.splitlines() if ", batch 16: " in line]
    assert len(heads) == 2 and all(" 0 host syncs" in h for h in heads), out
    assert "nanogan/nn/conv_rows.py" in out and "host-to-device copies: " in out, out


# --------------------------------------------------------------------------------------
# What a step asks of a GPU, counted on the stand-in: these hold the line for speed work
# --------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def counted_step(standin, arch, minibatch, B):
    """The stand-in's counts of one GAN.step, the second, so that nothing done once at the
    start of training would count as done every step."""
    rng = make_rng(0)
    gan = make_gan(arch, rng, standin, minibatch)
    x, y = batch(arch, B, standin)
    gan.step(x, rng, y)
    with standin.standin.counting() as counts:
        gan.step(x, rng, y)
    return counts


@pytest.mark.parametrize("arch, minibatch", ARCHS, ids=ARCH_IDS)
def test_step_never_waits_for_the_gpu(standin, arch, minibatch):
    """No host sync inside GAN.step: the GPU can run ahead of Python for a whole epoch,
    and train.py reads the statistics once per epoch (progress bar aside)."""
    counts = counted_step(standin, arch, minibatch, 32)
    assert counts["syncs"] == 0, f"host syncs in GAN.step: {counts.top('syncs', 20)}"


@pytest.mark.parametrize("arch, minibatch", ARCHS, ids=ARCH_IDS)
def test_step_copies_only_its_randomness_to_the_device(standin, arch, minibatch):
    """Host -> device traffic per step is only what the run's one host generator must draw
    (nanogan.backend: drawing on the host makes runs reproducible across devices and
    resumable): the noise, B x z_dim float32; the dropout masks of the FC GANs' D, one
    float32 mask per dropout layer (widths 1024, 512, 256) for each batch D sees (real,
    fake, and fake again for G);
    and the conditional GAN's fake labels, B float32 (exact for 0-9). Nothing that grows
    with the weights, and all of it in one copy (GAN.randomness)."""
    B, z_dim = 32, 100
    dropout = 3 * (1024 + 512 + 256) if arch != "dcgan" else 0
    bound_copies = 1
    bound_bytes = 4 * B * z_dim + 4 * B * dropout + 4 * B * (arch == "cgan")
    counts = counted_step(standin, arch, minibatch, B)
    report = f"{counts}; copies from {counts.top('h2d', 20)}"
    assert counts["h2d"] <= bound_copies and counts["h2d_bytes"] <= bound_bytes, \
        f"bound: {bound_copies} copies, {bound_bytes} bytes; counted {report}"


# Operations per step, as counted when they were last cut (bench.py --count; the same at
# any batch size). A change that adds operations to the step fails here, and must either
# earn them or raise the number with a reason. 166 fc, 380 dcgan: see docs/performance.md. (With
# minibatch discrimination D sees real and fake in separate passes: more operations. Its l2
# distance takes 7 more operations a pass than l1, in return for a fifth of l1's work; and 3
# more for a backward with one (N, N) pass instead of three, 3% off the recipe's CPU step.)
# The convolutions as products over output rows (nanogan/nn/conv_rows.py) for the CPU's sake:
# the weights reordered once a pass, a weight gradient summed over rows (and copied into the
# weights' row order where taken transposed), an input gradient in 3 products and 1 stacking
# of weights where col2im took 1 product and 4 additions (on a GPU the padding's zeros are
# multiplied rather than skipped, which would take 2 products more a call): 352 -> 380 in
# dcgan, 28 more with minibatch discrimination, 32 more in the recipe.
OPS = {("fc", False): 166, ("fc", "l1"): 290, ("dcgan", False): 380, ("dcgan", "l1"): 450, ("dcgan", "l2"): 480,
       ("cgan", False): 177, ("cgan", "l1"): 303}


@pytest.mark.parametrize("arch, minibatch", ARCHS, ids=ARCH_IDS)
def test_step_operations_stay_counted(standin, arch, minibatch):
    counts = counted_step(standin, arch, minibatch, 32)
    assert counts["ops"] <= OPS[arch, minibatch], \
        f"{counts['ops']} operations per step, bound {OPS[arch, minibatch]}; most: {counts.top('ops', 8)}"


# The default recipes (nanogan.gan.recipe: EMA of G for all, minibatch discrimination for the DCGAN,
# with the l2 distance since it was found to be 1.2x faster on the CPU: 439 -> 460 operations; its D
# spectrally normalised, one power-iteration step in each of a step's 3 passes through D, in place of
# its BatchNorm: 460 -> 531; G's BatchNorm mean over ConvTranspose2d's padded output as two products
# with ones, 4x faster on the CPU than NumPy's reduction (nanogan/nn/sums.py): 531 -> 532; the l2
# minibatch backward with one (N, N) pass instead of three (nanogan/nn/minibatch.py), 3 more
# operations in each of D's 3 passes for 3% off the CPU step: 532 -> 541; G's one-hot code read off
# the noise, nanogan.gan.gan.with_code: an argmax, an identity matrix, a row gather and a
# concatenation, for a Fréchet distance of 1.68 instead of 3.43: 541 -> 545; that code's scale,
# one product with the identity matrix: 545 -> 546; the convolutions as products over output
# rows, above: 546 -> 578)
RECIPE_OPS = {"fc": 169, "dcgan": 578, "cgan": 180}


@pytest.mark.parametrize("arch", sorted(RECIPE_OPS))
def test_default_recipe_operations_stay_counted(standin, arch):
    """The EMA of G updates one flat array (3 operations) plus G's BatchNorm buffers."""
    rng = make_rng(0)
    gan = GAN(recipe(arch), rng, standin)
    x, y = batch(arch, 16, standin)
    gan.step(x, rng, y)
    with standin.standin.counting() as counts:
        gan.step(x, rng, y)
    assert counts["ops"] <= RECIPE_OPS[arch] and counts["syncs"] == 0 and counts["h2d"] == 1, \
        f"{counts}; most: {counts.top('ops', 8)}"


def test_training_moves_an_epochs_batch_order_once(standin, tmp_path, capsys):
    """train.py keeps the data set on the device, moves each epoch's batch order there in
    one copy, and reads the statistics back every 25 steps (CHECK_EVERY) and at the end."""
    import runs
    with standin.standin.counting() as counts:
        code, out, err = runs.main(capsys, "--device", "cuda", "--epochs", 1, "--out", tmp_path / "run",
                                   "--limit", 64 * 30, "--batch-size", 64, "--no-progress", "--eval-every", 0)
    assert code == 0, err
    copies = counts.by_line["h2d"]
    loop = sum(n for line, n in copies.items() if line.endswith((" train_in", " train_epoch")))  # train.py
    steps = sum(n for line, n in copies.items() if line.endswith(" GAN.randomness"))
    # in train(): the images and the labels once, then per epoch (train_epoch) the batch order and the
    # (zero) running totals; in the 30 steps, one copy each
    assert loop == 2 + 2 and steps == 30, copies.most_common(10)


def test_batches_on_the_device_cost_one_index_copy(standin):
    """With the data set on the device (as train.py keeps it), each batch is gathered there:
    one host -> device copy of the B int64 indices, and no sync."""
    images = to_device(np.zeros((100, 1, 4, 4), dtype=np.float32), standin)
    labels = to_device(np.arange(100, dtype=np.int64), standin)
    with standin.standin.counting() as counts:
        n = sum(1 for _ in iterate(images, labels, 32, make_rng(0), standin))
    assert n == 3 and counts["h2d"] == n and counts["h2d_bytes"] == n * 32 * 8 and counts["syncs"] == 0, counts


def test_require_cuda_turns_a_skipped_cuda_case_into_a_failure():
    """A GPU machine must not pass by skipping: NANOGAN_REQUIRE_CUDA=1 with no CUDA fails."""
    def pytest_run(**env):
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            os.path.join(ROOT, "tests", "test_backend.py"), "-k", "to_device and float32"],
                           capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, timeout=300)
        return p.returncode, p.stdout + p.stderr
    code, out = pytest_run(NANOGAN_TEST_CUDA="off", NANOGAN_REQUIRE_CUDA="1")
    assert code != 0 and "1 passed" in out and "NANOGAN_REQUIRE_CUDA=1, but this CUDA case was skipped" in out, out
    code, out = pytest_run(NANOGAN_TEST_CUDA="off", NANOGAN_REQUIRE_CUDA="0")
    assert code == 0 and "1 passed, 1 skipped" in out, out
