"""Every bad command line is one `error:` line and exit status 2, found before any data is
loaded or any file written: argparse's own errors, out-of-range values, options that
belong to another command, and output paths that could not be written at the end. The
command is train.py unless the first argument names sample.py or evaluate.py."""
import os

import numpy as np
import pytest

from runs import SMALL, assert_one_error, main

BAD = [
    # argparse's own errors, one line instead of a usage block
    (["--arch", "gan9"], "invalid choice: 'gan9'"),
    (["--nonsense"], "unrecognized arguments: --nonsense"),
    (["--epochs", "two"], "invalid int value: 'two'"),
    (["--lr"], "expected one argument"),
    # values out of range
    (["--seed", "-1"], "--seed must be an integer from 0"),
    (["--epochs", "0"], "--epochs must be an integer from 1"),
    (["--batch-size", "-3"], "--batch-size must be an integer from 1"),
    (["--batch-size", "10000000"], "--batch-size must be an integer from 1 to 65536"),
    (["--z-dim", "0"], "--z-dim must be"),
    (["--z-dim", "100000000"], "--z-dim must be an integer from 1 to 4096"),
    (["--lr", "0"], "--lr must be a positive number"),
    (["--lr", "nan"], "--lr must be a positive number"),
    (["--lr", "inf"], "--lr must be a positive number"),
    (["--beta1", "1"], "--beta1 must be a number in [0, 1)"),
    (["--beta2", "-0.1"], "--beta2 must be a number in [0, 1)"),
    (["--real-label", "0"], "--real-label must be a number in (0, 1]"),
    (["--dropout", "1"], "--dropout must be a number in [0, 1)"),
    (["--limit", "0"], "--limit must be a positive integer"),
    (["--eval-samples", "3"], "--eval-samples must be an integer from 4"),
    (["--eval-every", "-1"], "--eval-every must be an integer from 0"),
    (["--save-every", "-2"], "--save-every must be an integer from 0"),
    (["--arch", "dcgan", "--dropout", "0"], "the DCGAN's D has BatchNorm and no dropout"),
    (["--ema", "1"], "--ema must be a number in [0, 1)"),
    (["--ema", "-0.5"], "--ema must be a number in [0, 1)"),
    (["--lr-d", "0"], "--lr-d must be a positive number"),
    (["--lr-hold", "-1"], "--lr-hold must be an integer from 0 to"),
    (["--width", "0"], "--width must be an integer from 1 to 1024"),
    (["--arch", "fc", "--width", "32"], "--width sets the DCGAN's layers; --arch fc has none"),
    (["--d-norm", "none"], "--d-norm sets the DCGAN's layers; --arch fc has none"),
    (["--arch", "dcgan", "--d-norm", "layer"], "invalid choice: 'layer'"),
    (["--loss", "hinge", "--real-label", "0.9"], "--loss hinge has no label smoothing"),
    (["--arch", "dcgan", "--loss", "hinge", "--real-label", "0.9"], "--loss hinge has no label smoothing"),
    (["--codes", "11", "--z-dim", "10"], "is read off the first 11 entries of the noise, which has 10"),
    (["--arch", "dcgan", "--z-dim", "8"], "which has 8 (--z-dim); give --codes 8 or fewer, or 0."),
    (["--codes", "2", "--z-dim", "1"], "which has 1 (--z-dim); give --codes 0."),
    (["--codes", "1"], "--codes 1 is a code that never changes"),
    (["--codes", "-1"], "--codes must be an integer from 0 to 4096"),
    (["--code-scale", "0"], "--code-scale must be a number from 0.001 to 1000"),
    (["--code-scale", "1e-300"], "--code-scale must be a number from 0.001 to 1000"),   # 0 in float32
    (["--code-scale", "inf"], "--code-scale must be a number from 0.001 to 1000"),
    (["--code-scale", "10"], "--arch fc with --codes 0 has none; give --codes 2 or more"),
    (["--arch", "dcgan", "--codes", "0", "--code-scale", "5"], "--arch dcgan with --codes 0 has none"),
    (["--loss", "wasserstein"], "invalid choice: 'wasserstein'"),
    # abbreviations are not guesses
    (["--epoch", "3"], "unrecognized arguments: --epoch 3"),
    (["--out", ""], "--out needs a path"),
    (["--resume", ""], "--resume needs a path"),
    # options of the other commands: each command has its own
    (["--no-ema"], "unrecognized arguments: --no-ema"),
    (["--figures", "figs"], "unrecognized arguments: --figures figs"),
    (["--sample-from", "x.npz"], "--sample-from is a command of its own now: python sample.py"),
    (["--evaluate", "x.npz"], "--evaluate is a command of its own now: python evaluate.py"),
    (["--walk", "x.npz"], "--walk is a command of its own now: python sample.py CKPT --walk"),
    # sample.py
    (["sample.py", "x.npz"], "the following arguments are required: --out"),
    (["sample.py", "x.npz", "--out", "x.npy", "--digit", "11"], "invalid choice: 11"),
    (["sample.py", "x.npz", "--out", "x.npy", "--num-samples", "0"], "--num-samples must be an integer from 1"),
    (["sample.py", "x.npz", "--out", "x.npy", "--num-samples", str(10**12)], "to 1000000"),
    (["sample.py", "x.npz", "--out", "x.jpg"], "ending in .npy"),
    (["sample.py", "x.npz", "--out", "x.npy", "--lr", "0.1"], "unrecognized arguments: --lr"),
    (["sample.py", "x.npz", "--out", "x.npy", "--seed", "-1"], "--seed must be an integer from 0"),
    (["sample.py", "x.npz", "--walk", "--out", "w.npy"], "--walk needs --out FILE.png"),
    (["sample.py", "x.npz", "--walk", "--out", "w.png", "--walk-steps", "1"], "--walk-steps must be an integer from 2"),
    (["sample.py", "x.npz", "--walk", "--out", "w.png", "--num-samples", "5"], "drop --num-samples"),
    (["sample.py", "x.npz", "--walk", "--out", "w.png", "--truncation", "2"], "and --truncation"),
    (["sample.py", "x.npz", "--out", "x.npy", "--truncation", "0.1"], "--truncation must be a number from 0.25 to 10"),
    (["sample.py", "x.npz", "--out", "x.npy", "--truncation", "nan"], "--truncation must be a number from 0.25"),
    (["sample.py", "x.npz", "--out", "x.npy", "--truncation", "inf"], "--truncation must be a number from 0.25"),
    # evaluate.py
    (["evaluate.py"], "the following arguments are required: CKPT|FILE.npy"),
    (["evaluate.py", "x.npz", "--ema", "0.9"], "unrecognized arguments: --ema"),
    (["evaluate.py", "x.npz", "--num-samples", "3"], "--num-samples must be an integer from 4"),
    (["evaluate.py", "x.npz", "--num-samples", str(10**9)], "to 100000"),
    (["evaluate.py", "x.npz", "--copy-check", "-1"], "--copy-check must be an integer from 0 to 60000"),
    (["evaluate.py", "x.npz", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["evaluate.py", "x.npz", "--resume", "y.npz"], "unrecognized arguments: --resume"),
    (["evaluate.py", "x.npz", "--epochs", "3"], "unrecognized arguments: --epochs"),
    (["evaluate.py", "x.npz", "--eval-json", "s.json"], "unrecognized arguments: --eval-json"),
    (["evaluate.py", "x.npz", "--truncation", "-1"], "--truncation must be a number from 0.25"),
    (["evaluate.py", "x.npy", "--truncation", "2"], "saved digits (.npy) have none to truncate"),
]


@pytest.mark.parametrize("argv, must_say", BAD, ids=[" ".join(a)[:40] for a, _ in BAD])
def test_bad_command_line(argv, must_say, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)                       # relative paths land here, and nothing may
    assert_one_error(*main(capsys, *argv), must_say)
    assert os.listdir(tmp_path) == [], f"left behind: {os.listdir(tmp_path)}"


def test_output_paths_are_checked_before_the_work(tmp_path, capsys):
    """A long evaluate.py or sample.py must not end in a failed write: the paths are
    checked first, before the checkpoint is even read."""
    missing = tmp_path / "no" / "such" / "folder"
    assert_one_error(*main(capsys, "evaluate.py", tmp_path / "x.npz", "--json", missing / "s.json"),
                     "does not exist")
    assert_one_error(*main(capsys, "evaluate.py", tmp_path / "x.npz", "--json", tmp_path), "is a directory")
    assert_one_error(*main(capsys, "sample.py", tmp_path / "x.npz", "--out", missing / "s.png"),
                     "does not exist")


def test_bad_sample_files_for_evaluate(tmp_path, capsys):
    """evaluate.py FILE.npy: empty, an .npz in disguise, a pickle, text, the wrong dtype or shape."""
    (tmp_path / "empty.npy").write_bytes(b"")
    np.savez(tmp_path / "zip.npz", a=np.zeros((5, 28, 28), np.uint8))
    os.rename(tmp_path / "zip.npz", tmp_path / "zip.npy")
    np.save(tmp_path / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "text.npy").write_text("hello")
    np.save(tmp_path / "float.npy", np.zeros((5, 28, 28), np.float32))
    np.save(tmp_path / "one.npy", np.zeros((1, 28, 28), np.uint8))
    np.save(tmp_path / "none.npy", np.zeros((0, 28, 28), np.uint8))
    for name, says in [("empty", "corrupt"), ("zip", "corrupt"), ("pickle", "corrupt"), ("text", "corrupt"),
                       ("float", "expected uint8 (N, 28, 28)"), ("one", "4 <= N"), ("none", "4 <= N"),
                       ("missing", "does not exist")]:
        assert_one_error(*main(capsys, "evaluate.py", tmp_path / f"{name}.npy"), says)


def test_too_large_a_batch_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert_one_error(*main(capsys, "--limit", 100, "--batch-size", 128, "--out", out), "larger than the 100")
    assert not out.exists()


def test_a_small_run_in_process(tmp_path, capsys):
    """The in-process path the other tests use does train (and prints its epoch lines)."""
    code, out, err = main(capsys, "--epochs", 1, "--out", tmp_path / "run", *SMALL)
    assert code == 0 and "epoch   1/1" in out, (code, out, err)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_an_unwritable_stdout_is_one_error_line_and_a_run_keeps_its_files(tmp_path):
    """stdout on a full disk: sample.py and evaluate.py say so in one line (their output is
    the product); train.py trains on (its log is not), and its run directory is whole."""
    import subprocess
    import sys

    from runs import ROOT, run
    ck = tmp_path / "run" / "checkpoint.npz"
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--epochs", "1", "--out",
                            str(tmp_path / "run"), *map(str, SMALL)], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=300)
        assert p.returncode == 0 and ck.exists(), p.stderr
        for argv in (["sample.py", ck, "--out", tmp_path / "s.png"],
                     ["evaluate.py", ck, "--num-samples", 20, "--copy-check", 0]):
            p = subprocess.run([sys.executable, os.path.join(ROOT, *map(str, argv[:1])), *map(str, argv[1:])],
                               stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
            lines = p.stderr.strip().splitlines()
            assert p.returncode == 2 and lines == ["error: cannot write the output (No space left on device)."], \
                (argv[0], p.returncode, p.stderr)
    # a reader that goes away (`| head -c 0`): exit 2, no traceback
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "evaluate.py"), str(ck), "--num-samples", "20",
                          "--copy-check", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=300) == 2 and "Traceback" not in err and "Exception ignored" not in err, err
    assert run("--help")[0] == 0
