"""A strict CuPy stand-in: NumPy arrays dressed as device arrays, for testing without a GPU.

Most bugs of a CUDA code path are not about the GPU at all: a host array mixed into
device arithmetic, `np.something` called on device data, a `float()` that makes the host
wait in the middle of a training step. Put first on `sys.path` (tests/conftest.py does
that, and PYTHONPATH carries it into subprocesses), this package answers `import cupy`
with arrays that compute with NumPy on the host but refuse what `cupy.ndarray` refuses:

- no implicit conversion to NumPy: `np.asarray(d)` and `np.array(d)` raise CuPy's
  TypeError, and so do NumPy arrays as operands, as indices or as assigned values, and
  `np.*` functions called on a device array. The edges are explicit: `cupy.asarray(host)`
  copies to the device, `d.get()` and `cupy.asnumpy(d)` copy back. Python and NumPy
  scalars are operands, as in CuPy. Where real CuPy is more lenient (it dispatches
  `np.sum(d)` to `cupy.sum`, and copies a NumPy index or assigned value over silently),
  this is strict: code that passes here passes there.
- the memory order of results is CuPy's: element-wise results, products and reductions
  are new C-ordered arrays (NumPy keeps its input's order instead); in-place operations
  keep their target's layout; slices, transposes and reshapes that need no copy are views;
  `empty_like`, `zeros_like` and `astype` copy the layout (order 'K').
- reductions return 0-d device arrays, never NumPy scalars; `float`, `int`, `bool`,
  `.item()`, `.tolist()`, `.get()`, printing and `synchronize()` are host syncs.
- only names that CuPy has; any other raises AttributeError.

It also counts, line by line, the operations a GPU would launch, the host syncs and the
host -> device copies (`cupy.standin.counting()`, in standin.py).

What passing here does not prove: speed, memory on a real device, CUDA's rounding
(values are NumPy's), out-of-bounds indices (CuPy wraps them, NumPy raises), duplicate-
index writes (undefined on a GPU), races, or that a kernel compiles.
"""
import builtins
import time
import types
import weakref

import numpy as np

from . import standin  # noqa: F401  (cupy.standin, the counting API: the one name CuPy lacks)
from .standin import record

__version__ = "0.0.0+nanogan.standin"
IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly.")
SCALARS = (bool, int, float, complex, np.generic)        # host values CuPy takes as operands


def _host(x):
    """The NumPy value behind an operand: a device array or a scalar. Host arrays are refused."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, SCALARS):
        return x
    raise TypeError(f"Unsupported type {type(x)}: copy host arrays to the device with cupy.asarray() "
                    "before using them there. " + IMPLICIT)


def _device(x):
    """x itself if it is a device array, which is all that CuPy's functions take as their array."""
    if not isinstance(x, ndarray):
        raise TypeError(f"Unsupported type {type(x)}: expected cupy.ndarray. " + IMPLICIT)
    return x


def _view(a):
    """A device array on the memory behind `a`: no kernel, no allocation."""
    d = ndarray.__new__(ndarray)
    d._a = a
    return d


def _fresh(a):
    """A device array for a newly computed `a`, laid out as it is: one kernel, one allocation."""
    record("ops")
    _pool._malloc(a)
    return _view(a)


def _op(a):
    """The result of a kernel, allocated in C order as CuPy does (a NumPy scalar becomes 0-d)."""
    return _fresh(np.asarray(a, order="C"))


def _index(key):
    """The NumPy index behind a device index, and whether it gathers or scatters (advanced
    indexing) rather than making a view."""
    parts = key if isinstance(key, tuple) else (key,)
    if builtins.any(isinstance(k, (np.ndarray, list)) for k in parts):
        raise TypeError("a host array as an index: copy it to the device with cupy.asarray() first. " + IMPLICIT)
    advanced = builtins.any(isinstance(k, ndarray) for k in parts)
    parts = tuple(k._a if isinstance(k, ndarray) else k for k in parts)
    if not advanced and Ellipsis not in parts:
        parts += (Ellipsis,)          # then indexing every axis gives a 0-d view, not a NumPy scalar
    return parts, advanced


def _same_memory(a, b):
    """Whether a and b are the same elements: same start, shape and strides."""
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and \
        a.shape == b.shape and a.strides == b.strides


class ndarray:
    """A device array: NumPy's array `_a` inside, refusing to be mixed with host data."""

    __array_ufunc__ = None            # NumPy's operators and ufuncs give up on it (TypeError)
    __hash__ = None

    def __init__(self, shape, dtype=float, order="C"):
        self._a = np.empty(shape, dtype, order)
        _pool._malloc(self._a)

    def __array__(self, dtype=None, copy=None):      # np.asarray(d), np.array(d)
        raise TypeError(IMPLICIT)

    def __array_function__(self, func, types, args, kwargs):    # np.sum(d), np.concatenate([d]), ...
        raise TypeError(f"numpy.{func.__name__} on a device array: call xp.{func.__name__}, "
                        "or copy to the host with .get() first. " + IMPLICIT)

    # -- host syncs: the host waits for the device, then reads
    def get(self, stream=None, order="C", out=None):
        record("syncs")
        return np.array(self._a, order=order)      # a copy: later device work must not show through

    def item(self):
        return self.get().item()

    def tolist(self):
        return self.get().tolist()

    __float__ = lambda self: float(self.get())     # noqa: E731
    __int__ = lambda self: int(self.get())         # noqa: E731
    __bool__ = lambda self: bool(self.get())       # noqa: E731
    __repr__ = lambda self: repr(self.get())       # noqa: E731
    __str__ = lambda self: str(self.get())         # noqa: E731
    __format__ = lambda self, spec: format(self.get(), spec)  # noqa: E731

    # -- what an array is: free
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)     # .c_contiguous, .f_contiguous
    __len__ = lambda self: len(self._a)              # noqa: E731

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- views: free
    T = property(lambda self: _view(self._a.T))

    def transpose(self, *axes):
        return _view(self._a.transpose(*axes))

    def reshape(self, *shape, order="C"):
        """A view where the strides allow one (NumPy and CuPy decide alike), else a copy."""
        r = self._a.reshape(*shape, order=order)
        return _view(r) if np.may_share_memory(r, self._a) else _fresh(r)

    def ravel(self, order="C"):
        return self.reshape(-1, order=order)

    def __getitem__(self, key):
        key, advanced = _index(key)
        return _op(self._a[key]) if advanced else _view(self._a[key])    # a gather, or a view

    # -- kernels
    def __setitem__(self, key, value):                                 # a copy, fill or scatter
        key, advanced = _index(key)
        if not advanced and isinstance(value, ndarray) and _same_memory(self._a[key], value._a):
            return      # `a[i] += b` ends by writing a[i] onto itself; CuPy sees that and skips it
        record("ops")
        self._a[key] = _host(value)

    def fill(self, value):
        record("ops")
        self._a.fill(_host(value))

    def copy(self, order="C"):
        return _fresh(self._a.copy(order=order))

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        return _fresh(self._a.astype(dtype, order=order))


REDUCTIONS = ("sum", "mean", "max", "min", "argmax", "argmin", "prod", "var", "std", "all", "any")


def _into(out, compute):
    """Run compute(out=<NumPy array behind out>) for an `out=` device array: one kernel
    writing into existing memory, whose layout it keeps."""
    record("ops")
    compute(out=_device(out)._a)
    return out


def _reduction(name):
    """a.name(axis=..., dtype=..., keepdims=..., out=...) and cupy.name(a, ...): a new device
    array, 0-d for a full reduction, where NumPy would return a scalar."""
    def reduce(a, *args, out=None, **kwargs):
        if out is not None:
            return _into(out, lambda out: getattr(_device(a)._a, name)(*args, out=out, **kwargs))
        return _op(getattr(_device(a)._a, name)(*args, **kwargs))
    reduce.__name__ = name
    return reduce


def _elementwise(f):
    """cupy.f for NumPy's element-wise f (and the unary operators): a new C-ordered array,
    or with out=, the device array given."""
    def function(*args, out=None, **kwargs):
        if out is not None:
            return _into(out, lambda out: f(*map(_host, args), out=out, **kwargs))
        return _op(f(*map(_host, args), **kwargs))
    function.__name__ = f.__name__
    return function


def _operators(f):
    """a OP b, b OP a and a OP= b for NumPy's binary ufunc f; the in-place one keeps a's layout.
    Operands other than device arrays, scalars and (refused) host arrays are NotImplemented,
    for Python to report, or for `d == None` to be plainly False."""
    def usable(b):
        if isinstance(b, np.ndarray):
            _host(b)                                  # raises: no implicit host -> device copy
        return isinstance(b, (ndarray, *SCALARS))

    def forward(a, b):
        return _op(f(a._a, _host(b))) if usable(b) else NotImplemented

    def reflected(a, b):
        return _op(f(_host(b), a._a)) if usable(b) else NotImplemented

    def inplace(a, b):
        if not usable(b):
            return NotImplemented
        record("ops")
        f(a._a, _host(b), out=a._a)
        return a
    return forward, reflected, inplace


for _name in REDUCTIONS:
    setattr(ndarray, _name, _reduction(_name))
for _name, _f in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
                  ("floordiv", np.floor_divide), ("mod", np.mod), ("pow", np.power), ("matmul", np.matmul),
                  ("and", np.bitwise_and), ("or", np.bitwise_or), ("xor", np.bitwise_xor)]:
    _forward, _reflected, _inplace = _operators(_f)
    setattr(ndarray, f"__{_name}__", _forward)
    setattr(ndarray, f"__r{_name}__", _reflected)
    setattr(ndarray, f"__i{_name}__", _inplace)
for _name, _f in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal),
                  ("eq", np.equal), ("ne", np.not_equal)]:
    setattr(ndarray, f"__{_name}__", _operators(_f)[0])
for _name, _f in [("neg", np.negative), ("pos", np.positive), ("abs", np.absolute), ("invert", np.invert)]:
    setattr(ndarray, f"__{_name}__", _elementwise(_f))


# --------------------------------------------------------------------------------------
# The module's names: only ones CuPy has (cupy.sum, cupy.max, ... shadow the builtins here)
# --------------------------------------------------------------------------------------

ELEMENTWISE = ("abs", "absolute", "add", "subtract", "multiply", "divide", "true_divide", "negative",
               "power", "square", "sqrt", "exp", "log", "log1p", "tanh", "sign", "maximum", "minimum",
               "clip", "where", "isfinite", "isnan", "rint", "equal", "greater", "less", "logaddexp")
DTYPES = ("bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
          "float32", "float64", "complex64", "complex128", "dtype", "newaxis", "pi", "e", "inf", "nan")
globals().update({name: _elementwise(getattr(np, name)) for name in ELEMENTWISE})
globals().update({name: _reduction(name) for name in REDUCTIONS})
globals().update({name: getattr(np, name) for name in DTYPES})


def __getattr__(name):
    raise AttributeError(f"module 'cupy' has no attribute {name!r} (nanogan's CuPy stand-in, "
                         "tests/standin, has only names that CuPy has, and of those only the ones "
                         "nanogan uses: add it there if CuPy has it)")


def asarray(a, dtype=None, order=None):
    """The explicit host -> device copy (a device array comes back as it is, or cast)."""
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    host = np.array(a, dtype=dtype, order=order or "K")            # a copy: never alias host memory
    record("h2d")
    record("h2d_bytes", host.nbytes)
    _pool._malloc(host)
    return _view(host)


def array(obj, dtype=None, copy=True, order="K"):
    if isinstance(obj, ndarray) and copy:
        return _fresh(obj._a.astype(dtype or obj.dtype, order=order))
    return asarray(obj, dtype, None if order == "K" else order)


def asnumpy(a, stream=None, order="C"):
    return a.get(order=order) if isinstance(a, ndarray) else np.asarray(a, order=order)


def ascontiguousarray(a, dtype=None):
    if _device(a).flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    return _fresh(a._a.astype(dtype or a.dtype, order="C"))


def empty(shape, dtype=float, order="C"):
    return ndarray(shape, dtype, order)


def empty_like(a, dtype=None, order="K", shape=None):
    d = _view(np.empty_like(_device(a)._a, dtype, order, shape=shape))
    _pool._malloc(d._a)
    return d


def zeros(shape, dtype=float, order="C"):
    return _fresh(np.zeros(shape, dtype, order))


def ones(shape, dtype=float, order="C"):
    return _fresh(np.ones(shape, dtype, order))


def full(shape, fill_value, dtype=None, order="C"):
    return _fresh(np.full(shape, _host(fill_value), dtype, order))


def zeros_like(a, dtype=None, order="K", shape=None):
    return _fresh(np.zeros_like(_device(a)._a, dtype, order, shape=shape))


def eye(N, M=None, k=0, dtype=float):
    return _fresh(np.eye(N, M, k, dtype))


def arange(*args, dtype=None):
    return _fresh(np.arange(*args, dtype=dtype))


def concatenate(arrays, axis=0, dtype=None):
    return _op(np.concatenate([_device(a)._a for a in arrays], axis=axis, dtype=dtype))


def stack(arrays, axis=0, dtype=None):
    return _op(np.stack([_device(a)._a for a in arrays], axis=axis, dtype=dtype))


def pad(array, pad_width, mode="constant", constant_values=0):
    return _op(np.pad(_device(array)._a, pad_width, mode, constant_values=_host(constant_values)))


def matmul(a, b, out=None):
    if out is None:
        return _op(np.matmul(_device(a)._a, _device(b)._a))
    record("ops")
    np.matmul(_device(a)._a, _device(b)._a, out=_device(out)._a)
    return out


def einsum(subscripts, *operands):
    """cupy.einsum: one kernel, a new C-ordered array."""
    return _op(np.einsum(subscripts, *(_device(o)._a for o in operands)))


def _as_strided(x, shape=None, strides=None):
    """cupy.lib.stride_tricks.as_strided: a view with the given shape and strides (bytes)."""
    return _view(np.lib.stride_tricks.as_strided(_device(x)._a, shape, strides))


lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))


def reshape(a, newshape, order="C"):
    return _device(a).reshape(newshape, order=order)


def transpose(a, axes=None):
    return _device(a).transpose(axes)


# --------------------------------------------------------------------------------------
# cupy.cuda: one device, its clock, and the memory pool
# --------------------------------------------------------------------------------------

class _Device:
    def __init__(self, device=None):
        self.id = 0

    def synchronize(self):
        record("syncs")


class _Event:
    """A point in the stream; the stand-in computes as it goes, so recording reads the clock."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.time = None

    def record(self, stream=None):
        self.time = time.perf_counter()

    def synchronize(self):
        record("syncs")


cuda = types.SimpleNamespace(
    Device=_Device, Event=_Event,
    get_elapsed_time=lambda start, end: (end.time - start.time) * 1e3,        # milliseconds
    runtime=types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDeviceProperties=lambda device: {"name": b"CuPy stand-in (NumPy on the host)", "totalGlobalMem": 0}))


class MemoryPool:
    """Bytes of live device arrays. A caching allocator keeps freed blocks for reuse until
    `free_all_blocks()`, so what it holds (`total_bytes()`) is the high-water mark of what is
    in use (`used_bytes()`) since then. (The real one also rounds blocks up to 512 bytes.)"""

    def __init__(self):
        self.used = self.held = 0

    def _malloc(self, a):
        self.used += a.nbytes
        self.held = builtins.max(self.held, self.used)
        weakref.finalize(a, self._free, a.nbytes)    # runs when the last view of `a` is gone

    def _free(self, nbytes):
        self.used -= nbytes

    def used_bytes(self):
        return self.used

    def total_bytes(self):
        return self.held

    def free_all_blocks(self, stream=None):
        self.held = self.used


_pool = MemoryPool()


def get_default_memory_pool():
    return _pool
