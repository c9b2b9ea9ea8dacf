"""The minibatch iterator: coverage, reproducibility, and moving batches to a device."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nanogan.backend import get_xp, make_rng, to_host
from nanogan.data.batches import batches, iterate, num_batches
from nanogan.errors import NanoganError
from helpers import DEVICES


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 200), batch_size=st.integers(1, 64), drop_last=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_each_example_once_per_epoch(n, batch_size, drop_last, seed):
    if drop_last and batch_size > n:
        return  # an error, tested below
    parts = list(batches(n, batch_size, make_rng(seed), drop_last))
    assert len(parts) == num_batches(n, batch_size, drop_last)
    assert all(p.dtype == np.int64 for p in parts)
    seen = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    assert len(np.unique(seen)) == len(seen)             # nothing twice
    assert seen.min() >= 0 and seen.max() < n
    if drop_last:
        assert all(len(p) == batch_size for p in parts)
        assert len(seen) == n - n % batch_size           # only the remainder is left out
    else:
        assert sorted(seen) == list(range(n))            # everything, exactly once
        assert all(len(p) == batch_size for p in parts[:-1])


def test_same_seed_same_order_and_epochs_differ():
    first = [b.tolist() for b in batches(100, 10, make_rng(7))]
    again = [b.tolist() for b in batches(100, 10, make_rng(7))]
    assert first == again
    rng = make_rng(7)
    epoch1 = np.concatenate(list(batches(100, 10, rng)))
    epoch2 = np.concatenate(list(batches(100, 10, rng)))
    assert not np.array_equal(epoch1, epoch2)  # a new shuffle every epoch
    assert not np.array_equal(epoch1, np.arange(100))


def test_permutation_is_drawn_when_called_not_when_iterated():
    rng_a, rng_b = make_rng(3), make_rng(3)
    it = batches(50, 5, rng_a)
    rng_a.random()  # using the generator before iterating must not change the order
    order_b = batches(50, 5, rng_b)
    assert [b.tolist() for b in it] == [b.tolist() for b in order_b]


def test_num_batches():
    assert num_batches(10, 3, drop_last=True) == 3
    assert num_batches(10, 3, drop_last=False) == 4
    assert num_batches(9, 3, drop_last=False) == 3


def test_batch_larger_than_data():
    with pytest.raises(NanoganError, match="batch size 11 is larger than the 10 examples"):
        batches(10, 11, make_rng(0), drop_last=True)  # raises at the call, not on next()
    (only,) = batches(10, 11, make_rng(0), drop_last=False)
    assert sorted(only) == list(range(10))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_batch_size(bad):
    with pytest.raises(NanoganError, match="positive integer"):
        batches(10, bad, make_rng(0))


@pytest.mark.parametrize("device", DEVICES)
def test_iterate_keeps_pairs_and_moves_to_device(device):
    xp = get_xp(device)
    n = 37
    labels = np.arange(n, dtype=np.int64)
    images = np.broadcast_to(labels[:, None, None, None], (n, 1, 4, 4)).astype(np.float32)  # (n, 1, 4, 4)
    seen = []
    for x, y in iterate(images, labels, 8, make_rng(1), xp, drop_last=False):
        assert type(x) is xp.ndarray and type(y) is xp.ndarray
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.shape[1:] == (1, 4, 4) and x.shape[0] == y.shape[0]
        x, y = to_host(x), to_host(y)
        np.testing.assert_array_equal(x[:, 0, 0, 0], y)  # image i still goes with label i
        seen.extend(y.tolist())
    assert sorted(seen) == list(range(n))
    # the same seed gives the same batches through iterate as through batches
    expected = [b.tolist() for b in batches(n, 8, make_rng(1), drop_last=True)]
    got = [to_host(y).tolist() for _, y in iterate(images, labels, 8, make_rng(1), xp)]
    assert got == expected


def test_iterate_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        iterate(np.zeros((3, 1, 2, 2), np.float32), np.zeros(4, np.int64), 2, make_rng(0), np)
