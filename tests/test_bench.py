"""bench.py runs end to end at a tiny size (its numbers are for the README, never asserted here)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bench  # noqa: E402


def test_comparison_table(capsys):
    assert bench.main(["--archs", "fc", "--batches", "8", "--repeats", "2", "--warmup", "1",
                       "--no-memory", "--matmul-size", "64"]) == 0
    out = capsys.readouterr().out
    rows = [l for l in out.splitlines() if l.startswith("| fc | 8 |")]
    assert len(rows) == 1, out


def test_profile_accounts_for_every_layer(capsys):
    assert bench.main(["--archs", "dcgan", "--batches", "4", "--repeats", "1", "--warmup", "1", "--profile"]) == 0
    out = capsys.readouterr().out
    for part in ("D[2] Conv2d(64, 128, k=4, s=2, p=1) backward", "G[4] ConvTranspose2d(128, 64, k=4, s=2, p=1) forward",
                 "Adam on G", "Adam on D", "the rest ("):
        assert f"| {part}" in out, f"{part!r} missing from:\n{out}"
    shares = [float(l.rsplit("|", 2)[1].strip().rstrip("%")) for l in out.splitlines()
              if l.startswith("| ") and l.endswith("% |")]
    assert abs(sum(shares) - 100) < 1, f"shares add up to {sum(shares)}"
