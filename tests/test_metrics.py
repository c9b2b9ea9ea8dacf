"""The metrics on cases whose answers are known in closed form."""
import numpy as np
import pytest

from nanogan.eval.metrics import (as_images, class_coverage, classifier_score, conditional_accuracy,
                             frechet_distance, gaussian_stats)


def random_cov(rng, d):
    A = rng.standard_normal((d, d))
    return A @ A.T / d + 0.1 * np.eye(d)  # symmetric positive definite


def test_frechet_identical_sets_is_zero():
    feats = np.random.default_rng(0).standard_normal((500, 16)) @ np.random.default_rng(1).standard_normal((16, 16))
    mu, S = gaussian_stats(feats)
    assert abs(frechet_distance(mu, S, mu, S)) < 1e-8


def test_frechet_diagonal_closed_form():
    """Diagonal covariances commute: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(a) - sqrt(b))^2."""
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    a, b = rng.uniform(0.1, 3, 8), rng.uniform(0.1, 3, 8)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_frechet_scalar_and_symmetry():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 1)
    rng = np.random.default_rng(2)
    S1, S2, mu1, mu2 = random_cov(rng, 6), random_cov(rng, 6), rng.standard_normal(6), rng.standard_normal(6)
    assert frechet_distance(mu1, S1, mu2, S2) == pytest.approx(frechet_distance(mu2, S2, mu1, S1), rel=1e-9)


def test_frechet_general_matches_scipy():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(3)
    d = 12
    S1, S2, mu1, mu2 = random_cov(rng, d), random_cov(rng, d), rng.standard_normal(d), rng.standard_normal(d)
    covmean = linalg.sqrtm(S1 @ S2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(S1 + S2 - 2 * covmean)
    assert frechet_distance(mu1, S1, mu2, S2) == pytest.approx(expected, rel=1e-8)


def test_frechet_singular_covariance():
    """Rank-deficient covariances (fewer samples than dimensions) stay real and >= 0."""
    rng = np.random.default_rng(4)
    mu1, S1 = gaussian_stats(rng.standard_normal((5, 10)))
    mu2, S2 = gaussian_stats(rng.standard_normal((5, 10)) + 1)
    d = frechet_distance(mu1, S1, mu2, S2)
    assert np.isfinite(d) and d >= 0


def test_one_class_coverage():
    cov = class_coverage(np.full(100, 7))
    assert cov["entropy"] == 0 and cov["covered"] == 1 and cov["top_share"] == 1
    assert cov["counts"] == [0] * 7 + [100, 0, 0]


def test_uniform_confident_predictions():
    labels = np.repeat(np.arange(10), 30)
    probs = np.eye(10)[labels]                                 # one-hot, perfectly confident
    cov = class_coverage(probs.argmax(axis=1))
    assert cov["entropy"] == pytest.approx(1) and cov["covered"] == 10 and cov["top_share"] == pytest.approx(0.1)
    assert classifier_score(probs) == pytest.approx(10)


def test_classifier_score_bounds():
    assert classifier_score(np.full((50, 10), 0.1)) == pytest.approx(1)  # no confidence: 1
    assert classifier_score(np.eye(10)[np.full(50, 3)]) == pytest.approx(1)  # one class only: 1
    probs = np.random.default_rng(5).dirichlet(np.full(10, 0.3), 200)
    assert 1 <= classifier_score(probs) <= 10


def test_conditional_accuracy():
    probs = np.eye(10)[[0, 1, 2, 3]] * 0.8 + 0.02
    assert conditional_accuracy(probs, np.array([0, 1, 5, 3])) == pytest.approx(0.75)


def test_as_images():
    u8 = np.array([[[0, 255] + [128] * 26] * 28], dtype=np.uint8)   # (1, 28, 28)
    x = as_images(u8)
    assert x.shape == (1, 1, 28, 28) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == -1 and x[0, 0, 0, 1] == 1
    with pytest.raises(ValueError):
        as_images(np.zeros((3, 2, 28, 28), dtype=np.float32))


def test_evaluate_plumbing():
    """evaluate() on uint8 and float inputs with given reference statistics (an untrained
    classifier suffices: this checks shapes and keys, not quality)."""
    from nanogan.backend import make_rng
    from nanogan.eval.classifier import make_classifier
    from nanogan.eval.metrics import evaluate
    model = make_classifier(make_rng(0)).eval()
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (40, 28, 28)).astype(np.uint8)
    real = np.abs(rng.standard_normal((100, 128)))
    out = evaluate(u8, model, labels=np.zeros(40, dtype=np.int64), reference_features=real)
    assert set(out) == {"frechet", "classifier_score", "entropy", "covered", "top_share", "counts",
                        "precision", "recall", "conditional_accuracy"}
    assert sum(out["counts"]) == 40 and 1 <= out["classifier_score"] <= 10 and out["frechet"] >= 0
    assert 0 <= out["precision"] <= 1 and 0 <= out["recall"] <= 1
    same = evaluate(as_images(u8), model, reference_features=real)   # float (N, 1, 28, 28) in [-1, 1]
    assert same["frechet"] == pytest.approx(out["frechet"], rel=1e-6)
    given = evaluate(u8, model, reference_stats=gaussian_stats(real), reference_features=real)
    assert given["frechet"] == pytest.approx(out["frechet"], rel=1e-12)


# -- Fashion-MNIST, precision and recall, memorisation: on small random stand-in files
#    (helpers.fake_dataset) and the shipped Fashion-MNIST classifier.

@pytest.fixture
def fashion(monkeypatch, tmp_path):
    """A fake Fashion-MNIST of 200 training and 100 test images, and an empty cache of real
    features (a cached view of the real files must not leak into these tests, nor out)."""
    from nanogan.eval import metrics
    from helpers import fake_dataset
    monkeypatch.setattr(metrics, "_cache", {})
    return fake_dataset(monkeypatch, tmp_path)


def test_evaluate_test_images_against_themselves(fashion):
    from nanogan.eval.metrics import evaluate
    test_images, _ = fashion["test"]
    out = evaluate(test_images, dataset="fashion-mnist")         # the Fashion classifier, loaded by default
    assert (out["precision"], out["recall"]) == (1.0, 1.0), (out["precision"], out["recall"])
    assert abs(out["frechet"]) < 1e-6, out["frechet"]
    far = evaluate(np.full((50, 28, 28), 255, np.uint8), dataset="fashion-mnist")  # all-white images
    assert far["precision"] < 0.1 and far["recall"] < 0.1, (far["precision"], far["recall"])


def test_a_classifier_judges_only_its_own_dataset(fashion):
    from nanogan.eval.classifier import load_classifier
    from nanogan.errors import NanoganError
    from nanogan.eval.metrics import evaluate
    with pytest.raises(NanoganError, match="trained on mnist, so it cannot judge fashion-mnist") as e:
        evaluate(fashion["test"][0], load_classifier(), dataset="fashion-mnist")
    assert "\n" not in str(e.value)


def test_memorisation_of_copies_and_of_unseen_images(fashion):
    from nanogan.eval.metrics import memorisation
    train_images, test_images = fashion["train"][0], fashion["test"][0]
    copies = train_images[[5, 17, 17, 199]]
    scores, nearest = memorisation(copies, dataset="fashion-mnist")
    assert set(scores) == {"copy_ratio_features", "copy_share_features", "copy_ratio_pixels", "copy_share_pixels"}
    for space in ("features", "pixels"):
        distances, index = nearest[space]
        assert index.tolist() == [5, 17, 17, 199] and distances.max() < 1e-5, (space, index, distances)
        assert scores[f"copy_ratio_{space}"] < 1e-5 and scores[f"copy_share_{space}"] == 1, scores
    # The test images are their own baseline: ratio 1, and 1 in 100 lies below their 1st percentile.
    scores, _ = memorisation(test_images, dataset="fashion-mnist")
    for space in ("features", "pixels"):
        assert scores[f"copy_ratio_{space}"] == pytest.approx(1, rel=1e-9), scores
        assert scores[f"copy_share_{space}"] == pytest.approx(0.01), scores


def test_nearest_training_in_a_subset_indexes_the_whole_split(fashion):
    from nanogan.eval.metrics import _subset, nearest_training
    subset = _subset(200, 50, seed=3)
    assert len(subset) == 50 and (np.diff(subset) > 0).all()
    distances, index = nearest_training(fashion["train"][0][subset[:10]], dataset="fashion-mnist",
                                        space="pixels", train_subset=50, seed=3)
    assert index.tolist() == subset[:10].tolist() and distances.max() < 1e-5, (index, subset[:10])
    assert distances.dtype == np.float64 and index.dtype == np.int64


def test_real_floor_on_a_dataset(fashion):
    from nanogan.eval.metrics import real_floor
    floor = real_floor(n=150, dataset="fashion-mnist")
    assert 0 <= floor["precision_train_vs_test"] <= 1 and 0 <= floor["recall_train_vs_test"] <= 1
    assert floor["frechet_train_vs_test"] > 0 and sum(floor["test"]["counts"]) == 100


def test_too_few_samples_is_one_line():
    from nanogan.backend import make_rng
    from nanogan.eval.classifier import make_classifier
    from nanogan.errors import NanoganError
    from nanogan.eval.metrics import evaluate
    with pytest.raises(NanoganError, match="needs at least 4 samples .* got 3"):
        evaluate(np.zeros((3, 28, 28), np.uint8), make_classifier(make_rng(0)).eval())


def test_the_floor_tool_refuses_a_bad_count_in_one_line(capsys):
    from nanogan.command import main as run_command
    from nanogan.eval import metrics
    for n in ("0", "-5", "100000000", "many"):
        assert run_command(metrics.main, ["--num-samples", n]) == 2, n
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, (n, err)
