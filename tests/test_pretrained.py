"""The generators shipped in nanogan/pretrained/ load, draw and score as the README says,
without the network: `python sample.py` with no checkpoint draws from the DCGAN, and
`python evaluate.py nanogan/pretrained/<file>` reproduces the README's row.

Each file is scored on 10,000 samples of scoring seed 0, as evaluate.py does by default, and
held to the value that command gave when the file was shipped (docs/results.md), within
FD_TOLERANCE: other BLAS libraries and processors round the float32 samples differently, which
moves the Fréchet distance by far less than that; a damaged or different generator moves it by
far more (a tenth of a training epoch's change). The README's row is the mean of five scoring
seeds; seed 0's draw lies within the five draws' range."""
import json
import os

import numpy as np
import pytest

from nanogan.run.generator import PRETRAINED, SHIPPED
from runs import main

# evaluate.py nanogan/pretrained/FILE --seed 0 --copy-check 0, when FILE was shipped
SHIPPED_SCORES = {"dcgan": {"frechet": 1.4853, "precision": 0.8053, "recall": 0.8040},
                  "cgan": {"frechet": 7.5696, "precision": 0.7674, "recall": 0.5764, "conditional_accuracy": 0.9326}}
FD_TOLERANCE, PR_TOLERANCE = 0.05, 0.01


def test_every_shipped_file_is_listed_and_small():
    with open(os.path.join(PRETRAINED, "SHA256SUMS")) as f:
        listed = sorted(line.split()[1] for line in f if line.strip())
    files = sorted(n for n in os.listdir(PRETRAINED) if n.endswith(".npz"))
    assert listed == files and files, (listed, files)
    total = sum(os.path.getsize(os.path.join(PRETRAINED, n)) for n in files)
    assert total <= 8 * 2**20, f"{total} bytes shipped, more than 8 MB"


@pytest.mark.parametrize("arch", sorted(SHIPPED_SCORES))
def test_a_shipped_generator_scores_as_shipped(arch, capsys):
    code, out, err = main(capsys, "evaluate.py", SHIPPED[arch], "--copy-check", 0)
    assert code == 0, err
    scores = json.loads(out.strip().splitlines()[-1])
    want = SHIPPED_SCORES[arch]
    assert abs(scores["frechet"] - want["frechet"]) <= FD_TOLERANCE, (scores["frechet"], want)
    for k in want.keys() - {"frechet"}:
        assert abs(scores[k] - want[k]) <= PR_TOLERANCE, (k, scores[k], want[k])
    assert min(scores["counts"]) >= 800, scores["counts"]          # every digit 8% or more


def test_sample_with_no_checkpoint_draws_from_the_shipped_dcgan(tmp_path, capsys):
    code, out, err = main(capsys, "sample.py", "--num-samples", 16, "--out", tmp_path / "s.npy")
    assert code == 0, err
    digits = np.load(tmp_path / "s.npy", allow_pickle=False)
    code, _, err = main(capsys, "sample.py", SHIPPED["dcgan"], "--num-samples", 16, "--out", tmp_path / "t.npy")
    assert code == 0 and np.array_equal(digits, np.load(tmp_path / "t.npy")), err
    assert digits.shape == (16, 28, 28) and digits.dtype == np.uint8 and digits.std() > 20


def test_sample_a_digit_with_no_checkpoint_draws_from_the_shipped_cgan(tmp_path, capsys):
    code, out, err = main(capsys, "sample.py", "--digit", 7, "--num-samples", 8, "--out", tmp_path / "s.npy")
    assert code == 0, err
    code, _, err = main(capsys, "sample.py", SHIPPED["cgan"], "--digit", 7, "--num-samples", 8, "--out", tmp_path / "t.npy")
    assert code == 0 and np.array_equal(np.load(tmp_path / "s.npy"), np.load(tmp_path / "t.npy")), err


def test_truncation_draws_from_the_truncated_noise(tmp_path, capsys):
    """sample.py --truncation T draws G of the noise GAN.noise truncates at T: other digits
    than without it, the same as drawing that noise by hand."""
    from nanogan.backend import make_rng
    from nanogan.eval.images import to_uint8
    from nanogan.run.generator import load_gan
    code, _, err = main(capsys, "sample.py", "--num-samples", 16, "--truncation", 1, "--out", tmp_path / "t.npy")
    assert code == 0, err
    code, _, err = main(capsys, "sample.py", "--num-samples", 16, "--out", tmp_path / "p.npy")
    assert code == 0, err
    truncated, plain = np.load(tmp_path / "t.npy"), np.load(tmp_path / "p.npy")
    gan = load_gan(SHIPPED["dcgan"], "cpu")
    want = to_uint8(gan.sample(gan.noise(16, make_rng(0), 1.0)))
    assert np.array_equal(truncated, want) and not np.array_equal(truncated, plain)
