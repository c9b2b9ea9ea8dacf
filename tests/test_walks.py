"""Latent walks: exact endpoints, norms kept by slerp, shapes and dtypes, labels that sum to 1."""
import numpy as np
import pytest

from nanogan.eval.walks import label_walks, latent_walks, lerp, random_walks, slerp


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_walks_start_and_end_exactly_at_their_endpoints(method):
    rng = np.random.default_rng(0)
    starts = rng.standard_normal((3, 100), dtype=np.float32)
    ends = rng.standard_normal((3, 100), dtype=np.float32)
    z = latent_walks(starts, ends, 7, method)
    assert z.shape == (21, 100) and z.dtype == np.float32, (z.shape, z.dtype)
    np.testing.assert_array_equal(z[0::7], starts)
    np.testing.assert_array_equal(z[6::7], ends)


def test_slerp_keeps_the_norm_of_equal_norm_vectors():
    rng = np.random.default_rng(1)
    z0, z1 = rng.standard_normal((2, 100))
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)                        # both of norm |z0|
    norms = np.linalg.norm(slerp(z0, z1, np.linspace(0, 1, 11)), axis=1)
    np.testing.assert_allclose(norms, np.linalg.norm(z0), rtol=1e-12)
    # the straight line sinks inside the shell: at t = 1/2 its norm is |z0 + z1| / 2
    mid = np.linalg.norm(lerp(z0, z1, [0.5])[0])
    assert mid == pytest.approx(np.linalg.norm(z0 + z1) / 2, rel=1e-12) and mid < 0.8 * np.linalg.norm(z0)


def test_slerp_on_a_quarter_circle():
    """From e1 to e2 the arc passes (cos 30 deg, sin 30 deg) a third of the way along."""
    v = slerp([1.0, 0.0], [0.0, 1.0], [1 / 3, 0.5])
    np.testing.assert_allclose(v, [[np.cos(np.pi / 6), np.sin(np.pi / 6)], [np.sqrt(0.5), np.sqrt(0.5)]], rtol=1e-12)


def test_slerp_of_parallel_vectors_is_the_line_and_of_opposite_ones_an_error():
    np.testing.assert_allclose(slerp([1.0, 2.0], [2.0, 4.0], [0.5]), [[1.5, 3.0]], rtol=1e-12)
    with pytest.raises(ValueError, match="opposite"):
        slerp([1.0, 2.0], [-1.0, -2.0], [0.5])


def test_random_walks_draw_from_the_generator():
    z = random_walks(np.random.default_rng(2), rows=4, steps=5, z_dim=16)
    again = random_walks(np.random.default_rng(2), rows=4, steps=5, z_dim=16)
    assert z.shape == (20, 16) and z.dtype == np.float32
    np.testing.assert_array_equal(z, again)
    expected_start = np.random.default_rng(2).standard_normal((4, 16), dtype=np.float32)
    np.testing.assert_array_equal(z[0::5], expected_start)


def test_label_walks():
    z0 = np.random.default_rng(3).standard_normal((2, 8), dtype=np.float32)
    z, y = label_walks(z0, [3, 0], [8, 9], steps=5)
    assert z.shape == (10, 8) and y.shape == (10, 10) and z.dtype == y.dtype == np.float32
    np.testing.assert_array_equal(z[:5], np.repeat(z0[:1], 5, axis=0))  # noise fixed along a row
    np.testing.assert_array_equal(y[0], np.eye(10)[3])
    np.testing.assert_array_equal(y[4], np.eye(10)[8])
    np.testing.assert_array_equal(y[9], np.eye(10)[9])
    np.testing.assert_allclose(y[2], 0.5 * (np.eye(10)[3] + np.eye(10)[8]))
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)


def test_bad_walks():
    with pytest.raises(ValueError, match="unknown interpolation"):
        latent_walks(np.ones((1, 3)), np.ones((1, 3)), 4, "cubic")
    with pytest.raises(ValueError, match="at least 2 steps"):
        latent_walks(np.ones((1, 3)), np.ones((1, 3)), 1)
