"""How good are the generated digits? Numbers computed with the dataset's classifier.

Each metric reads the classifier's view of a set of samples: the 128-d
penultimate features f(x) and the class probabilities p(y|x) (nanogan.eval.classifier;
one classifier per dataset, MNIST or Fashion-MNIST, and the real images are that
dataset's 10,000 test images).

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
- Precision and recall (Kynkäänniemi et al. 2019; nanogan.eval.neighbours): the share of
  samples that fall within the real features' k-nearest-neighbour balls (do they look
  real?) and the share of real features within the samples' balls (is the real
  variety reached?). The Fréchet distance mixes the two.
- Memorisation (memorisation(), not part of evaluate(): it searches all 60,000
  training images): each sample's distance to its nearest training image, in feature
  and in pixel space, against the same distance for the test images, which nobody copied.

Everything is computed on the host in float64: the sets are small (10,000 x 128)
and the matrix square root wants the precision; the distances are computed in blocks
of bounded size (nanogan.eval.neighbours).
"""
import sys

import numpy as np

from ..backend import to_host
from ..command import Parser, main as run_command, whole
from .classifier import features, load_classifier
from ..data.datasets import DATASETS, load_dataset
from ..errors import NanoganError
from .neighbours import copy_statistics, knn_radii, nearest_neighbours, precision_recall

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


K = 3  # neighbours behind each ball of precision and recall (Kynkäänniemi et al. 2019's choice)
SPACES = ("features", "pixels")  # where memorisation() measures nearest-training distances

# Views of the real data computed once per (what, classifier, dataset) in this process:
# the test split's features are needed at every evaluation, the training split's for
# memorisation, and both are expensive (a pass of the classifier over 10,000 or 60,000 images).
_cache = {}


def _cached(what, classifier, dataset, make):
    """make(), remembered under (what, classifier, dataset). The entry keeps the classifier
    itself, since an id can be reused once a model has been freed."""
    key = (what, id(classifier), dataset)
    if key not in _cache or _cache[key][0] is not classifier:
        _cache[key] = (classifier, make())
    return _cache[key][1]


def _real_view(classifier, dataset, split="test"):
    """(features (N, 128), probabilities (N, 10), labels (N,)) of a split of the real data."""
    def make():
        images, labels = load_dataset(dataset, split)
        return (*features(classifier, images), labels)
    return _cached(f"view/{split}", classifier, dataset, make)


def _check_judge(classifier, dataset):
    """A classifier knows one dataset (load_classifier records which); refuse to judge another."""
    trained_on = getattr(classifier, "dataset", dataset)  # a bare make_classifier() model: trust the caller
    if trained_on != dataset:
        raise NanoganError(f"the classifier was trained on {trained_on}, so it cannot judge {dataset} "
                           f"samples; load the right one with load_classifier(dataset={dataset!r}).")


def real_stats(classifier, dataset="mnist"):
    """(mu, Sigma) of the classifier's features of the 10,000 real test images of `dataset`."""
    return gaussian_stats(_real_view(classifier, dataset)[0])


def evaluate(samples, classifier=None, reference_stats=None, labels=None, dataset="mnist",
             reference_features=None):
    """Every metric for a set of generated samples (see the module docstring).

    samples: uint8 (N, 28, 28) or float (N, 1, 28, 28) in [-1, 1].
    classifier: the judge; default: load_classifier(dataset=dataset). One trained on
        another dataset is refused.
    reference_stats, reference_features: (mu, Sigma) and the features (M, 128) of the
        real images to compare with; default: the test split of `dataset`, the real set
        of both the Fréchet distance and precision/recall.
    labels: the digits a conditional generator was asked for, (N,), if any.
    Returns {"frechet", "classifier_score", "entropy", "covered", "top_share", "counts",
    "precision", "recall"} and, with labels, "conditional_accuracy". Precision and recall
    depend on N (nanogan.eval.neighbours): compare runs scored on equally many samples.
    They add about 2 s to an evaluation of 10,000 samples and 0.35 s at 2,000 (2 shared
    CPU cores; the test images' radii, 1.5 s, once per process).
    """
    if len(samples) <= K:
        raise NanoganError(f"evaluating needs at least {K + 1} samples (precision and recall look at each "
                           f"sample's {K} nearest neighbours), got {len(samples)}.")
    classifier = classifier if classifier is not None else load_classifier(dataset=dataset)
    _check_judge(classifier, dataset)
    feats, probs = features(classifier, as_images(samples))
    if reference_features is None:
        real = _real_view(classifier, dataset)[0]
        real_radii = _cached("radii", classifier, dataset, lambda: knn_radii(real, K))
    else:
        real, real_radii = reference_features, None
    mu, S = gaussian_stats(feats)
    mu_r, S_r = reference_stats if reference_stats is not None else gaussian_stats(real)
    out = {"frechet": frechet_distance(mu, S, mu_r, S_r), "classifier_score": classifier_score(probs)}
    out.update(class_coverage(probs.argmax(axis=1)))
    out["precision"], out["recall"] = precision_recall(real, feats, K, real_radii)
    if labels is not None:
        out["conditional_accuracy"] = conditional_accuracy(probs, labels)
    return out


def _subset(n, size, seed):
    """Sorted indices of a fixed random subset of `size` of range(n), drawn with `seed`;
    all of range(n) when size is None or not smaller."""
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def nearest_training(samples, classifier=None, dataset="mnist", space="features", train_subset=None, seed=0):
    """Each sample's nearest training image: (distances float64 (N,), indices int64 (N,)).

    space: "features" (the classifier's 128-d features) or "pixels" (the 784 pixels in
    [-1, 1]). The indices point into the whole training split (load_dataset(dataset,
    "train")), also when only a subset of it is searched (train_subset images, drawn
    with `seed`), so a figure can show the neighbours.
    """
    if space not in SPACES:
        raise NanoganError(f"unknown space {space!r}; choose one of: {', '.join(SPACES)}.")
    if space == "features":
        classifier = classifier if classifier is not None else load_classifier(dataset=dataset)
        _check_judge(classifier, dataset)
        queries = features(classifier, as_images(samples))[0]                       # (N, 128)
        reference = _real_view(classifier, dataset, "train")[0]                     # (60000, 128)
    else:
        queries = to_host(as_images(samples))                                       # (N, 1, 28, 28) float32
        reference = load_dataset(dataset, "train")[0]                               # (60000, 1, 28, 28) float32
    subset = _subset(len(reference), train_subset, seed)
    if len(subset) < len(reference):  # indexing the whole split would copy 188 MB of pixels for nothing
        reference = reference[subset]
    distances, index = nearest_neighbours(queries, reference)
    return distances, subset[index]


def memorisation(samples, classifier=None, dataset="mnist", spaces=SPACES, train_subset=None, seed=0):
    """Do the samples copy training images? (nanogan.eval.neighbours, part 2.)

    For each space in `spaces`, each sample's distance to its nearest training image
    (nearest_training) against the same distance for the real test images, which nobody
    copied. Returns (scores, nearest): scores {"copy_ratio_<space>": median sample distance
    / median test distance, "copy_share_<space>": share of samples closer than the test
    images' 1st percentile} and nearest {space: (distances (N,), indices (N,))}, the
    samples' neighbours, for figures. The test images' distances are computed once per
    process and setting.

    Cost for 10,000 MNIST samples against all 60,000 training digits, on 2 CPU cores
    shared with other jobs: 7 s in feature space and 23 s in pixel space (2,000 samples:
    1.4 s and 4.6 s), plus, once per process, 13 s for the training digits' features and
    the same 7 s + 23 s for the test digits' baseline. train_subset searches a fixed
    random subset of the training split instead, in proportionally less time.
    """
    classifier = classifier if classifier is not None else load_classifier(dataset=dataset)
    test_images = load_dataset(dataset, "test")[0]
    scores, nearest = {}, {}
    for space in spaces:
        nearest[space] = nearest_training(samples, classifier, dataset, space, train_subset, seed)
        judge = classifier if space == "features" else None   # pixel distances need no classifier
        baseline = _cached(f"test-nearest/{space}/{train_subset}/{seed}", judge, dataset,
                           lambda: nearest_training(test_images, classifier, dataset, space, train_subset, seed)[0])
        stats = copy_statistics(nearest[space][0], baseline)
        scores[f"copy_ratio_{space}"], scores[f"copy_share_{space}"] = stats["ratio"], stats["share_closer"]
    return scores, nearest


def real_floor(classifier=None, n=10_000, seed=0, dataset="mnist"):
    """What real images score, the best a generator can hope for.

    The Fréchet distance, precision and recall of n training images (a fixed random
    subset, drawn with `seed`) against the test images: not 0 and 1, because two finite
    samples of the same distribution differ. And the classifier score and coverage of
    the test images.
    """
    classifier = classifier if classifier is not None else load_classifier(dataset=dataset)
    train_x, _ = load_dataset(dataset, "train")
    scores = evaluate(train_x[_subset(len(train_x), n, seed)], classifier, dataset=dataset)
    _, probs, labels = _real_view(classifier, dataset)
    test = {"classifier_score": classifier_score(probs), **class_coverage(probs.argmax(axis=1)),
            "accuracy": conditional_accuracy(probs, labels)}
    return {"frechet_train_vs_test": scores["frechet"], "precision_train_vs_test": scores["precision"],
            "recall_train_vs_test": scores["recall"], "test": test}


def main(argv=None):
    p = Parser(prog="python -m nanogan.eval.metrics", description="Print the real-data floor of the metrics.")
    p.add_argument("--classifier", default=None, help="weights (.npz); default: the shipped ones for --dataset")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="mnist")
    p.add_argument("--num-samples", type=whole(4, 60_000), default=10_000,
                   help="training images to score against the test images (default 10,000)")
    args = p.parse_args(argv)
    floor = real_floor(load_classifier(args.classifier, dataset=args.dataset), args.num_samples, dataset=args.dataset)
    t = floor["test"]
    print(f"{args.num_samples:,} {args.dataset} training images vs the 10,000 test images: "
          f"Fréchet distance {floor['frechet_train_vs_test']:.3f}, precision {floor['precision_train_vs_test']:.4f}, "
          f"recall {floor['recall_train_vs_test']:.4f}")
    print(f"test images: classifier score {t['classifier_score']:.3f}, entropy {t['entropy']:.4f}, "
          f"covered {t['covered']}/10, top share {t['top_share']:.4f}, accuracy {t['accuracy']:.4f}")
    print(f"predicted-class counts: {t['counts']}")


if __name__ == "__main__":
    sys.exit(run_command(main))
