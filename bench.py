#!/usr/bin/env python
"""How fast is one nanogan training step, next to PyTorch and next to the machine itself?

    python bench.py                                   # CPU, fc and dcgan, batch 64 and 128, both nets
    python bench.py --nets recipe --batches 128       # only the recipes users run (train.py's defaults)
    python bench.py --device cuda --repeats 50
    python bench.py --archs dcgan --batches 128
    python bench.py --archs dcgan --batches 128 --profile    # time per layer instead
    python bench.py --archs dcgan --batches 128 --passes     # every element-wise pass against a copy
    python bench.py --count                                  # what a step asks of a GPU, no GPU needed

Two sets of networks (`--nets`): `textbook`, the papers' networks and rates
(`nanogan.gan.textbook`: the DCGAN at width 64, no minibatch discrimination, no average of G),
and `recipe`, what `python train.py --arch A` trains (`nanogan.gan.recipe`: the FC GAN's rates
and the average of G; the DCGAN at widths 32 / 8 with its code, spectral normalisation, the l2
minibatch discrimination and the average of G). Each has its PyTorch twin below, built from the same Config.

For every (architecture, nets, batch) it times `nanogan.gan.GAN.step`, the exact step training
runs (G forward; D forward and backward on the real and the fake batch, in one pass
over both for the FC GAN, in two for the DCGAN, whose BatchNorm must not mix them;
Adam on D; D forward and backward on the same fake batch into G's backward; Adam
on G; the average of G), and, when PyTorch is installed, the same step written in PyTorch eager
(`TorchGAN` below: same layers and sizes, float32, dropout, BatchNorm, minibatch
discrimination, BCEWithLogits with the same targets, the non-saturating G loss, Adam with the
Config's rates and betas, the fake batch reused for the G step, the average of G by
`torch._foreach_lerp_`). The two are timed alternately, nanogan step, PyTorch step,
nanogan step, ..., so that whatever else the machine is doing slows both alike;
the ratio reported is the median of the per-pair ratios.

Measured in the same run, for reference:

- the ceiling: the float32 matrix-multiply rate (GFLOP/s) of nanogan's own BLAS
  (NumPy's on the CPU, cuBLAS through CuPy on a GPU) on square n x n matrices;
  nearly all of a step's arithmetic is matrix products, so this bounds it.
- the FLOPs of a step (`step_flops`), counted from the layer shapes. A product of
  (M, K) by (K, N) is 2 M N K FLOPs. A weight layer's forward is one product;
  its backward is two of the same size (dL/dW and dL/dx), so forward + backward
  costs 3x the forward. A step runs G forward and backward once and D on three
  batches of B (real, fake, fake again for G; the first two in one pass of 2B
  where D's layers allow it, the same FLOPs), hence
      FLOPs/step = 3 F_G + 9 F_D,   F_net = sum over its Dense/conv layers of 2 M N K.
  Element-wise work (activations, BatchNorm, Adam) is left out: it is small in
  FLOPs, though not always in time.
- peak memory, in a fresh subprocess per side so that neither sees the other's
  heap. On the CPU: the process's peak resident set (VmHWM) while it builds the
  two networks and optimizers and runs a few steps, minus its resident set just
  before (after imports and the input batch); the peak is reset through
  /proc/self/clear_refs first (Linux). This counts every allocator alike:
  NumPy's, PyTorch's and BLAS's work buffers. On a GPU: the bytes the caching
  allocator holds from the driver afterwards (CuPy's memory pool `total_bytes()`
  vs `torch.cuda.max_memory_reserved()`), both starting from an empty pool.

Timing excludes warm-up steps, and on a GPU brackets each step with CUDA events
and synchronises before reading them. The output is a markdown table.

`--passes` (CPU) times every ufunc call of a step (element-wise operations, operators,
reductions; the products are timed but left out of the table) through an array subclass
that notes each one (`Traced`), and sets each beside the time a plain copy takes to move
the same bytes (what it reads plus what it writes), once from the caches and once from
main memory: a memory-bound pass near 1x is at memory speed, one at 5x has a cause to find
(mixed memory orders, a short inner loop, a slow NumPy kernel). Operations that are not
ufuncs (concatenate, copyto, ascontiguousarray, astype, fills, indexed writes: the convolutions'
`lower` copy among them) are not seen. The cold copy follows a 64 MB write, which evicts a cache of
up to 64 MB.

`--count` times nothing: it runs one step on the tests' CuPy stand-in (tests/standin,
NumPy underneath) and counts what the step would ask of a GPU: operations (each one a
kernel launch: element-wise ops, reductions, products, copies, fills), host syncs
(the host waiting for the GPU; there should be none), host-to-device copies and their
bytes, with the source lines behind the most operations. Launches cost a few
microseconds each whatever their size, so at small batches the operation count, not
the FLOPs, bounds a GPU step.
"""
import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time


def _threads_from_argv(argv):
    """--threads N, read before NumPy is imported: OpenBLAS fixes its thread count then."""
    if "--threads" in argv[:-1]:
        n = argv[argv.index("--threads") + 1]
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = n


_threads_from_argv(sys.argv)

import numpy as np  # noqa: E402

import nanogan as ng  # noqa: E402
from nanogan.backend import make_rng, synchronize, to_device  # noqa: E402
from nanogan.gan import GAN, recipe, textbook  # noqa: E402
from nanogan.command import Parser, main as cli_main, whole  # noqa: E402
from nanogan.run.config import check_memory  # noqa: E402

EPOCH = 60000
NETS = {"textbook": textbook, "recipe": recipe}


def config_for(arch, nets="textbook"):
    """The Config bench.py times: the textbook networks or the recipe of `arch`."""
    return NETS[nets](arch)


def input_batch(batch):
    """The images every timed step trains on: uniform in [-1, 1], (batch, 1, 28, 28) float32."""
    return np.random.default_rng(0).uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32)


def try_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


# --------------------------------------------------------------------------------------
# FLOPs of one step, from the layer shapes
# --------------------------------------------------------------------------------------

def forward_flops(net, x):
    """2 M N K summed over the weight layers of `net` (a nanogan Sequential) on input x,
    found by running the layers one by one and reading the shapes they see."""
    total = 0
    for layer in net.layers:
        y = layer.forward(x)
        if isinstance(layer, ng.Dense):               # (N, I) @ (I, O)
            total += 2 * x.shape[0] * layer.in_features * layer.out_features
        elif isinstance(layer, ng.Conv2d):            # (F, C k k) @ (C k k, N Ho Wo)
            total += 2 * layer.F * layer.C * layer.k ** 2 * y.shape[0] * y.shape[2] * y.shape[3]
        elif isinstance(layer, ng.ConvTranspose2d):   # (F k k, C) @ (C, N H W)
            total += 2 * layer.F * layer.k ** 2 * layer.C * x.shape[0] * x.shape[2] * x.shape[3]
        x = y
    return total


def step_flops(config, batch):
    """FLOPs of one GAN.step: 3 F_G (G once, forward + backward) + 9 F_D (D on three batches).
    (Minibatch discrimination's own products, small beside the convolutions, are left out.)"""
    gan = GAN(config, make_rng(0), np)
    g_in = np.zeros((batch, config.z_dim + config.codes), dtype=np.float32)   # the noise and its code
    fake = gan.G.forward(g_in)
    F_G = forward_flops(gan.G, g_in)
    F_D = forward_flops(gan.D, fake)
    return 3 * F_G + 9 * F_D


# --------------------------------------------------------------------------------------
# The PyTorch twin of nanogan.gan.GAN
# --------------------------------------------------------------------------------------

def torch_minibatch(torch):
    """nanogan.nn.MinibatchDiscrimination in torch.nn, both distances, the same formulas
    (nanogan/nn/minibatch.py); autograd makes its backward."""
    class MinibatchDiscrimination(torch.nn.Module):
        def __init__(self, A, B, C, distance):
            super().__init__()
            self.T = torch.nn.Parameter(0.02 * torch.randn(A, B * C))
            self.B, self.C, self.distance = B, C, distance

        def forward(self, f):
            N = len(f)
            M = (f @ self.T).view(N, self.B, self.C)                           # (N, B, C)
            if self.distance == "l1":
                c = torch.exp(-(M[:, None] - M[None, :]).abs().sum(3))          # (N, N, B)
                o = (c.sum(1) - 1) / max(N - 1, 1)
            else:
                M = M.transpose(0, 1)                                          # (B, N, C)
                sq = (M * M).sum(2)
                d2 = (sq[:, :, None] + sq[:, None, :] - 2 * M @ M.transpose(1, 2)).clamp_min(0) + 0.01
                eye = torch.eye(N, dtype=torch.bool, device=f.device)
                r = d2.sqrt().masked_fill(eye, float("inf"))                   # j = i left out
                o = torch.exp(0.1 - r).sum(2).T / max(N - 1, 1)                # (N, B)
            return torch.cat([f, o], 1)
    return MinibatchDiscrimination


def torch_nets(torch, config):
    """The networks of nanogan.gan.models (build_fc / build_dcgan) for `config`, in torch.nn."""
    nn, c = torch.nn, config
    if getattr(c, "loss", "bce") != "bce":
        raise ValueError(f"the PyTorch twin has the BCE loss only, not {c.loss!r}")
    mbd = [torch_minibatch(torch)] if c.minibatch else []
    # D's Linear and Conv2d layers spectrally normalised where the Config says (d_sn): PyTorch's
    # own, one power iteration per training forward pass, as nanogan.nn.SpectralNorm
    sn = torch.nn.utils.parametrizations.spectral_norm if getattr(c, "d_sn", False) else (lambda m: m)
    if c.arch == "fc":
        p = 0.3 if c.dropout is None else c.dropout
        G = nn.Sequential(nn.Linear(c.z_dim + c.codes, 256), nn.LeakyReLU(0.2), nn.Linear(256, 512), nn.LeakyReLU(0.2),
                          nn.Linear(512, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 784), nn.Tanh(),
                          nn.Unflatten(1, (1, 28, 28)))
        D = nn.Sequential(nn.Flatten(),
                          sn(nn.Linear(784, 1024)), nn.LeakyReLU(0.2), nn.Dropout(p),
                          sn(nn.Linear(1024, 512)), nn.LeakyReLU(0.2), nn.Dropout(p),
                          sn(nn.Linear(512, 256)), nn.LeakyReLU(0.2), nn.Dropout(p),
                          *[m(256, 50, 5, c.mbd_distance) for m in mbd],
                          sn(nn.Linear(256 + 50 * c.minibatch, 1)))
    elif c.arch == "dcgan":
        w = c.width
        v = c.d_width or w
        G = nn.Sequential(nn.Linear(c.z_dim + c.codes, 2 * w * 7 * 7), nn.BatchNorm1d(2 * w * 7 * 7), nn.ReLU(),
                          nn.Unflatten(1, (2 * w, 7, 7)),
                          nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
                          nn.ConvTranspose2d(w, 1, 4, 2, 1), nn.Tanh())
        D = nn.Sequential(sn(nn.Conv2d(1, v, 4, 2, 1)), nn.LeakyReLU(0.2),
                          sn(nn.Conv2d(v, 2 * v, 4, 2, 1)),
                          *([nn.BatchNorm2d(2 * v)] if (c.d_norm or "batch") == "batch" else []),
                          nn.LeakyReLU(0.2), nn.Flatten(),
                          *[m(2 * v * 7 * 7, 50, 5, c.mbd_distance) for m in mbd],
                          sn(nn.Linear(2 * v * 7 * 7 + 50 * c.minibatch, 1)))
    else:
        raise ValueError(f"no PyTorch twin for {c.arch!r}")
    return G, D


class TorchGAN:
    """nanogan.gan.GAN.step, line for line, in PyTorch eager, for a nanogan Config."""

    def __init__(self, torch, config, device):
        c = config
        self.torch, self.device, self.real_label = torch, device, c.real_label
        self.z_dim, self.codes, self.code_scale = c.z_dim, c.codes, c.code_scale
        self.G, self.D = (net.to(device) for net in torch_nets(torch, c))
        betas = (c.beta1, c.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), c.lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), c.lr if c.lr_d is None else c.lr_d, betas=betas)
        self.bce, self.bce_sum = torch.nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss(reduction="sum")
        nn = torch.nn   # one pass over [real; fake] unless a layer of D mixes the batch, as nanogan.gan.GAN decides
        self.joined = not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) or hasattr(m, "T")
                              for m in self.D.modules())
        self.ema, self.ema_t = c.ema, 0          # the average of G, as nanogan.nn.EMA
        if c.ema:
            import copy
            self.G_avg = copy.deepcopy(self.G)
            self.avg_arrays = [t for t in list(self.G_avg.parameters()) + list(self.G_avg.buffers())
                               if t.is_floating_point()]
            self.arrays = [t for t in list(self.G.parameters()) + list(self.G.buffers()) if t.is_floating_point()]

    def step(self, x_real):
        torch, B = self.torch, len(x_real)
        if getattr(self, "_B", None) != B:       # targets made once, as nanogan.gan.GAN.targets
            self._B = B
            self.ones, self.zeros = torch.ones(B, 1, device=self.device), torch.zeros(B, 1, device=self.device)
            self.reals = torch.full((B, 1), self.real_label, device=self.device)
            self.targets_D = torch.cat([self.reals, self.zeros])
        ones, zeros, reals = self.ones, self.zeros, self.reals
        z = torch.randn(B, self.z_dim, device=self.device)
        if self.codes:                           # as nanogan.gan.gan.with_code
            onehot = torch.nn.functional.one_hot(z[:, :self.codes].argmax(1), self.codes).to(z.dtype) * self.code_scale
            z = torch.cat([z, onehot], 1)
        fake = self.G(z)
        self.opt_D.zero_grad()
        if self.joined:                          # as nanogan.gan.GAN: one pass over [real; fake]
            logits = self.D(torch.cat([x_real, fake.detach()]))
            loss_D = self.bce_sum(logits, self.targets_D) / B
            loss_D.backward()
            logit_real, logit_fake = logits[:B], logits[B:]
        else:
            logit_real = self.D(x_real)
            loss_real = self.bce(logit_real, reals)
            loss_real.backward()
            logit_fake = self.D(fake.detach())
            loss_fake = self.bce(logit_fake, zeros)
            loss_fake.backward()
            loss_D = loss_real + loss_fake
        self.opt_D.step()
        self.opt_G.zero_grad()
        logit_gen = self.D(fake)                 # D's grads from this pass are cleared next step
        loss_G = self.bce(logit_gen, ones)
        loss_G.backward()
        self.opt_G.step()
        if self.ema:
            self.ema_t += 1
            with torch.no_grad():
                torch._foreach_lerp_(self.avg_arrays, self.arrays,
                                     1 - min(self.ema, (self.ema_t - 1) / (self.ema_t + 9)))
        with torch.no_grad():
            return torch.stack([loss_D, loss_G, torch.sigmoid(logit_real).mean(),
                                torch.sigmoid(logit_fake).mean(), (logit_real > 0).float().mean(),
                                (logit_fake < 0).float().mean()])


# --------------------------------------------------------------------------------------
# Clocks
# --------------------------------------------------------------------------------------

class Timer:
    """Seconds taken by fn(), with the device's own clock on a GPU (events recorded on the
    stream, then a synchronise: GPU work is asynchronous, so a host clock alone would
    time the queueing, not the work)."""

    def __init__(self, side, xp, torch):
        self.side, self.xp, self.torch = side, xp, torch

    def __call__(self, fn):
        if self.xp is np:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        if self.side == "nanogan":
            start, end = self.xp.cuda.Event(), self.xp.cuda.Event()
            start.record()
            fn()
            end.record()
            end.synchronize()
            return self.xp.cuda.get_elapsed_time(start, end) / 1e3
        start, end = (self.torch.cuda.Event(enable_timing=True) for _ in range(2))
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3


def matmul_ceiling(xp, torch, device, n, repeats=5):
    """Best float32 GFLOP/s of an n x n by n x n product (2 n^3 FLOPs), through nanogan's BLAS
    and, if installed, PyTorch's."""
    rates = {}
    a = xp.asarray(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    out = xp.empty_like(a)
    timer = Timer("nanogan", xp, torch)
    xp.matmul(a, a, out=out)                                       # warm-up (threads, cuBLAS handle)
    synchronize(xp)
    rates["nanogan"] = 2 * n ** 3 / min(timer(lambda: xp.matmul(a, a, out=out)) for _ in range(repeats)) / 1e9
    if torch is not None:
        t = torch.randn(n, n, device=device)
        to = torch.empty_like(t)
        torch.mm(t, t, out=to)
        timer = Timer("torch", xp, torch)
        rates["torch"] = 2 * n ** 3 / min(timer(lambda: torch.mm(t, t, out=to)) for _ in range(repeats)) / 1e9
    return rates


# --------------------------------------------------------------------------------------
# Peak memory, each side in a fresh process
# --------------------------------------------------------------------------------------

def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(side, arch, batch, device, nets="textbook", steps=3):
    """Run in a subprocess: build `side`'s GAN, take `steps` steps, print the peak in bytes."""
    torch = try_torch() if side == "torch" else None
    xp = ng.get_xp(device)
    x_np = input_batch(batch)
    if device == "cpu":
        base = _rss_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:   # resets VmHWM to the current RSS
            f.write("5")
    else:
        if side == "nanogan":
            xp.get_default_memory_pool().free_all_blocks()
        else:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    if side == "nanogan":
        gan, rng = GAN(config_for(arch, nets), make_rng(0), xp), make_rng(1)
        x = to_device(x_np, xp)
        for _ in range(steps):
            gan.step(x, rng)
        synchronize(xp)
    else:
        gan = TorchGAN(torch, config_for(arch, nets), device)
        x = torch.from_numpy(x_np).to(device)
        for _ in range(steps):
            gan.step(x)
        if device != "cpu":
            torch.cuda.synchronize()
    if device == "cpu":
        peak = (_rss_kib("VmHWM") - base) * 1024
    elif side == "nanogan":
        peak = xp.get_default_memory_pool().total_bytes()
    else:
        peak = torch.cuda.max_memory_reserved()
    print(json.dumps({"peak": peak}))


def peak_memory(side, arch, batch, device, nets="textbook"):
    """Bytes, or None where it cannot be measured (no /proc, child failed)."""
    if device == "cpu" and not os.path.exists("/proc/self/clear_refs"):
        return None
    cmd = [sys.executable, os.path.abspath(__file__), "--_memory-child", side, arch, str(batch), nets,
           "--device", device]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"[peak memory of {side} {arch} b{batch} not measured: {r.stderr.strip().splitlines()[-1:]}]",
              file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])["peak"]


# --------------------------------------------------------------------------------------
# One configuration
# --------------------------------------------------------------------------------------

def bench_config(arch, batch, device, xp, torch, repeats, warmup, nets="textbook"):
    """Interleaved step times (seconds) for both sides: {'nanogan': [...], 'torch': [...]}."""
    x_np = input_batch(batch)
    rng = make_rng(0)
    gan = GAN(config_for(arch, nets), rng, xp)
    x = to_device(x_np, xp)
    steps = {"nanogan": lambda: gan.step(x, rng)}
    timers = {"nanogan": Timer("nanogan", xp, torch)}
    if torch is not None:
        torch.manual_seed(0)
        tgan = TorchGAN(torch, config_for(arch, nets), device)
        tx = torch.from_numpy(x_np).to(device)
        steps["torch"] = lambda: tgan.step(tx)
        timers["torch"] = Timer("torch", xp, torch)
    for _ in range(warmup):                  # first calls: allocator growth, BLAS threads, kernels
        for fn in steps.values():
            fn()
    synchronize(xp)
    if torch is not None and device != "cpu":
        torch.cuda.synchronize()
    times = {side: [] for side in steps}
    for _ in range(repeats):                 # A B A B ...: drift hits both sides alike
        for side, fn in steps.items():
            times[side].append(timers[side](fn))
    return times


def copy_seconds(a, xp, repeats=5, cold=False, fastest=False):
    """Seconds of a plain copy of a's bytes (in a's memory order): what a pass that reads one
    array like `a` and writes one must cost at least, memory being the limit. The median of
    `repeats` copies, or with `fastest` the fastest. Warm: `a` was just touched, so it comes
    from the caches where it fits. Cold: 64 MB are written before each copy, which evicts it,
    so its bytes come from main memory (CPU only)."""
    out = xp.empty_like(a)
    flush = np.empty(16 << 20, dtype=np.float32) if cold else None     # 64 MB
    times = []
    for _ in range(repeats):
        if cold:
            flush.fill(0)
        synchronize(xp)
        t0 = time.perf_counter()
        out[...] = a
        synchronize(xp)
        times.append(time.perf_counter() - t0)
    return min(times) if fastest else float(np.median(times))


def profile_step(arch, batch, device, xp, repeats, warmup, nets="textbook"):
    """Where nanogan's step spends its time: each layer's forward and backward (summed over
    D's passes: two or three, as GAN.step makes them) and each Adam step, timed by wrapping
    them. On a GPU every wrapped call synchronises, which serialises the work and slows the
    step a little. Beside each part, the time of a plain copy of the array it returns (see
    `copy_seconds`), for the element-wise passes the floor they should be near.
    Returns (seconds per step, {part: seconds per step}, {part: calls per step},
    {part: seconds of one copy of its output})."""
    rng = make_rng(0)
    gan = GAN(config_for(arch, nets), rng, xp)
    x = to_device(input_batch(batch), xp)
    spent, calls, outputs = {}, {}, {}

    def timed(label, fn):
        def wrapper(*args, **kw):
            synchronize(xp)
            t0 = time.perf_counter()
            out = fn(*args, **kw)
            synchronize(xp)
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
            calls[label] = calls.get(label, 0) + 1
            if out is not None and hasattr(out, "nbytes"):
                outputs[label] = out
            return out
        return wrapper

    for name, net in (("G", gan.G), ("D", gan.D)):
        for i, layer in enumerate(net.layers):        # instance attributes shadow the methods
            layer.forward = timed(f"{name}[{i}] {layer!r} forward", layer.forward)
            layer.backward = timed(f"{name}[{i}] {layer!r} backward", layer.backward)
    gan.opt_G.step = timed("Adam on G", gan.opt_G.step)
    gan.opt_D.step = timed("Adam on D", gan.opt_D.step)
    for _ in range(warmup):
        gan.step(x, rng)
    synchronize(xp)
    spent.clear()
    calls.clear()
    t0 = time.perf_counter()
    for _ in range(repeats):
        gan.step(x, rng)
    synchronize(xp)
    total = (time.perf_counter() - t0) / repeats
    copies = {k: copy_seconds(a, xp) for k, a in outputs.items()}
    return total, {k: v / repeats for k, v in spent.items()}, {k: n // repeats for k, n in calls.items()}, copies


def print_profile(arch, batch, device, xp, repeats, warmup, nets="textbook"):
    total, parts, calls, copies = profile_step(arch, batch, device, xp, repeats, warmup, nets)
    print(f"\n{arch}{'' if nets == 'textbook' else ' ' + nets}, batch {batch}: {total * 1e3:.1f} ms per step ({repeats} steps)\n")
    print("| part | ms/step | share | calls/step | ms/call | copy of its output, ms | x a copy |")
    print("|---|---|---|---|---|---|---|")
    for label, sec in sorted(parts.items(), key=lambda kv: -kv[1]):
        n = max(calls.get(label, 1), 1)
        c = copies.get(label)
        tail = f"{c * 1e3:.3f} | {sec / n / c:.1f}" if c else "– | –"
        print(f"| {label} | {sec * 1e3:.2f} | {100 * sec / total:.1f}% | {n} | {sec / n * 1e3:.3f} | {tail} |")
    rest = total - sum(parts.values())
    print(f"| the rest (loss, noise, statistics, Python) | {rest * 1e3:.2f} | {100 * rest / total:.1f}% "
          "| | | | |")


# --------------------------------------------------------------------------------------
# Every element-wise pass of a step against a copy of its bytes
# --------------------------------------------------------------------------------------

class Traced(np.ndarray):
    """A NumPy array that times every ufunc it takes part in (element-wise operations,
    operators, reductions, matmul: NumPy routes them all through __array_ufunc__), and notes
    the bytes each one reads and writes. Its results are Traced too, so tracing the step's
    inputs and parameters traces everything computed from them. CPU only."""
    log = None          # list of (where, what, bytes read, bytes written, seconds) while recording

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kw):
        plain = [np.asarray(a) if isinstance(a, Traced) else a for a in inputs]
        outs = None if out is None else tuple(np.asarray(o) if isinstance(o, Traced) else o for o in out)
        t0 = time.perf_counter()
        result = getattr(ufunc, method)(*plain, **kw) if outs is None else \
            getattr(ufunc, method)(*plain, out=outs, **kw)
        seconds = time.perf_counter() - t0
        if Traced.log is not None:
            frame = sys._getframe(1)
            while frame.f_code.co_filename.endswith("bench.py") or \
                    f"{os.sep}numpy{os.sep}" in frame.f_code.co_filename:
                frame = frame.f_back
            where = f"{os.path.relpath(frame.f_code.co_filename)}:{frame.f_lineno} {frame.f_code.co_name}"
            arrays = [a for a in plain if isinstance(a, np.ndarray)]
            written = result if outs is None else outs
            written = [w for w in (written if isinstance(written, tuple) else (written,)) if isinstance(w, np.ndarray)]
            shapes = " ".join("x".join(map(str, a.shape)) + layout(a) + ("" if a.dtype == np.float32 else f" {a.dtype}")
                              for a in arrays) or "scalars"
            what = f"{ufunc.__name__}{'' if method == '__call__' else '.' + method} ({shapes})"
            Traced.log.append((where, what, sum(a.nbytes for a in arrays), sum(w.nbytes for w in written), seconds))
        if out is not None:
            return out[0] if len(out) == 1 else out
        return result.view(Traced) if isinstance(result, np.ndarray) else result


def layout(a):
    """How `a` lies in memory, in the passes table: "" C order, "(b)" batch innermost and
    contiguous (nanogan.nn.conv's layout), "(g)" with gaps or in any other order."""
    if a.ndim < 2 or a.flags.c_contiguous:
        return ""
    return "(b)" if a.transpose(tuple(range(1, a.ndim)) + (0,)).flags.c_contiguous else "(g)"


def stream_seconds(nbytes, cold=False):
    """The fastest of 7 copies of nbytes / 2 bytes into another nbytes / 2 (float32, C order,
    `copy_seconds`): the time a pass moving nbytes in all needs at least, memory being the limit."""
    return copy_seconds(np.ones(max(int(nbytes // 8), 1), dtype=np.float32), np, repeats=7, cold=cold, fastest=True)


def trace(gan, x):
    """Make `gan`'s parameters and gradients Traced views of themselves (the same memory, so
    its optimizers still update them) and return x as a Traced view: from then on each of its
    steps on x notes every ufunc call while Traced.log is a list."""
    for net in (gan.G, gan.D):
        for p in net.parameters():
            p.data, p.grad = p.data.view(Traced), p.grad.view(Traced)
    return x.view(Traced)


def passes_step(arch, batch, repeats, warmup, nets="textbook"):
    """Each ufunc call of `repeats` steps (after `warmup`), grouped by source line and
    operation: [(where, what, calls per step, MB moved per call, median ms per call)]."""
    rng = make_rng(0)
    gan = GAN(config_for(arch, nets), rng, np)
    x = trace(gan, input_batch(batch))
    for _ in range(warmup):
        gan.step(x, rng)
    Traced.log = []
    try:
        for _ in range(repeats):
            gan.step(x, rng)
        log = Traced.log
    finally:
        Traced.log = None
    groups = {}
    for where, what, read, written, seconds in log:
        groups.setdefault((where, what, read + written), []).append(seconds)
    return [(where, what, len(times) / repeats, moved / 1e6, 1e3 * float(np.median(times)))
            for (where, what, moved), times in groups.items()]


def print_passes(arch, batch, repeats, warmup, nets="textbook", min_mb=1.0):
    """The element-wise passes (not matmul) moving at least min_mb MB, slowest against
    the time to stream their bytes first."""
    rows = [r for r in passes_step(arch, batch, repeats, warmup, nets) if not r[1].startswith("matmul")]
    big = [(r, r[4] / (1e3 * stream_seconds(r[3] * 1e6)), r[4] / (1e3 * stream_seconds(r[3] * 1e6, cold=True)))
           for r in rows if r[3] >= min_mb]
    small = [r for r in rows if r[3] < min_mb]
    print(f"\n{arch}{'' if nets == 'textbook' else ' ' + nets}, batch {batch}: element-wise passes of "
          f"{min_mb:g} MB or more, each against a copy of the bytes it moves (reads + writes), from the "
          "caches (warm) and from main memory (cold)\n")
    print("| source line | operation (operand shapes) | calls/step | MB moved | ms/call | x a warm copy | x a cold copy |")
    print("|---|---|---|---|---|---|---|")
    for (where, what, n, mb, ms), warm, cold in sorted(big, key=lambda b: -b[1]):
        print(f"| {where} | {what} | {n:g} | {mb:.1f} | {ms:.3f} | {warm:.1f} | {cold:.1f} |")
    slowest = (f"the slowest {max(b[1] for b in big):.1f}x a warm copy of its bytes and "
               f"{max(b[2] for b in big):.1f}x a cold one") if big else "none to compare"
    print(f"\n{len(big)} passes of {min_mb:g} MB or more: {sum(r[2] * r[4] for r, _, _ in big):.1f} ms/step; "
          f"{slowest}; {len(small)} smaller ones: {sum(r[2] * r[4] for r in small):.1f} ms/step "
          f"({sum(r[2] for r in small):g} calls)")


# --------------------------------------------------------------------------------------
# What a step asks of a GPU, counted on the CuPy stand-in
# --------------------------------------------------------------------------------------

def standin_cupy():
    """The tests' CuPy stand-in (tests/standin) as `cupy`: it counts while NumPy computes."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests", "standin"))
    import cupy
    if not hasattr(cupy, "standin"):
        raise SystemExit("error: --count needs the CuPy stand-in, but this process imported real CuPy first; "
                         "run bench.py --count in a fresh process.")
    return cupy


def count_step(arch, batch, cupy, nets="textbook"):
    """The stand-in's counts (ops, syncs, h2d, h2d_bytes, by line) of one GAN.step, the
    second, so that nothing done once at the start of training counts as done every step."""
    rng = make_rng(0)
    gan = GAN(config_for(arch, nets), rng, cupy)
    x = to_device(input_batch(batch), cupy)
    gan.step(x, rng)
    with cupy.standin.counting() as counts:
        gan.step(x, rng)
    return counts


def print_counts(arch, batch, cupy, top=8, nets="textbook"):
    c = count_step(arch, batch, cupy, nets)
    print(f"\n{arch}{'' if nets == 'textbook' else ' ' + nets}, batch {batch}: {c['ops']} operations, {c['syncs']} host syncs, "
          f"{c['h2d']} host-to-device copies ({c['h2d_bytes']:,} bytes) per step\n")
    print("| source line | operations per step |")
    print("|---|---|")
    for line, n in c.top("ops", top):
        print(f"| {line} | {n} |")
    print(f"| {len(c.by_line['ops']) - top} other lines | {c['ops'] - sum(n for _, n in c.top('ops', top))} |")
    for kind, what in (("h2d", "host-to-device copies"), ("syncs", "host syncs")):
        if c[kind]:
            print(f"\n{what}: " + ", ".join(f"{line} ({n})" for line, n in c.top(kind, 100)))


def blas_name():
    """NumPy's BLAS and its version, e.g. 'scipy-openblas 0.3.31.188.0'."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas['version']}"
    except Exception:   # older NumPy: no dict mode
        return "BLAS unknown"


def fmt_ms(ts):
    q1, med, q3 = np.percentile(np.array(ts) * 1e3, [25, 50, 75])
    return f"{med:.1f} ({q1:.0f}–{q3:.0f})"


def fmt_mb(b):
    return "–" if b is None else f"{b / 2**20:.0f}"


def processor():
    """The CPU's model name (from /proc/cpuinfo where there is one) and its logical CPUs."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return cpu + f", {os.cpu_count()} logical CPUs"


MAX_MATMUL = 16384   # the ceiling's n: three n x n float32 matrices, 3.2 GB at most


def check_sizes(configs):
    """Refuse, before anything is allocated, a batch whose step would need more memory than
    train.py allows (nanogan.run.config.check_memory)."""
    for arch, nets, batch in configs:
        check_memory({**config_for(arch, nets).to_dict(), "batch_size": batch}, where=f"bench.py --batches {batch}: ")


def main(argv=None):
    p = Parser(description="Time nanogan's GAN training step against PyTorch and the BLAS ceiling.")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--archs", nargs="+", choices=["fc", "dcgan"], default=["fc", "dcgan"])
    p.add_argument("--batches", nargs="+", type=whole(1), default=[64, 128])
    p.add_argument("--nets", nargs="+", choices=sorted(NETS), default=None,
                   help="the papers' networks (textbook) and/or what train.py trains (recipe); default both "
                   "for the comparison, textbook for --profile and --count")
    p.add_argument("--repeats", type=whole(1), default=20, help="timed steps per side and configuration (default 20)")
    p.add_argument("--warmup", type=whole(0), default=3, help="untimed steps per side first (default 3)")
    p.add_argument("--matmul-size", type=whole(16, MAX_MATMUL), default=None, help="n of the ceiling's n x n product "
                   "(default 2048 on cpu, 8192 on cuda)")
    p.add_argument("--threads", type=whole(1, 1024), default=None, help="CPU threads for both sides' BLAS and "
                   "PyTorch's kernels (default: every core)")
    p.add_argument("--no-torch", action="store_true", help="time nanogan only")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--profile", action="store_true", help="instead of the comparison, print where "
                   "nanogan's step spends its time, layer by layer")
    mode.add_argument("--passes", action="store_true", help="instead of the comparison, time every "
                   "element-wise pass of the step against a copy of the bytes it moves (CPU)")
    mode.add_argument("--count", action="store_true", help="instead of timing, count what one step asks of "
                   "a GPU, on the tests' CuPy stand-in (no GPU needed): operations, host syncs, "
                   "host-to-device copies and bytes, and the source lines behind them")
    p.add_argument("--_memory-child", nargs=4, metavar=("SIDE", "ARCH", "BATCH", "NETS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._memory_child:
        side, arch, batch, nets = args._memory_child
        return memory_child(side, arch, int(batch), args.device, nets)

    args.nets = args.nets or (["textbook"] if args.profile or args.passes or args.count else ["textbook", "recipe"])
    configs = [(arch, nets, batch) for arch in args.archs for nets in args.nets for batch in args.batches]
    check_sizes(configs)
    if args.count:
        cupy = standin_cupy()
        for arch, nets, batch in configs:
            print_counts(arch, batch, cupy, nets=nets)
        return 0
    if args.passes:
        if args.device != "cpu":
            p.error("--passes times NumPy's operations on the CPU; run it without --device cuda")
        for arch, nets, batch in configs:
            print_passes(arch, batch, args.repeats, args.warmup, nets)
        return 0
    xp = ng.get_xp(args.device)
    if args.profile:
        for arch, nets, batch in configs:
            print_profile(arch, batch, args.device, xp, args.repeats, args.warmup, nets)
        return 0
    torch = None if args.no_torch else try_torch()
    if torch is not None and args.device == "cuda" and not torch.cuda.is_available():
        print("[this PyTorch has no CUDA: timing nanogan only]", file=sys.stderr)
        torch = None
    if torch is not None and args.device == "cpu":
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
    n = args.matmul_size or (2048 if args.device == "cpu" else 8192)
    ceiling = matmul_ceiling(xp, torch, args.device, n)
    where = processor() if args.device == "cpu" else \
        xp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    print(f"device: {args.device} ({where}); numpy {np.__version__} ({blas_name()})"
          + (f", torch {torch.__version__}" if torch else ", torch not installed") + "; "
          + f"float32 matmul ceiling at n={n}: {ceiling['nanogan']:.0f} GFLOP/s (nanogan's BLAS)"
          + (f", {ceiling['torch']:.0f} GFLOP/s (PyTorch's)" if torch else "")
          + f"; {args.threads or os.cpu_count()} threads; {args.repeats} interleaved steps per side "
          + f"after {args.warmup} warm-up\n")

    sides = ["nanogan"] + (["torch"] if torch else [])
    head = ["arch", "batch", "GFLOP/step"]
    for s in sides:
        head += [f"{s} ms/step median (IQR)", f"{s} s/epoch", f"{s} GFLOP/s (% ceiling)", f"{s} peak MB"]
    if torch:
        head += ["ratio nanogan/torch", "peak memory ratio"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for arch, nets, batch in configs:
        flops = step_flops(config_for(arch, nets), batch)
        times = bench_config(arch, batch, args.device, xp, torch, args.repeats, args.warmup, nets)
        mem = {s: None if args.no_memory else peak_memory(s, arch, batch, args.device, nets) for s in sides}
        row = [arch + ("" if nets == "textbook" else f" {nets}"), str(batch), f"{flops / 1e9:.2f}"]
        for s in sides:
            med = float(np.median(times[s]))
            rate = flops / med / 1e9
            row += [fmt_ms(times[s]), f"{math.ceil(EPOCH / batch) * med:.1f}",
                    f"{rate:.1f} ({100 * rate / ceiling['nanogan']:.0f}%)", fmt_mb(mem[s])]
        if torch:
            ratio = np.median(np.array(times["nanogan"]) / np.array(times["torch"]))
            mem_ratio = "–" if None in mem.values() else f"{mem['nanogan'] / mem['torch']:.2f}"
            row += [f"**{ratio:.2f}**", mem_ratio]
        print("| " + " | ".join(row) + " |", flush=True)
    print("\nfc, dcgan: the textbook networks; fc recipe, dcgan recipe: what train.py trains. "
          f"FLOPs/step = 3 F_G + 9 F_D (see the docstring); % ceiling is of nanogan's BLAS "
          f"({ceiling['nanogan']:.0f} GFLOP/s).")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
