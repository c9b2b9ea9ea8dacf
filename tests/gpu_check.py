#!/usr/bin/env python
"""Prove the CUDA path on a machine with a GPU, in one command and at most ~10 minutes:

    python tests/gpu_check.py --out gpu_report.md

1. the test suite with real CuPy, every CUDA case required to run
   (NANOGAN_TEST_CUDA=real NANOGAN_REQUIRE_CUDA=1 pytest -q -x tests);
2. `fc` and `dcgan` trained for a few epochs on a slice of MNIST (`--limit`) with
   `--device cuda` and with `--device cpu`, the same seed, their metrics.csv side by side
   (D and G losses, Fréchet distance, classifier score, seconds per epoch);
3. `bench.py --device cuda` (against PyTorch CUDA eager where torch sees a GPU), the
   textbook networks and the recipes;
and writes one Markdown report of all three, whatever fails along the way (each part has its
own time limit and its output goes into the report). Exit status 0 only when every part passed.

`--quick` shrinks every part (a few tests, one epoch of 64 images, a tiny benchmark) so that
tests/test_gpu_check.py runs the whole command on the tests' CuPy stand-in
(`--backend standin`: NumPy underneath, no GPU) in about half a minute. Numbers from the
stand-in time NumPy, not a GPU.
"""
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STANDIN = os.path.join(ROOT, "tests", "standin")
GUARD = "NANOGAN_GPU_CHECK"          # set in every child: the suite's own test of this command skips

sys.path.insert(0, ROOT)
from nanogan.files import atomic_open, check_output_file  # noqa: E402
from nanogan.command import Parser, main as cli_main, whole  # noqa: E402


def environment(backend):
    """The variables every child runs with: which CuPy the tests and the commands see."""
    env = dict(os.environ, NANOGAN_TEST_CUDA=backend, NANOGAN_REQUIRE_CUDA="1", **{GUARD: "1"})
    if backend == "standin":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [STANDIN, os.environ.get("PYTHONPATH")]))
    return env


def run(cmd, env, timeout):
    """(exit code or 'timed out', seconds, combined output) of one child command."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        code, out = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        code = "timed out"
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    return code, time.perf_counter() - t0, out


def tail(text, lines=25):
    return "\n".join(text.strip().splitlines()[-lines:])


def machine(env):
    """A few lines naming the machine: GPU, CuPy, PyTorch, CPU."""
    probe = ("import numpy, nanogan\n"
             "try:\n"
             "    import cupy\n"
             "    standin = hasattr(cupy, 'standin')\n"
             "    name = cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()\n"
             "    print('GPU:', name, '(the CuPy stand-in: NumPy, no GPU)' if standin else '',"
             " '| CuPy', getattr(cupy, '__version__', '?'))\n"
             "except Exception as e:\n"
             "    print('GPU: none usable (%s)' % (str(e).splitlines() or [type(e).__name__])[0])\n"
             "try:\n"
             "    import torch\n"
             "    print('PyTorch', torch.__version__, '| torch sees CUDA:', torch.cuda.is_available())\n"
             "except ImportError:\n"
             "    print('PyTorch not installed')\n"
             "print('NumPy', numpy.__version__)\n")
    code, _, out = run([sys.executable, "-c", probe], env, 120)
    sys.path.insert(0, ROOT)
    from bench import processor
    return out.strip().splitlines() + [f"CPU: {processor()}"]


def suite(args, env):
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *args.pytest]
    code, sec, out = run(cmd, env, args.suite_timeout)
    return code == 0, [f"`NANOGAN_TEST_CUDA={args.backend} NANOGAN_REQUIRE_CUDA=1 {' '.join(cmd[1:])}`: "
                       f"exit {code} in {sec:.0f} s", "", "```", tail(out, 15), "```"]


def read_metrics(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def cell(row, key, fmt="{:.2f}"):
    try:
        return fmt.format(float(row[key]))
    except (KeyError, TypeError, ValueError):
        return "–"


def training(args, env, workdir):
    """fc and dcgan on cuda and on cpu, the same seed; their epochs side by side."""
    lines, passed = [], True
    for arch in ("fc", "dcgan"):
        runs = {}
        for device in ("cuda", "cpu"):
            out = os.path.join(workdir, f"{arch}-{device}")
            cmd = [sys.executable, "train.py", "--arch", arch, "--device", device, "--epochs", str(args.epochs),
                   "--limit", str(args.limit), "--batch-size", str(args.batch_size), "--seed", "0",
                   "--eval-every", "1", "--eval-samples", str(args.eval_samples), "--no-progress", "--out", out]
            code, sec, text = run(cmd, env, args.train_timeout)
            runs[device] = read_metrics(os.path.join(out, "metrics.csv"))
            lines.append(f"- `{' '.join(cmd[1:-2])}`: exit {code}, {sec:.0f} s wall")
            if code != 0:
                passed = False
                lines += ["", "```", tail(text), "```", ""]
        lines += ["", f"**{arch}** (`--limit {args.limit} --batch-size {args.batch_size} --seed 0`):", "",
                  "| epoch | D loss cuda / cpu | G loss cuda / cpu | Fréchet distance cuda / cpu "
                  "| classifier score cuda / cpu | s/epoch cuda / cpu | cpu / cuda time |",
                  "|---|---|---|---|---|---|---|"]
        for i in range(max(len(runs["cuda"]), len(runs["cpu"]))):
            g = runs["cuda"][i] if i < len(runs["cuda"]) else {}
            c = runs["cpu"][i] if i < len(runs["cpu"]) else {}
            try:
                speed = f"{float(c['seconds']) / float(g['seconds']):.1f}x"
            except (KeyError, ValueError, ZeroDivisionError):
                speed = "–"
            lines.append(f"| {i + 1} | {cell(g, 'd_loss', '{:.3f}')} / {cell(c, 'd_loss', '{:.3f}')} "
                         f"| {cell(g, 'g_loss', '{:.3f}')} / {cell(c, 'g_loss', '{:.3f}')} "
                         f"| {cell(g, 'frechet')} / {cell(c, 'frechet')} "
                         f"| {cell(g, 'classifier_score')} / {cell(c, 'classifier_score')} "
                         f"| {cell(g, 'seconds', '{:.1f}')} / {cell(c, 'seconds', '{:.1f}')} | {speed} |")
        lines.append("")
    lines.append("(The two devices draw the same noise and batches from one host generator, but their "
                 "products sum in different orders, so the runs drift apart as two seeds would: "
                 "the scores should agree in size, not in digits.)")
    return passed, lines


def benchmark(args, env):
    cmd = [sys.executable, "bench.py", "--device", "cuda", *args.bench]
    code, sec, out = run(cmd, env, args.bench_timeout)
    return code == 0, [f"`{' '.join(cmd[1:])}`: exit {code} in {sec:.0f} s", ""] + \
        [line for line in out.splitlines() if line.strip()]


def main(argv=None):
    p = Parser(description="Run the suite, a short training and the benchmark on a GPU; write one "
               "Markdown report.")
    p.add_argument("--out", default="gpu_report.md", help="the report (default gpu_report.md)")
    p.add_argument("--backend", choices=["real", "standin"], default="real",
                   help="real CuPy (default) or the tests' stand-in, to test this command without a GPU")
    p.add_argument("--quick", action="store_true", help="shrink every part to seconds (for the tests)")
    p.add_argument("--epochs", type=whole(1, 1000), default=None, help="epochs per training run (default 3; quick 1)")
    p.add_argument("--limit", type=whole(1, 60000), default=None, help="training images (default 12800; quick 64)")
    p.add_argument("--batch-size", type=whole(1, 4096), default=None, help="default 128; quick 32")
    p.add_argument("--eval-samples", type=whole(1, 100000), default=None, help="samples scored per epoch (default 2000; quick 50)")
    p.add_argument("--skip", nargs="+", default=[], choices=["suite", "train", "bench"], help="parts to leave out")
    p.add_argument("--suite-timeout", type=whole(1, 3600), default=300)
    p.add_argument("--train-timeout", type=whole(1, 3600), default=90, help="seconds per training run (four runs)")
    p.add_argument("--bench-timeout", type=whole(1, 3600), default=150)
    args = p.parse_args(argv)
    check_output_file(args.out, "--out")            # before minutes of work, not after
    q = args.quick
    args.epochs = args.epochs or (1 if q else 3)
    args.limit = args.limit or (64 if q else 12800)
    args.batch_size = args.batch_size or (32 if q else 128)
    args.eval_samples = args.eval_samples or (50 if q else 2000)
    args.pytest = (["tests/nn/test_layers.py", "-k", "dense and cuda"] if q else ["tests"])
    args.bench = (["--archs", "fc", "--nets", "textbook", "--batches", "8", "--repeats", "2", "--warmup", "1",
                   "--no-memory", "--matmul-size", "64"] if q else
                  ["--archs", "fc", "dcgan", "--batches", "128", "--repeats", "20"])
    env = environment(args.backend)

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    report = [f"# nanogan on a GPU: `python tests/gpu_check.py{' --quick' if q else ''}"
              f"{' --backend standin' if args.backend == 'standin' else ''}`", "",
              f"Started {started}, commit {commit.stdout.strip() or '?'}.", ""]
    report += [f"- {line}" for line in machine(env)]
    if args.backend == "standin":
        report += ["", "**Run on the CuPy stand-in (NumPy on the host): it tests this command, "
                   "it times no GPU.**"]
    verdicts = {}
    workdir = tempfile.mkdtemp(prefix="nanogan-gpu-check-")
    try:
        parts = (("suite", "The test suite, every CUDA case required", lambda: suite(args, env)),
                 ("train", "Training on cuda beside cpu, the same seed", lambda: training(args, env, workdir)),
                 ("bench", "bench.py --device cuda", lambda: benchmark(args, env)))
        for key, title, fn in parts:
            if key in args.skip:
                continue
            t0 = time.perf_counter()
            ok, lines = fn()
            verdicts[key] = ok
            report += ["", f"## {title}: {'passed' if ok else 'FAILED'} ({time.perf_counter() - t0:.0f} s)", ""]
            report += lines
            print(f"{key}: {'passed' if ok else 'FAILED'}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report += ["", "## Verdict", "",
               ", ".join(f"{k} {'passed' if v else 'FAILED'}" for k, v in verdicts.items()) or "nothing ran"]
    with atomic_open(args.out, "w") as f:
        f.write("\n".join(report) + "\n")
    print(f"report: {args.out}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(cli_main(main))
