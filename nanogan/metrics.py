"""How good are the generated digits? Numbers computed with the MNIST classifier.

Each metric reads the classifier's view of a set of samples: the 128-d
penultimate features f(x) and the class probabilities p(y|x) (nanogan.classifier).

- Fréchet distance (Heusel et al. 2017, "GANs trained by a two time-scale update
  rule converge to a local Nash equilibrium", arXiv:1706.08500, eq. 6; "FID" when the
  features are Inception-v3's): fit a Gaussian N(mu, S) to the features of the
  samples and one to those of real digits; their Fréchet (2-Wasserstein) distance is
      d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}).
  It is 0 only when both mean and covariance agree, so it punishes bad digits and
  missing variety alike. Lower is better.
- Classifier score (the Inception score of Salimans et al. 2016, "Improved techniques
  for training GANs", arXiv:1606.03498, sec. 4, with our classifier in Inception's place):
      exp(E_x KL(p(y|x) || p(y))),   p(y) = E_x p(y|x).
  High when each sample is confidently one digit (p(y|x) peaked) and the digits
  are varied (p(y) flat). It equals exp of the mutual information between x and
  y, so it is at most exp(H(y)) <= exp(log 10) = 10.
- Class coverage: the histogram of predicted digits, its entropy divided by log 10
  (1 = all ten digits equally often, 0 = one digit only), how many digits hold at
  least 5% of the samples, and the share of the most frequent one. Mode collapse
  shows up here first.
- Conditional accuracy, for a class-conditional generator: the fraction of samples
  that the classifier assigns to the digit they were asked to be.

Everything is computed on the host in float64: the sets are small (10,000 x 128)
and the matrix square root wants the precision.
"""
import argparse

import numpy as np

from .backend import to_host
from .classifier import features, load_classifier
from .datasets import load_dataset
from .errors import NanoganError

MIN_SHARE = 0.05  # a digit "is covered" when it holds at least this share of the samples


def gaussian_stats(feats):
    """Mean (D,) and covariance (D, D) (unbiased, divided by N - 1) of features (N, D)."""
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or len(feats) < 2:
        raise ValueError(f"need at least 2 feature vectors of shape (N, D), got {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def _sqrt_psd(S):
    """Square root of a symmetric positive semi-definite matrix: V diag(sqrt(w)) V^T for S = V diag(w) V^T.
    Eigenvalues that rounding made slightly negative are set to 0."""
    w, V = np.linalg.eigh(S)
    return (V * np.sqrt(np.clip(w, 0, None))) @ V.T


def frechet_distance(mu1, S1, mu2, S2):
    """||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2}) for two Gaussians.

    S1 S2 is not symmetric, and a general matrix square root (scipy.linalg.sqrtm)
    can return complex noise. But with R = S1^{1/2},
        S1 S2 = R (R S2 R) R^{-1},
    so S1 S2 is similar to A = R S2 R, which is symmetric PSD. Similar matrices have
    the same eigenvalues, and the trace of a square root is the sum of the square
    roots of the eigenvalues, so Tr((S1 S2)^{1/2}) = sum_i sqrt(lambda_i(A)), with
    lambda_i(A) >= 0 real: two symmetric eigendecompositions, no complex numbers.
    (For a singular S1 the identity still holds, by continuity.)
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    S1, S2 = np.asarray(S1, np.float64), np.asarray(S2, np.float64)
    if mu1.shape != mu2.shape or S1.shape != S2.shape or S1.shape != mu1.shape * 2:
        raise ValueError(f"mismatched Gaussians: means {mu1.shape}, {mu2.shape}; "
                         f"covariances {S1.shape}, {S2.shape}")
    R = _sqrt_psd(S1)
    A = R @ S2 @ R
    A = (A + A.T) / 2                                   # symmetric up to rounding; make it exact
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(A), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(S1) + np.trace(S2) - 2 * tr_sqrt)


def classifier_score(probs):
    """exp(mean_x KL(p(y|x) || p(y))) for class probabilities (N, K); between 1 and K.

    Terms with p(y|x) = 0 contribute 0 (the limit of p log p), so a one-hot p(y|x)
    is fine.
    """
    p = np.asarray(probs, dtype=np.float64)                             # (N, K)
    p_y = p.mean(axis=0)                                                # (K,)
    safe = p > 0
    ratio = np.where(safe, p, 1.0) / np.where(safe, p_y, 1.0)           # p_y >= p/N > 0 where p > 0
    kl = (p * np.log(ratio)).sum(axis=1)                                # (N,)
    return float(np.exp(kl.mean()))


def class_coverage(predicted, num_classes=10):
    """Statistics of the histogram of predicted classes (int array (N,)).

    Returns {"counts": list of K ints, "entropy": H(freq) / log K in [0, 1],
    "covered": number of classes holding >= MIN_SHARE of the samples,
    "top_share": the largest class's share}.
    """
    predicted = np.asarray(predicted)
    counts = np.bincount(predicted, minlength=num_classes)[:num_classes]   # (K,)
    freq = counts / max(len(predicted), 1)
    nz = freq[freq > 0]
    return {"counts": counts.tolist(),
            "entropy": float(-(nz * np.log(nz)).sum() / np.log(num_classes)),
            "covered": int((freq >= MIN_SHARE).sum()),
            "top_share": float(freq.max())}


def conditional_accuracy(probs, labels):
    """Fraction of samples whose most probable class is the label they were generated for."""
    return float((np.asarray(probs).argmax(axis=1) == to_host(labels)).mean())


def as_images(samples):
    """uint8 (N, 28, 28) pixels 0..255, or floats (N, 1, 28, 28) / (N, 28, 28) in [-1, 1],
    -> float32 (N, 1, 28, 28) in [-1, 1], the classifier's input (kept on its device)."""
    if samples.ndim not in (3, 4) or samples.shape[-2:] != (28, 28) or (samples.ndim == 4 and samples.shape[1] != 1):
        raise ValueError(f"samples must have shape (N, 28, 28) or (N, 1, 28, 28), got {tuple(samples.shape)}")
    x = samples.reshape(len(samples), 1, 28, 28)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(127.5) - np.float32(1)
    return x.astype(np.float32, copy=False)


# The classifier's view of the real test digits, computed once per classifier in this process.
_test_view = {}


def _test_features(classifier):
    """(features (10000, 128), probabilities (10000, 10), labels) of the MNIST test digits."""
    key = id(classifier)
    if key not in _test_view or _test_view[key][0] is not classifier:  # an id can be reused
        test_x, test_y = load_dataset("mnist", "test")
        _test_view[key] = (classifier, *features(classifier, test_x), test_y)
    return _test_view[key][1:]


def real_stats(classifier):
    """(mu, Sigma) of the classifier's features of the 10,000 MNIST test digits."""
    return gaussian_stats(_test_features(classifier)[0])


def evaluate(samples, classifier, reference_stats=None, labels=None):
    """Every metric for a set of generated samples (see the module docstring).

    samples: uint8 (N, 28, 28) or float (N, 1, 28, 28) in [-1, 1].
    reference_stats: (mu, Sigma) of real features; default: the test digits'.
    labels: the digits a conditional generator was asked for, (N,), if any.
    Returns {"frechet", "classifier_score", "entropy", "covered", "top_share",
    "counts"} and, with labels, "conditional_accuracy".
    """
    if len(samples) < 2:
        raise NanoganError(f"evaluating needs at least 2 samples, got {len(samples)}.")
    mu_r, S_r = reference_stats if reference_stats is not None else real_stats(classifier)
    feats, probs = features(classifier, as_images(samples))
    mu, S = gaussian_stats(feats)
    out = {"frechet": frechet_distance(mu, S, mu_r, S_r), "classifier_score": classifier_score(probs)}
    out.update(class_coverage(probs.argmax(axis=1)))
    if labels is not None:
        out["conditional_accuracy"] = conditional_accuracy(probs, labels)
    return out


def real_floor(classifier=None, n=10_000, seed=0):
    """What real digits score, the best a generator can hope for.

    The Fréchet distance of n training digits (a fixed random subset, drawn with
    `seed`) from the test digits: not 0, because two finite samples of the same
    distribution differ. And the classifier score and coverage of the test digits.
    """
    classifier = classifier or load_classifier()
    train_x, _ = load_dataset("mnist", "train")
    subset = np.sort(np.random.default_rng(seed).choice(len(train_x), n, replace=False))
    frechet = evaluate(train_x[subset], classifier)["frechet"]
    _, probs, labels = _test_features(classifier)
    test = {"classifier_score": classifier_score(probs), **class_coverage(probs.argmax(axis=1)),
            "accuracy": conditional_accuracy(probs, labels)}
    return {"frechet_train_vs_test": frechet, "test": test}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m nanogan.metrics",
                                description="Print the real-data floor of the metrics.")
    p.add_argument("--classifier", default=None, help="weights (.npz); default: the shipped ones")
    args = p.parse_args(argv)
    floor = real_floor(load_classifier(args.classifier))
    t = floor["test"]
    print(f"Fréchet distance, 10,000 training digits vs the 10,000 test digits: {floor['frechet_train_vs_test']:.3f}")
    print(f"test digits: classifier score {t['classifier_score']:.3f}, entropy {t['entropy']:.4f}, "
          f"covered {t['covered']}/10, top share {t['top_share']:.4f}, accuracy {t['accuracy']:.4f}")
    print(f"predicted-class counts: {t['counts']}")


if __name__ == "__main__":
    main()
