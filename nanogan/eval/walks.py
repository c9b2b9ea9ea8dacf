"""Walks through the latent space: noise vectors (and labels) along a path, for G to draw.

Radford et al. 2016 ("Unsupervised representation learning with deep convolutional
generative adversarial networks", arXiv:1511.06434, sec. 6.1) walk from one noise
vector to another and watch G(z): a generator that has learned a smooth map shows
images that change gradually, through plausible digits; sharp jumps suggest it has
memorised. For the conditional GAN, the same noise with a label sliding from one
digit's one-hot vector to another's shows how the style carried by z survives the
change of digit.

Every function returns host arrays, float32 like the noise G is trained on, laid out
row by row: walk r, step s at index r * steps + s, so that
images.grid(to_uint8(G(z)), ncols=steps) draws one walk per row.
"""
import numpy as np

METHODS = ("slerp", "lerp")


def lerp(z0, z1, t):
    """(1 - t) z0 + t z1 for each t: float64 (len(t), D)."""
    t = np.asarray(t, dtype=np.float64)[:, None]                        # (T, 1)
    return (1 - t) * np.asarray(z0, np.float64) + t * np.asarray(z1, np.float64)


def slerp(z0, z1, t):
    """Spherical interpolation: float64 (len(t), D),
        v(t) = sin((1 - t) W) / sin W * z0 + sin(t W) / sin W * z1,   cos W = z0.z1 / (|z0| |z1|),
    the arc of the great circle through z0 and z1 (Shoemake 1985). When |z0| = |z1| = r,
    |v(t)| = r all along, since the two weights a, b satisfy a^2 + b^2 + 2ab cos W = 1.

    Why not a straight line: for z ~ N(0, I_d), |z|^2 is chi-squared with d degrees of
    freedom, so |z| is sqrt(d) give or take 0.7 (10 +- 0.7 for d = 100): G is trained
    on a thin shell. Two independent draws are nearly orthogonal, so the midpoint of
    the line between them has norm about sqrt(d / 2) (7.1), four standard deviations
    inside the shell, where G saw no noise at all; slerp stays on it (White 2016,
    "Sampling generative networks", arXiv:1609.04468).

    Parallel vectors span no plane; their arc is the line, and lerp is returned.
    Opposite vectors have no unique great circle between them: ValueError.
    """
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    cos_w = z0 @ z1 / (np.linalg.norm(z0) * np.linalg.norm(z1))
    w = np.arccos(np.clip(cos_w, -1, 1))
    if np.sin(w) < 1e-7:
        if cos_w < 0:
            raise ValueError("slerp between opposite vectors is not defined: no unique great circle joins them")
        return lerp(z0, z1, t)
    t = np.asarray(t, dtype=np.float64)[:, None]                        # (T, 1)
    a, b = np.sin((1 - t) * w) / np.sin(w), np.sin(t * w) / np.sin(w)   # weights first: exactly 1, 0 at t = 0
    return a * z0 + b * z1


def latent_walks(starts, ends, steps, method="slerp"):
    """Walks from starts[r] to ends[r] (both (rows, D)) in `steps` evenly spaced steps,
    both ends included: float32 (rows * steps, D)."""
    if method not in METHODS:
        raise ValueError(f"unknown interpolation {method!r}; choose one of: {', '.join(METHODS)}")
    if steps < 2:
        raise ValueError(f"a walk needs at least 2 steps, got {steps}")
    starts, ends = np.atleast_2d(starts), np.atleast_2d(ends)
    if starts.shape != ends.shape:
        raise ValueError(f"starts {starts.shape} and ends {ends.shape} differ in shape")
    t = np.linspace(0, 1, steps)                                        # float64 (steps,)
    step = slerp if method == "slerp" else lerp
    return np.concatenate([step(a, b, t) for a, b in zip(starts, ends)]).astype(np.float32)


def random_walks(rng, rows, steps, z_dim, method="slerp"):
    """`rows` walks between noise vectors drawn from N(0, I) with `rng` (a NumPy Generator,
    float32 draws as train.GAN.noise makes them): float32 (rows * steps, z_dim)."""
    starts = rng.standard_normal((rows, z_dim), dtype=np.float32)
    ends = rng.standard_normal((rows, z_dim), dtype=np.float32)
    return latent_walks(starts, ends, steps, method)


def label_walks(z, digits_from, digits_to, steps, num_classes=10):
    """For the conditional GAN: each row keeps its noise z[r] (z: (rows, D)) while the label
    slides from one-hot(digits_from[r]) to one-hot(digits_to[r]), y = (1 - t) e_a + t e_b.

    Returns (z float32 (rows * steps, D), y float32 (rows * steps, num_classes)); y's rows
    sum to 1 and take the place of the one-hot label in G's input.
    """
    z = np.atleast_2d(np.asarray(z, dtype=np.float32))
    a, b = np.asarray(digits_from), np.asarray(digits_to)
    if not len(z) == len(a) == len(b):
        raise ValueError(f"one noise vector and two digits per row: got {len(z)}, {len(a)}, {len(b)}")
    if steps < 2:
        raise ValueError(f"a walk needs at least 2 steps, got {steps}")
    eye = np.eye(num_classes)                                           # float64 (K, K)
    y = np.concatenate([lerp(eye[i], eye[j], np.linspace(0, 1, steps)) for i, j in zip(a, b)])
    return np.repeat(z, steps, axis=0), y.astype(np.float32)
