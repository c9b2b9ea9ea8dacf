"""Running the commands from tests: as a subprocess (the real command line, signals, exit
codes) or in-process through nanogan.run.cli.main (fast, for the many bad-input cases).

The command is train.py unless the first argument names another: `ok("sample.py", CKPT,
"--out", FILE)`, `main(capsys, "evaluate.py", CKPT)`."""
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ("train.py", "sample.py", "evaluate.py")
TRAIN = os.path.join(ROOT, "train.py")
# a run of a few steps: 128 images in batches of 32 is 4 steps an epoch
SMALL = ["--limit", "128", "--batch-size", "32", "--no-progress", "--eval-every", "0"]

sys.path.insert(0, ROOT)
import evaluate  # noqa: E402
import sample  # noqa: E402
import train  # noqa: E402
from nanogan.run import cli  # noqa: E402

ENTRY = {"train.py": train.train, "sample.py": sample.run, "evaluate.py": evaluate.run}


def _split(args):
    """(script, its arguments as strings)."""
    args = [str(a) for a in args]
    if args and args[0] in SCRIPTS:
        return args[0], args[1:]
    return "train.py", args


def run(*args, cwd=None, env=None):
    """python SCRIPT ARGS in a subprocess; returns (exit code, stdout, stderr)."""
    script, argv = _split(args)
    p = subprocess.run([sys.executable, os.path.join(ROOT, script), *argv], capture_output=True, text=True,
                       cwd=cwd or ROOT, timeout=300, env=env)
    return p.returncode, p.stdout, p.stderr


def ok(*args, **kw):
    code, out, err = run(*args, **kw)
    assert code == 0, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    return out


def main(capsys, *args):
    """The command in this process; returns (exit code, stdout, stderr)."""
    script, argv = _split(args)
    code = cli.main(ENTRY[script], argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error(code, out, err, must_say):
    """Exit status 2 and exactly one stderr line, `error: ...` naming the problem."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and must_say in lines[0], \
        f"exit {code}, wanted 2 and one 'error:' line saying {must_say!r}\nstdout:\n{out}\nstderr:\n{err}"


def expect_error(*args, must_say, leaves=None):
    """The subprocess form: one `error:` line, exit 2, and `leaves` not created."""
    assert_one_error(*run(*args), must_say)
    if leaves is not None:
        assert not os.path.exists(leaves), f"{leaves} was left behind"


def checkpoints_equal(a, b, ignore=("config", "history", "seconds")):
    """The names of the entries in which two checkpoint files differ ([] if none)."""
    a, b = np.load(a, allow_pickle=False), np.load(b, allow_pickle=False)
    if sorted(a.files) != sorted(b.files):
        return sorted(set(a.files) ^ set(b.files))
    return [k for k in a.files if k not in ignore and not np.array_equal(a[k], b[k])]
