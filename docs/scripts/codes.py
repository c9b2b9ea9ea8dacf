"""What a run's codes draw, and what D's ranking of the samples is worth. Run from the
repository's root on a checkpoint of a run with a code (--codes):

    python docs/scripts/codes.py CKPT                 # each code's digits, by the classifier
    python docs/scripts/codes.py CKPT --ranked 0.7,0.5  # keep, per code, the share f that D rates most real
    python docs/scripts/codes.py CKPT --by-digit        # recall of each real digit, precision of each drawn one

The first form draws 20,000 samples and prints, for each code, how many it drew, its three
commonest digits and the share of its samples the classifier is less than 90% sure of.
The second draws 40,000, has D score them in batches of 128 as in training (D's minibatch
layer makes a sample's score depend on its batch), keeps within each code the share f that D
rates most real (so that every code keeps its share of the samples) and scores 10,000 of those
at random. This is rejection by D's ranking (after Azadi et al. 2019), measured, not a
sampler nanogan ships. The third scores 10,000 samples as evaluate.py does (scoring seed 0)
and splits recall by the test digits' labels and precision by the digit the classifier sees.
A session's tool, not part of the package.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository
from nanogan.backend import make_rng  # noqa: E402
from nanogan.eval.classifier import features  # noqa: E402
from nanogan.eval.metrics import K, _real_view, as_images, evaluate  # noqa: E402
from nanogan.eval.neighbours import manifold_members  # noqa: E402
from nanogan.eval.samples import classifier_on, draw  # noqa: E402
from nanogan.run.generator import is_generator_file, load_gan  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("checkpoint")
p.add_argument("--ranked", help="comma-separated shares f to keep per code")
p.add_argument("--by-digit", action="store_true", help="recall and precision digit by digit")
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()

if args.ranked and is_generator_file(args.checkpoint):
    sys.exit(f"{args.checkpoint} is a generator file, which has no D to rank with; give a run's checkpoint")
shares = [float(v) for v in args.ranked.split(",")] if args.ranked else []
if any(not 0.25 <= f <= 1 for f in shares):
    sys.exit("--ranked: each share must be from 0.25 to 1 (10,000 of 40,000 samples are scored)")
gan = load_gan(args.checkpoint, "cpu")
if not gan.codes:
    sys.exit(f"{args.checkpoint} is a run without a code (--codes 0)")
clf = classifier_on(np, "mnist")
if args.by_digit:
    real, _, labels = _real_view(clf, "mnist")                                   # (10000, 128), (10000,)
    x, _ = draw(gan, 10_000, make_rng([args.seed, 2]))                           # as evaluate.py draws
    fake, probs = features(clf, as_images(x))                                    # (10000, 128), (10000, 10)
    precise, recalled = manifold_members(real, fake, K)                         # bool (10000,) each
    drawn = probs.argmax(axis=1)
    print(f"precision {precise.mean():.3f}  recall {recalled.mean():.3f}")
    print("digit                ", "  ".join(f"{d:4d}" for d in range(10)))
    print("recall of real ones  ", "  ".join(f"{recalled[labels == d].mean():.2f}" for d in range(10)))
    print("precision of drawn   ", "  ".join(f"{precise[drawn == d].mean():.2f}" for d in range(10)))
    sys.exit(0)

n = 40_000 if args.ranked else 20_000
z = make_rng([args.seed, 9]).standard_normal((n, gan.z_dim), dtype=np.float32)   # (n, z_dim) float32
code = z[:, :gan.codes].argmax(axis=1)                                           # (n,) int64
x = gan.sample(z)                                                                # (n, 1, 28, 28) float32

if not args.ranked:
    _, probs = features(clf, as_images(x))                                       # (n, 10)
    digit, sure = probs.argmax(axis=1), probs.max(axis=1)
    print("code  samples  commonest digits (share)     classifier under 90% sure")
    for c in range(gan.codes):
        mine = code == c
        share = np.bincount(digit[mine], minlength=10) / mine.sum()
        top = "  ".join(f"{d}: {share[d]:.2f}" for d in np.argsort(-share)[:3])
        print(f"{c:4d}  {mine.sum():7d}  {top}    {np.mean(sure[mine] < 0.9):.3f}")
    sys.exit(0)

gan.D.eval()                              # no power-iteration steps while ranking: the same D throughout
logit = np.concatenate([gan.D.forward(x[i:i + 128]) for i in range(0, n, 128)]).ravel()   # (n,)
pick = np.random.default_rng(args.seed)
for f in shares:
    keep = []
    for c in range(gan.codes):
        mine = np.flatnonzero(code == c)                                         # code c's samples
        keep.append(mine[np.argsort(-logit[mine])][:round(f * len(mine))])       # D's most real first
    keep = np.concatenate(keep)
    m = evaluate(x[pick.choice(keep, 10_000, replace=False)], clf)
    print(f"keep {f:.2f}: Fréchet distance {m['frechet']:.3f}  precision {m['precision']:.3f}  "
          f"recall {m['recall']:.3f}  largest digit share {m['top_share']:.3f}")
