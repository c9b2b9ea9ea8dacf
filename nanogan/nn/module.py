"""What every layer shares: parameters, the train/eval switch, shape checks, Sequential.

The contract of a layer (a `Module`):

- `forward(x)` computes the output and caches exactly what `backward` needs;
- `backward(dy)` takes dL/dy, returns dL/dx, and **adds** dL/dW into each
  parameter's `.grad` (it never touches `.data`: updating is the optimizer's job),
  through the Parameter's `add_*` methods.

Gradients accumulate, as in PyTorch, so a discriminator can see a real batch and
a fake batch in two passes and step once on the sum; `zero_grad()` clears them.

A network's parameters can also live in one array (`flatten`), which is what its
optimizer does to them: see `flatten` for why.
"""
import numpy as np

from ..backend import array_module, to_device
from .sums import channel_sum


class Parameter:
    """A trainable array and the gradient accumulated for it (same shape and dtype).

    Layers add their contributions with `add_matmul`, `add_sum` or `add`. After an
    optimizer's zero_grad the gradient is marked `fresh`, and the next contribution is
    written over it rather than added to it: the same result, one operation instead of
    two (a product or a sum, then an addition) for the first contribution of each step.
    (PyTorch gets the same from None gradients, `zero_grad(set_to_none=True)`.)
    """

    def __init__(self, data):
        self.data = data
        self.grad = array_module(data).zeros_like(data)
        # True: .grad is zero, and the next add_* may write it. Plain form of the pair
        # (zero_grad, then add_*): grad[...] = 0; grad += contribution, one pass more.
        self.fresh = False

    def add_matmul(self, a, b):
        """grad += a @ b (a @ b shaped like grad, or like grad flattened to 2-D).

        Plain form: `self.grad += (a @ b).reshape(self.grad.shape)`. When the gradient is
        `fresh` (zero), the product is instead written straight into it: one operation and
        no temporary, the same numbers (0 + v = v)."""
        xp = array_module(self.grad)
        target = self.grad.reshape(a.shape[0], b.shape[1])           # a view: grad is contiguous
        if self.fresh:
            xp.matmul(a, b, out=target)
        else:
            target += a @ b
        self.fresh = False

    def add_sum(self, x):
        """grad += x (N, C[, H, W]) summed over every axis but 1: a bias's gradient, (C,).
        Plain form: `self.grad += x.sum(axis=(0, 2, 3))` (axis 0 for (N, C)); the sums are
        products with ones (nanogan.nn.sums says why)."""
        if self.fresh:
            channel_sum(x, out=self.grad)
        else:
            self.grad += channel_sum(x)
        self.fresh = False

    def add(self, value):
        """grad += value. Plain form: `self.grad += value`."""
        if self.fresh:
            self.grad[...] = value
        else:
            self.grad += value
        self.fresh = False

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


def flatten(params):
    """Move `params` (Parameters of one dtype on one device) into one contiguous array for
    their values and one for their gradients, and make every p.data and p.grad a view
    into them. Returns (data, grad), both flat (total size,).

    Why frameworks do this (PyTorch's fused and foreach Adam, apex's multi-tensor apply,
    JAX's raveled pytrees): an optimizer step is the same few element-wise operations
    on every parameter. Written per parameter, a network of 8 weight arrays costs 8 times
    as many operations, and on a GPU every operation is a kernel launch costing a few
    microseconds whatever its size, so small parameters are all overhead. On one flat
    array the whole step is a handful of launches, and zeroing every gradient is one
    fill. The layers notice nothing: their p.data and p.grad have the same shapes as
    before and are updated in place, never rebound. (So: flatten after moving the
    module to its device and dtype, since `to` and `astype` rebind them.)
    """
    params = list(params)
    if not params:
        raise ValueError("no parameters to flatten")
    xp, dtype = array_module(params[0].data), params[0].data.dtype
    if any(p.data.dtype != dtype or array_module(p.data) is not xp for p in params):
        raise ValueError("flatten needs parameters of one dtype on one device, got "
                         f"{sorted({str(p.data.dtype) for p in params})}")
    data = xp.empty(sum(p.data.size for p in params), dtype=dtype)   # (total,)
    grad = xp.zeros_like(data)                                         # (total,)
    start = 0
    for p in params:
        stop = start + p.data.size
        data[start:stop] = p.data.reshape(-1)
        grad[start:stop] = p.grad.reshape(-1)
        p.data, p.grad = data[start:stop].reshape(p.data.shape), grad[start:stop].reshape(p.grad.shape)
        start = stop
    return data, grad


class Module:
    """Base class. Subclasses fill `self.params` (name -> Parameter) and
    `self.buffers` (name -> array that is state but not trained, e.g. running means).
    A layer whose backward takes `input_grad=False` (and then computes only its
    parameter gradients) sets `skips_input_grad`; one whose output for a sample depends
    on the other samples of the batch sets `mixes_batch`."""

    skips_input_grad = False
    requires_grad = True   # False: backward computes dL/dx only, no parameter gradients
    # True for a layer whose output for one sample depends on the other samples of its
    # batch (BatchNorm's batch statistics, minibatch discrimination's closeness to the rest)
    mixes_batch = False

    def __init__(self, dtype=np.float32):
        self.params = {}
        self.buffers = {}
        self.training = True
        self.dtype = np.dtype(dtype)

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def children(self):
        """Sub-modules (only containers have any)."""
        return []

    # -- bookkeeping, shared by every layer ------------------------------------

    def named_parameters(self, prefix=""):
        """(name, Parameter) pairs, depth first; names like '3.W' locate them."""
        for name, p in self.params.items():
            yield prefix + name, p
        for i, child in enumerate(self.children()):
            yield from child.named_parameters(f"{prefix}{i}.")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        for name, b in self.buffers.items():
            yield prefix + name, b
        for i, child in enumerate(self.children()):
            yield from child.named_buffers(f"{prefix}{i}.")

    def mixes_samples(self):
        """Whether any layer's output for one sample depends on the others in its batch. A
        network that does not can be run on two batches stacked into one, with the same
        outputs as two separate runs: GAN.step shows D its real and fake images together."""
        return self.mixes_batch or any(child.mixes_samples() for child in self.children())

    def zero_grad(self):
        for p in self.parameters():
            p.grad[...] = 0
            p.fresh = False

    def requires_grad_(self, flag=True):
        """Whether backward computes this module's parameter gradients (as PyTorch's
        `requires_grad_`). G's update backpropagates through D only for dL/dx; D's own
        gradients from that pass would be thrown away, so D is frozen during it."""
        self.requires_grad = flag
        for child in self.children():
            child.requires_grad_(flag)
        return self

    def train(self, mode=True):
        """Training mode (batch statistics, dropout on) or, with mode=False, eval mode."""
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, xp):
        """Move every parameter, gradient and buffer to the array module `xp`."""
        for p in self.params.values():
            p.data, p.grad = to_device(p.data, xp), to_device(p.grad, xp)
        for name, b in self.buffers.items():
            self.buffers[name] = to_device(b, xp)
        for child in self.children():
            child.to(xp)
        return self

    def astype(self, dtype):
        """Cast parameters and buffers (float64 for gradient checks, float32 to train)."""
        self.dtype = np.dtype(dtype)
        for p in self.params.values():
            p.data, p.grad = p.data.astype(dtype), p.grad.astype(dtype)
        for name, b in self.buffers.items():
            self.buffers[name] = b.astype(dtype)
        for child in self.children():
            child.astype(dtype)
        return self

    def state_dict(self):
        """Every parameter and buffer by name, as arrays on the device they live on."""
        state = {name: p.data for name, p in self.named_parameters()}
        state.update(self.named_buffers())
        return state

    def load_state_dict(self, state):
        """Copy arrays in by name; every name and shape must match exactly."""
        own = self.state_dict()
        missing, unexpected = own.keys() - state.keys(), state.keys() - own.keys()
        if missing or unexpected:
            raise ValueError(f"state does not fit {type(self).__name__}: "
                             f"missing {sorted(missing)}, unexpected {sorted(unexpected)}")
        for name, target in own.items():
            if tuple(state[name].shape) != tuple(target.shape):
                raise ValueError(f"{name}: expected shape {tuple(target.shape)}, "
                                 f"got {tuple(state[name].shape)}")
            target[...] = to_device(state[name], array_module(target))  # casts to target's dtype

    def check_input(self, x, shape):
        """Raise ValueError naming this layer unless `x` has the layer's dtype and `shape`.

        `shape` is a tuple whose entries are ints (must match) or None (any size),
        e.g. (None, 784) for a batch of flattened images.
        """
        ok = x.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, x.shape))
        if not ok or x.dtype != self.dtype:
            want = "(" + ", ".join("N" if i == 0 and s is None else "*" if s is None else str(s)
                                   for i, s in enumerate(shape)) + ")"
            raise ValueError(f"{self!r}: expected {self.dtype} input of shape {want}, "
                             f"got {x.dtype} of shape {tuple(x.shape)}")

    def __repr__(self):
        return f"{type(self).__name__}()"


class Sequential(Module):
    """Layers applied in order; backward runs them in reverse.

    forward:  y = f_n(... f_2(f_1(x)))
    backward: dL/dx = J_1^T (J_2^T (... J_n^T dL/dy)), each J_i^T being f_i.backward
    """

    def __init__(self, *layers):
        super().__init__(layers[0].dtype if layers else np.float32)
        self.layers = list(layers)

    def children(self):
        return self.layers

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy, input_grad=False):
        """dL/dx of the network's input if `input_grad`, else None (and less work).

        Most networks' input is data or noise, whose gradient nobody uses; PyTorch skips
        it the same way (an input that does not require grad). The layers before the
        first one with parameters then only pass dL/dx along, so they are skipped, and
        that first layer is told not to compute its dL/dx: for D's first convolution a
        product and an `unlower` saved in each of D's passes. G's update, which needs dL/dx
        of D's input (the fake images), asks for it.
        """
        first = 0 if input_grad else next((i for i, layer in enumerate(self.layers) if layer.params), 0)
        for i in range(len(self.layers) - 1, first - 1, -1):
            layer = self.layers[i]
            if i == first and not input_grad and layer.skips_input_grad:
                layer.backward(dy, input_grad=False)
                return None
            dy = layer.backward(dy)
        return dy if input_grad else None

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"
