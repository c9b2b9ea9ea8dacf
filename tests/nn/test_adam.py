"""Adam against a step computed by hand, on a problem it must solve, and across a save/restore.

The reference below is Kingma & Ba's Algorithm 1 written with Python floats, one
scalar at a time, so that nothing is shared with the vectorised implementation.
Dropping the bias correction (a classic bug) changes the first step from ~lr to
~lr * sqrt(1 - b2) / (1 - b1), which these tests notice.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nanogan as ng
from nanogan.backend import get_xp, to_host
from helpers import DEVICES, assert_close

SETTINGS = settings(max_examples=20, deadline=None)


def adam_by_hand(theta, grads, lr, b1, b2, eps):
    """Algorithm 1 for a list of scalars `theta`; grads[t-1] is the gradient list at step t."""
    theta, m, v = list(theta), [0.0] * len(theta), [0.0] * len(theta)
    for t, g in enumerate(grads, start=1):
        for i, gi in enumerate(g):
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            m_hat, v_hat = m[i] / (1 - b1 ** t), v[i] / (1 - b2 ** t)
            theta[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
    return theta


@pytest.mark.parametrize("device", DEVICES)
@SETTINGS
@given(steps=st.sampled_from([1, 3]), lr=st.sampled_from([1e-3, 2e-4, 0.1]),
       betas=st.sampled_from([(0.9, 0.999), (0.5, 0.999), (0.0, 0.99)]), seed=st.integers(0, 2**16))
def test_matches_hand_computed_steps(device, steps, lr, betas, seed):
    xp = get_xp(device)
    rng = np.random.default_rng(seed)
    theta0 = rng.standard_normal(3)
    grads = [rng.standard_normal(3) * 10.0 ** rng.integers(-3, 3) for _ in range(steps)]  # mixed scales
    p = ng.Parameter(xp.asarray(theta0.copy()))
    opt = ng.Adam([p], lr=lr, betas=betas, eps=1e-8)
    for g in grads:
        p.grad[...] = xp.asarray(g)
        opt.step()
    expected = adam_by_hand(theta0.tolist(), [g.tolist() for g in grads], lr, *betas, 1e-8)
    assert_close(p.data, np.array(expected), f"theta after {steps} step(s), lr={lr}, betas={betas}",
                 rtol=1e-12, atol=1e-15)
    assert opt.t == steps, f"step count {opt.t}, expected {steps}"


@pytest.mark.parametrize("device", DEVICES)
def test_first_step_is_lr_sized(device):
    """With bias correction m_hat = g and v_hat = g^2 at t = 1, so every element moves by
    lr * g / (|g| + eps) ~ lr, whatever the gradient's scale."""
    xp = get_xp(device)
    p = ng.Parameter(xp.zeros(4, dtype=np.float64))
    p.grad[...] = xp.asarray([1e-3, -1.0, 50.0, -1e3])
    ng.Adam([p], lr=0.01, betas=(0.5, 0.999)).step()
    assert_close(p.data, np.array([-0.01, 0.01, -0.01, 0.01]), "first Adam step", rtol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_converges_on_least_squares(device):
    """minimise ||A theta - b||^2 (gradient 2 A^T (A theta - b)); compare with lstsq."""
    xp = get_xp(device)
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((8, 3)), rng.standard_normal(8)
    best = np.linalg.lstsq(A, b, rcond=None)[0]
    Ad, bd = xp.asarray(A), xp.asarray(b)
    theta = ng.Parameter(xp.zeros(3, dtype=np.float64))
    opt = ng.Adam([theta], lr=0.01, betas=(0.9, 0.999))
    for _ in range(3000):
        opt.zero_grad()
        theta.grad += 2 * Ad.T @ (Ad @ theta.data - bd)
        opt.step()
    assert_close(theta.data, best, "Adam's least-squares solution vs lstsq", rtol=1e-3, atol=1e-4)


def make_params(xp, dtype):
    rng = np.random.default_rng(1)
    return [ng.Parameter(xp.asarray(rng.standard_normal(shape), dtype=dtype)) for shape in [(3,), (2, 2)]]


def run_steps(params, opt, n):
    """n steps on a fixed smooth loss, sum_i ||p_i||^4 / 4 + sum_i p_i (gradient p^3 + 1)."""
    for _ in range(n):
        opt.zero_grad()
        for p in params:
            p.grad += p.data ** 3 + 1
        opt.step()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_restore_is_exact(device, dtype):
    """k steps, save, n more steps; a fresh optimizer restored from the save and run for
    the same n steps must land on the very same bits."""
    xp = get_xp(device)
    params = make_params(xp, dtype)
    opt = ng.Adam(params, lr=0.05)
    run_steps(params, opt, 4)
    saved_opt = opt.state_dict()
    saved_params = [to_host(p.data).copy() for p in params]
    run_steps(params, opt, 5)

    fresh = make_params(xp, dtype)
    for p, data in zip(fresh, saved_params):
        p.data[...] = xp.asarray(data)
    fresh_opt = ng.Adam(fresh, lr=0.05)
    fresh_opt.load_state_dict(saved_opt)
    run_steps(fresh, fresh_opt, 5)
    assert fresh_opt.t == opt.t == 9, f"step counts {fresh_opt.t} and {opt.t}, expected 9"
    for i, (a, b) in enumerate(zip(params, fresh)):
        a, b = to_host(a.data), to_host(b.data)
        assert np.array_equal(a, b), f"parameter {i}: continued {a!r} vs restored {b!r}"


@pytest.mark.parametrize("device", DEVICES)
def test_state_dict_is_a_snapshot(device):
    """A saved state must not change when the optimizer steps on (on any device)."""
    xp = get_xp(device)
    params = make_params(xp, np.float64)
    opt = ng.Adam(params)
    run_steps(params, opt, 2)
    state = opt.state_dict()
    before = {k: v.copy() for k, v in state.items()}
    run_steps(params, opt, 2)
    for k in before:
        assert np.array_equal(state[k], before[k]), f"{k} changed after saving: {before[k]!r} -> {state[k]!r}"


@pytest.mark.parametrize("device", DEVICES)
def test_float32_stays_float32(device):
    xp = get_xp(device)
    params = make_params(xp, np.float32)
    opt = ng.Adam(params, lr=0.01)
    run_steps(params, opt, 3)
    for i, p in enumerate(params):
        kinds = {"data": p.data.dtype, "grad": p.grad.dtype, "m": opt.m[i].dtype, "v": opt.v[i].dtype}
        assert set(kinds.values()) == {np.dtype(np.float32)}, f"parameter {i}: {kinds}"


def test_load_state_dict_rejects_wrong_shapes():
    params = make_params(np, np.float64)
    opt = ng.Adam(params)
    state = opt.state_dict()
    bad = dict(state, **{"m.1": np.zeros((4,))})
    with pytest.raises(ValueError, match=r"m\.1.*\(2, 2\).*\(4,\)"):
        ng.Adam(make_params(np, np.float64)).load_state_dict(bad)
    with pytest.raises(ValueError, match="1 parameters.*2"):
        ng.Adam(make_params(np, np.float64)).load_state_dict({"t": state["t"], "m.0": state["m.0"],
                                                               "v.0": state["v.0"]})
