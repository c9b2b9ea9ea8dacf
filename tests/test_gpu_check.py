"""tests/gpu_check.py, the command that proves the CUDA path on a GPU, runs end to end on the
CuPy stand-in (--quick: seconds) and writes its report; its numbers are never asserted."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(os.environ.get("NANOGAN_GPU_CHECK") == "1", reason="inside gpu_check.py's own suite run")
def test_gpu_check_writes_its_report_on_the_standin(tmp_path):
    out = tmp_path / "report.md"
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "gpu_check.py"), "--quick",
                        "--backend", "standin", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    report = out.read_text()
    for part in ("## The test suite, every CUDA case required: passed",
                 "## Training on cuda beside cpu, the same seed: passed",
                 "## bench.py --device cuda: passed", "| fc | 8 |", "stand-in"):
        assert part in report, f"{part!r} missing from:\n{report}"
    for arch in ("fc", "dcgan"):          # one epoch of each on both devices, scored
        rows = [l for l in report.splitlines() if l.startswith("| 1 |")]
        assert len(rows) == 2 and all("– /" not in r for r in rows), report


def test_a_report_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    """A missing folder, a directory or a bad number is one `error:` line at once, not a
    traceback after ten minutes of tests and training."""
    for args in (["--out", str(tmp_path / "missing" / "report.md")], ["--out", str(tmp_path)],
                 ["--epochs", "0"], ["--suite-timeout", "-1"]):
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "gpu_check.py"), "--quick",
                            "--backend", "standin", *args], capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, \
            (args, p.stdout, p.stderr)
        assert p.stdout == "", (args, p.stdout)           # nothing ran
