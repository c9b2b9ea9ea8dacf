"""What the CuPy stand-in counts, and where: the one name here that real CuPy lacks.

    from cupy import standin
    with standin.counting() as counts:
        gan.step(x, rng)
    counts["ops"], counts["syncs"], counts["h2d"], counts["h2d_bytes"]
    counts.top("ops", 5)             # [("<file>:<line> <function>", operations), ...]

Every tally goes to the line of the calling code that caused it, so that a report says
which line of nanogan launched the kernels, made the host wait or copied data over: the
first frame outside this package and outside nanogan/backend.py, whose to_device and
to_host are the edge every copy passes through (what matters is who called them).
Counting costs a frame walk per operation, so it happens only inside `counting()`.
"""
import collections
import contextlib
import os
import sys

KINDS = ("ops", "syncs", "h2d", "h2d_bytes")
_STANDIN = os.path.dirname(os.path.abspath(__file__))
_BACKEND = os.path.join("nanogan", "backend.py")
_open = []                                   # the Counts of every open counting(), innermost last


class Counts:
    """Tallies by kind and by source line.

    ops:       operations that would each launch a kernel on a GPU (element-wise ops,
               reductions, products, copies, fills, gathers and scatters, filled arrays);
               views (slices, transposes, reshapes that need no copy) are free.
    syncs:     host syncs: the host waits for the GPU (a value read on the host,
               `.get()`, `synchronize()`).
    h2d:       host -> device copies (`cupy.asarray` of host data); h2d_bytes their size.
    """

    def __init__(self):
        self.by_line = {kind: collections.Counter() for kind in KINDS}

    def __getitem__(self, kind):
        return sum(self.by_line[kind].values())

    def top(self, kind, n=5):
        """The n source lines with the most `kind`, as (line, count), most first."""
        return self.by_line[kind].most_common(n)

    def __repr__(self):
        return "Counts(" + ", ".join(f"{kind}={self[kind]}" for kind in KINDS) + ")"


@contextlib.contextmanager
def counting():
    """Count everything the stand-in does inside the `with` block."""
    counts = Counts()
    _open.append(counts)
    try:
        yield counts
    finally:
        _open.remove(counts)


def record(kind, n=1):
    """Add n to `kind` at the calling line (see the module docstring); no-op unless counting."""
    if not _open:
        return
    frame = sys._getframe(1)
    while frame.f_code.co_filename.startswith(_STANDIN) or frame.f_code.co_filename.endswith(_BACKEND):
        frame = frame.f_back
    code = frame.f_code
    path = os.path.relpath(code.co_filename)
    where = f"{code.co_filename if path.startswith('..') else path}:{frame.f_lineno} " \
            f"{getattr(code, 'co_qualname', code.co_name)}"
    for counts in _open:
        counts.by_line[kind][where] += n
