"""Every bad command line is one `error:` line and exit status 2, found before any data is
loaded or any file written: argparse's own errors, out-of-range values, options that
belong to another command, and output paths that could not be written at the end."""
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
    (["--digit", "11", "--sample-from", "x.npz", "--sample-out", "x.npy"], "invalid choice: 11"),
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
    (["--no-ema"], "--no-ema applies to --sample-from and --evaluate and --walk, not to training"),
    (["--evaluate", "x.npz", "--ema", "0.9"], "--ema applies to training"),
    (["--sample-from", "x.npz", "--sample-out", "x.npy", "--num-samples", "0"], "--num-samples must be an integer from 1"),
    (["--sample-from", "x.npz", "--sample-out", "x.npy", "--num-samples", str(10**12)], "to 1000000"),
    (["--evaluate", "x.npz", "--num-samples", "3"], "--num-samples must be an integer from 4"),
    (["--evaluate", "x.npz", "--copy-check", "-1"], "--copy-check must be an integer from 0 to 60000"),
    (["--evaluate", "x.npz", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["--walk", "x.npz", "--sample-out", "w.npy"], "--walk needs --sample-out FILE.png"),
    (["--walk", "x.npz", "--sample-out", "w.png", "--walk-steps", "1"], "--walk-steps must be an integer from 2"),
    (["--walk", "x.npz", "--sample-out", "w.png", "--num-samples", "5"], "--num-samples applies to --sample-from and --evaluate, not to --walk"),
    (["--walk", "x.npz", "--evaluate", "y.npz"], "are different commands"),
    (["--walk-rows", "3"], "--walk-rows applies to --walk, not to training"),
    (["--figures", "figs"], "--figures applies to --evaluate, not to training"),
    (["--evaluate", "x.npz", "--num-samples", str(10**9)], "to 100000"),
    # options that belong to another command
    (["--evaluate", "x.npz", "--sample-from", "y.npz"], "are different commands"),
    (["--evaluate", "x.npz", "--resume", "y.npz"], "--resume applies to training, not to --evaluate"),
    (["--sample-from", "x.npz", "--sample-out", "x.npy", "--lr", "0.1"], "--lr applies to training"),
    (["--sample-from", "x.npz", "--sample-out", "x.npy", "--eval-json", "s.json"], "--eval-json applies to --evaluate"),
    (["--digit", "3"], "--digit applies to --sample-from, not to training"),
    (["--sample-out", "x.png"], "--sample-out applies to --sample-from and --walk, not to training"),
    (["--num-samples", "10"], "--num-samples applies to"),
    (["--evaluate", "x.npz", "--epochs", "3"], "--epochs applies to training"),
    (["--sample-from", "x.npz", "--sample-out", "x.jpg"], "ending in .npy"),
]


@pytest.mark.parametrize("argv, must_say", BAD, ids=[" ".join(a)[:40] for a, _ in BAD])
def test_bad_command_line(argv, must_say, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)                       # relative paths land here, and nothing may
    assert_one_error(*main(capsys, *argv), must_say)
    assert os.listdir(tmp_path) == [], f"left behind: {os.listdir(tmp_path)}"


def test_output_paths_are_checked_before_the_work(tmp_path, capsys):
    """A long --evaluate or --sample-from must not end in a failed write: the paths are
    checked first, before the checkpoint is even read."""
    missing = tmp_path / "no" / "such" / "folder"
    assert_one_error(*main(capsys, "--evaluate", tmp_path / "x.npz", "--eval-json", missing / "s.json"),
                     "does not exist")
    assert_one_error(*main(capsys, "--evaluate", tmp_path / "x.npz", "--eval-json", tmp_path), "is a directory")
    assert_one_error(*main(capsys, "--sample-from", tmp_path / "x.npz", "--sample-out", missing / "s.png"),
                     "does not exist")


def test_bad_sample_files_for_evaluate(tmp_path, capsys):
    """--evaluate FILE.npy: empty, an .npz in disguise, a pickle, text, the wrong dtype or shape."""
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
        assert_one_error(*main(capsys, "--evaluate", tmp_path / f"{name}.npy"), says)


def test_too_large_a_batch_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert_one_error(*main(capsys, "--limit", 100, "--batch-size", 128, "--out", out), "larger than the 100")
    assert not out.exists()


def test_a_small_run_in_process(tmp_path, capsys):
    """The in-process path the other tests use does train (and prints its epoch lines)."""
    code, out, err = main(capsys, "--epochs", 1, "--out", tmp_path / "run", *SMALL)
    assert code == 0 and "epoch   1/1" in out, (code, out, err)
