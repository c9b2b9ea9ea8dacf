"""The CuPy stand-in (tests/standin) refuses what CuPy refuses, lays results out as CuPy
does, and counts what it should: if it were lenient, the CUDA cases run on it would prove
nothing."""
import numpy as np
import pytest

HOST = np.arange(6, dtype=np.float32).reshape(2, 3)

# Each of these moves data between host and device implicitly, or hands a device array to
# NumPy: CuPy raises TypeError for every one (or, for the last few, would copy silently).
IMPLICIT = {
    "np.asarray(d)": lambda cp, d: np.asarray(d),
    "np.array(d)": lambda cp, d: np.array(d, dtype=np.float32),
    "d + host": lambda cp, d: d + HOST,
    "host * d": lambda cp, d: HOST * d,
    "d -= host": lambda cp, d: d.__isub__(HOST),
    "d < 0-d host array": lambda cp, d: d < np.array(1, dtype=np.float32),
    "np.exp(d)": lambda cp, d: np.exp(d),
    "np.sum(d)": lambda cp, d: np.sum(d),
    "np.concatenate([d, d])": lambda cp, d: np.concatenate([d, d]),
    "cupy.maximum(d, host)": lambda cp, d: cp.maximum(d, HOST),
    "cupy.concatenate([d, host])": lambda cp, d: cp.concatenate([d, HOST]),
    "cupy.sum(host)": lambda cp, d: cp.sum(HOST),
    "d[...] = host": lambda cp, d: d.__setitem__(Ellipsis, HOST),
    "d[host index]": lambda cp, d: d[np.array([1, 0])],
    "d[list index]": lambda cp, d: d[[1, 0]],
    "range(d)": lambda cp, d: range(d[0, 1]),
}


@pytest.mark.parametrize("what", IMPLICIT)
def test_refuses_implicit_conversion(standin, what):
    d = standin.asarray(HOST)
    with pytest.raises(TypeError):
        result = IMPLICIT[what](standin, d)
        pytest.fail(f"{what} gave {type(result)} instead of raising TypeError")


def test_accepts_scalars_and_explicit_copies(standin):
    d = standin.asarray(HOST)
    for y in (d * 2, 2.0 * d, np.float32(2) * d, d * np.float32(2), d + True):
        assert isinstance(y, standin.ndarray) and y.dtype == np.float32, f"{type(y)} {y.dtype}"
    host = HOST.copy()
    d = standin.asarray(host)
    host[0, 0] = 100                               # asarray copied: the device array keeps its value
    back = d.get()
    d[0, 0] = -1                                   # and .get() copied back
    assert back[0, 0] == 0 and isinstance(back, np.ndarray), back
    assert np.array_equal(standin.asnumpy(d)[0], [-1, 1, 2])


def test_only_names_cupy_has(standin):
    for name in ("float128", "sliding_window_view", "add_at"):
        with pytest.raises(AttributeError, match="stand-in"):
            getattr(standin, name)


def test_memory_order_is_cupys(standin):
    """Element-wise results are C-ordered even from a transposed input (NumPy would keep the
    transpose's order); in-place results and *_like arrays keep the layout."""
    d = standin.asarray(np.zeros((4, 3), dtype=np.float32)).T           # (3, 4) F-ordered view
    assert not d.flags.c_contiguous
    assert (d * 2).flags.c_contiguous and (-d).flags.c_contiguous and standin.exp(d).flags.c_contiguous
    assert (d.T @ d).flags.c_contiguous and d.sum(axis=0).flags.c_contiguous
    d += 1
    assert d.flags.f_contiguous and float(d.sum()) == 12, (d.strides, d)
    assert standin.zeros_like(d).flags.f_contiguous and standin.empty_like(d).flags.f_contiguous
    assert d.astype(np.float64).flags.f_contiguous


def test_out_arguments_and_strided_views(standin):
    """out= writes into the given array, keeping its layout, as one operation; as_strided is
    a view (no operation) that one copy reads out."""
    d = standin.asarray(np.arange(12, dtype=np.float32).reshape(4, 3)).T           # (3, 4) F-ordered
    with standin.standin.counting() as counts:
        out = standin.empty_like(d)
        r = standin.greater(d, 5, out=out)
        s = d.sum(axis=0, out=standin.empty((4,), dtype=np.float32))
        w = standin.lib.stride_tricks.as_strided(d, (2, 3), (d.strides[0], d.strides[1]))
    assert r is out and out.flags.f_contiguous and out.get().tolist() == (d.get() > 5).astype(np.float32).tolist()
    assert s.get().tolist() == d.get().sum(axis=0).tolist() and w.shape == (2, 3)
    assert counts["ops"] == 2, counts.top("ops")               # greater and sum; empty arrays and views are no kernels
    with pytest.raises(TypeError):
        standin.multiply(d, 2, out=np.empty((3, 4), dtype=np.float32))    # a host out is refused
    assert float(standin.logaddexp(0, standin.asarray(np.zeros(1, dtype=np.float32))).sum()) == pytest.approx(np.log(2))


def test_views_are_free_and_copies_count(standin):
    d = standin.asarray(np.zeros((4, 6), dtype=np.float32))
    with standin.standin.counting() as counts:
        v = d[1:3].T.reshape(6, 2)[None]                  # views: no operation
        d.reshape(2, 12)
    assert counts["ops"] == 0, counts.top("ops")
    v[0, 0, 0] = 5                                        # a view writes through
    assert float(d[1, 0]) == 5
    with standin.standin.counting() as counts:
        d[:, :3].reshape(-1)                              # rows with gaps: a copy
    assert counts["ops"] == 1, counts.top("ops")
    with standin.standin.counting() as counts:
        d[1:3] += 1                                       # one kernel: CuPy skips writing d[1:3] onto itself
    assert counts["ops"] == 1 and float(d.sum()) == 12 + 5, (counts.top("ops"), d)


def test_reductions_are_device_arrays_and_reading_them_syncs(standin):
    d = standin.asarray(HOST)
    with standin.standin.counting() as counts:
        s, m, i = d.sum(), standin.max(d), d.argmax()
        assert all(isinstance(r, standin.ndarray) and r.shape == () for r in (s, m, i)), (s, m, i)
    assert counts["syncs"] == 0 and counts["ops"] == 3, counts
    with standin.standin.counting() as counts:
        values = float(s), int(i), bool(m), s.item(), d.tolist(), d.get(), f"{s:.1f}"
        standin.cuda.Device().synchronize()
    assert counts["syncs"] == len(values) + 1, counts.top("syncs", 10)


def test_counts_by_line(standin):
    host = np.ones((5, 4), dtype=np.float32)
    with standin.standin.counting() as counts:
        d = standin.asarray(host)
        e = d * 2 + 1                         # two kernels on this line
        e[d > 1] = 0                          # a comparison and a scatter
        float(e.mean())
    lines = dict(counts.by_line["ops"])
    assert counts["h2d"] == 1 and counts["h2d_bytes"] == host.nbytes, counts
    assert counts["ops"] == 5 and counts["syncs"] == 1, counts
    assert sorted(lines.values()) == [1, 2, 2] and all("test_standin.py:" in k for k in lines), lines


def test_cuda_runtime_events_and_memory_pool(standin):
    assert standin.cuda.runtime.getDeviceCount() == 1
    assert isinstance(standin.cuda.runtime.getDeviceProperties(0)["name"], bytes)
    start, end = standin.cuda.Event(), standin.cuda.Event()
    start.record()
    end.record()
    end.synchronize()
    assert standin.cuda.get_elapsed_time(start, end) >= 0
    pool = standin.get_default_memory_pool()
    pool.free_all_blocks()
    before = pool.used_bytes()
    d = standin.zeros((1000,), dtype=np.float32)
    assert pool.used_bytes() == before + 4000 and pool.total_bytes() >= before + 4000
    del d
    assert pool.used_bytes() == before and pool.total_bytes() >= before + 4000
    pool.free_all_blocks()
    assert pool.total_bytes() == before


def test_nanogan_backend_takes_it_for_cupy(standin):
    """... and its copies are counted at the line that called to_device / to_host."""
    from nanogan.backend import array_module, get_xp, to_device, to_host
    assert get_xp("cuda") is standin
    with standin.standin.counting() as counts:
        d = to_device(HOST, standin)
        back = to_host(d)
    assert array_module(d) is standin and np.array_equal(back, HOST)
    where = [line for kind in ("h2d", "syncs") for line, _ in counts.top(kind)]
    assert len(where) == 2 and all("test_standin.py:" in w for w in where), where
