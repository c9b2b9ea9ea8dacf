#!/usr/bin/env python
"""Train a GAN on MNIST with nanogan's hand-written layers.

    python train.py --arch fc --device cpu            # fully connected GAN
    python train.py --arch dcgan --device cuda        # DCGAN on a GPU
    python train.py --resume runs/fc-.../checkpoint.npz --epochs 40
    python train.py --sample-from runs/fc-.../checkpoint.npz --num-samples 100 --sample-out digits.png

Read top to bottom, this file is the whole recipe: the architectures, the losses
and the alternating updates, then the training loop. The bookkeeping lives in
nanogan: the command line and its checks in `cli.py`, the run directory (the order
of writes, resume, Ctrl-C, cleanup) in `rundir.py`, checkpoints in `checkpoint.py`.
"""
import os
import sys
import time

import numpy as np

import nanogan as ng
from nanogan.run import commands
from nanogan.backend import make_rng, rng_state, set_rng_state, synchronize, to_device, to_host
from nanogan.data.batches import batch_order
from nanogan.run.checkpoint import check_arrays, load_checkpoint
from nanogan.run.cli import parse_args, run_config
from nanogan.data.datasets import load_dataset
from nanogan.nn.ema import EMA
from nanogan.errors import NanoganError
from nanogan.nn.minibatch import MinibatchDiscrimination
from nanogan.run.progress import Progress
from nanogan.run.rundir import RunDir


# --------------------------------------------------------------------------------------
# The two architectures. G maps noise z (N, z_dim) to images (N, 1, 28, 28) in [-1, 1];
# D maps images to one logit each (N, 1). Both are plain Sequentials of nanogan layers.
# --------------------------------------------------------------------------------------

def build_fc(rng, z_dim=100, minibatch=False, n_classes=0, dropout=0.3, mbd_distance="l1"):
    """The fully connected GAN (as in Goodfellow et al. 2014's MNIST models, sized as the
    common PyTorch/Keras MNIST GAN examples): LeakyReLU(0.2) hidden layers, tanh output,
    dropout (0.3) in D so that it does not simply memorise the training digits.
    n_classes > 0 widens both inputs for a one-hot label (the conditional GAN below);
    minibatch=True adds minibatch discrimination before D's last layer (see build_dcgan),
    with mbd_distance "l1" or "l2" between samples (nanogan/nn/minibatch.py)."""
    G = ng.Sequential(
        ng.Dense(z_dim + n_classes, 256, rng), ng.LeakyReLU(0.2),
        ng.Dense(256, 512, rng), ng.LeakyReLU(0.2),
        ng.Dense(512, 1024, rng), ng.LeakyReLU(0.2),
        ng.Dense(1024, 784, rng), ng.Tanh(),
        ng.Reshape(1, 28, 28))                                        # (N, 1, 28, 28)
    D = ng.Sequential(
        ng.Flatten(),                                                 # (N, 784 + n_classes)
        ng.Dense(784 + n_classes, 1024, rng), ng.LeakyReLU(0.2), ng.Dropout(dropout, rng),
        ng.Dense(1024, 512, rng), ng.LeakyReLU(0.2), ng.Dropout(dropout, rng),
        ng.Dense(512, 256, rng), ng.LeakyReLU(0.2), ng.Dropout(dropout, rng))  # (N, 256)
    if minibatch:
        D.layers.append(MinibatchDiscrimination(256, 50, 5, rng, distance=mbd_distance))  # (N, 256 + 50)
    D.layers.append(ng.Dense(256 + 50 * minibatch, 1, rng))            # (N, 1) logits
    return G, D


def build_dcgan(rng, z_dim=100, minibatch=False, width=64, d_norm="batch", mbd_distance="l1", d_width=None):
    """DCGAN (Radford et al. 2016) at MNIST's native 28x28: G upsamples 7 -> 14 -> 28 with
    stride-2 transposed convolutions, BatchNorm and ReLU; D downsamples 28 -> 14 -> 7 with
    stride-2 convolutions, BatchNorm (not on D's input layer, as in the paper) and
    LeakyReLU(0.2), no pooling; weights N(0, 0.02) throughout. A D with BatchNorm always sees
    a batch that is all real or all fake (GAN.step), so its statistics never mix the two.
    (A D with dropout 0.3 in place of BatchNorm stayed near chance, D(x) 0.53 and D(G(z))
    0.47 after 3 epochs, and its G drew blobs; with BatchNorm D leads as DCGAN's does.)
    width w sets the channels: G 2w (7x7) -> w (14x14) -> 1, D 1 -> w (14x14) -> 2w (7x7);
    the paper's 64 gives 128 and 64; d_width, if given, is D's w instead (a narrower D than G).
    d_norm "none" leaves D's BatchNorm out.
    minibatch=True appends minibatch discrimination (Salimans et al. 2016) to D's features:
    50 closeness statistics per sample, each saying how near it is to the rest of its batch,
    which lets D notice a generator that has collapsed onto a few digits."""
    w = width
    G = ng.Sequential(
        ng.Dense(z_dim, 2 * w * 7 * 7, rng, init="dcgan"), ng.BatchNorm(2 * w * 7 * 7), ng.ReLU(),
        ng.Reshape(2 * w, 7, 7),                                      # (N, 2w, 7, 7)
        ng.ConvTranspose2d(2 * w, w, 4, rng, stride=2, padding=1),    # (N, w, 14, 14)
        ng.BatchNorm(w), ng.ReLU(),
        ng.ConvTranspose2d(w, 1, 4, rng, stride=2, padding=1),        # (N, 1, 28, 28)
        ng.Tanh())
    w = d_width or width
    D = ng.Sequential(
        ng.Conv2d(1, w, 4, rng, stride=2, padding=1),                 # (N, w, 14, 14)
        ng.LeakyReLU(0.2),
        ng.Conv2d(w, 2 * w, 4, rng, stride=2, padding=1),             # (N, 2w, 7, 7)
        *([ng.BatchNorm(2 * w)] if d_norm == "batch" else []), ng.LeakyReLU(0.2),
        ng.Flatten())                                                 # (N, 2w * 49)
    if minibatch:
        D.layers.append(MinibatchDiscrimination(2 * w * 7 * 7, 50, 5, rng, distance=mbd_distance))  # (N, 2w * 49 + 50)
    D.layers.append(ng.Dense(2 * w * 7 * 7 + 50 * minibatch, 1, rng, init="dcgan"))  # (N, 1) logits
    return G, D


def build_cgan(rng, z_dim=100, minibatch=False, dropout=0.3, mbd_distance="l1"):
    """A class-conditional GAN (Mirza & Osindero 2014): the FC GAN with a one-hot digit
    label (10 values) joined to G's noise and to D's flattened image, so that G learns
    p(x | digit) and D judges whether an image is a real example *of that digit*.
    GAN.step does the joining; here only the input widths grow by 10."""
    return build_fc(rng, z_dim, minibatch, n_classes=10, dropout=dropout, mbd_distance=mbd_distance)


ARCHS = {"fc": build_fc, "dcgan": build_dcgan, "cgan": build_cgan}


# --------------------------------------------------------------------------------------
# One training step: D learns to tell real from fake, then G learns to fool D.
# --------------------------------------------------------------------------------------

class GAN:
    """The two networks, their optimizers and the loss, on one device."""

    def __init__(self, arch, rng, xp, z_dim=100, lr=2e-4, betas=(0.5, 0.999), real_label=1.0,
                 minibatch=False, dropout=None, lr_d=None, ema=0.0, width=None, d_norm=None, lr_decay=1.0,
                 mbd_distance="l1", d_width=None, lr_hold=None):
        # None: the architecture's own default, or a setting it does not have
        options = {k: v for k, v in (("dropout", dropout), ("width", width), ("d_norm", d_norm), ("d_width", d_width))
                   if v is not None}
        options["mbd_distance"] = mbd_distance
        self.G, self.D = ARCHS[arch](rng, z_dim, minibatch, **options)
        self.G.to(xp), self.D.to(xp)
        # lr_d: two time-scale updates (Heusel et al. 2017), D's learning rate apart from G's
        self.opt_G = ng.Adam(self.G.parameters(), lr, betas)
        self.opt_D = ng.Adam(self.D.parameters(), lr if lr_d is None else lr_d, betas)
        self.base_lrs, self.lr_decay, self.lr_hold = (self.opt_G.lr, self.opt_D.lr), lr_decay, lr_hold
        # ema > 0: samples come from a moving average of G's weights (nanogan/nn/ema.py)
        self.ema = EMA(self.G, ema, flat=self.opt_G.data) if ema else None
        self.bce = ng.BCEWithLogits()
        self.xp, self.z_dim, self.real_label = xp, z_dim, real_label
        self.conditional = arch == "cgan"
        # D judges real and fake images in one pass of 2B unless one of its layers would mix them
        self.joined = not self.D.mixes_samples()
        # D's dropout layers and the width of what each sees: that of the last Dense before it
        self.dropouts = [(layer, next(l.out_features for l in reversed(self.D.layers[:i]) if isinstance(l, ng.Dense)))
                         for i, layer in enumerate(self.D.layers) if isinstance(layer, ng.Dropout) and layer.p > 0]

    def start_epoch(self, epoch, epochs):
        """Both learning rates for epoch 1, 2, ..., epochs (the run's last):

            lr_e = lr * decay**(e - 1) * h_e,   h_e = 1                                      if e <= hold
                                                h_e = (epochs - e + 1) / (epochs - hold + 1)   if e > hold

        decay steps the rates down after every epoch; hold keeps them for `hold` epochs and then
        lowers them in equal steps to 1/(epochs - hold + 1) of that in the last epoch (the linear
        decay to zero of Zhu et al. 2017, CycleGAN), so that G and D settle at the end instead of
        circling their equilibrium at full speed. The ratio of the two rates stays the recipe's.
        A function of the epoch and the target alone, so a resumed run, even one resumed
        mid-epoch, gets the same rates; a resume with a larger --epochs stretches the decay."""
        h = 1.0 if self.lr_hold is None or epoch <= self.lr_hold else \
            (epochs - epoch + 1) / (epochs - self.lr_hold + 1)
        for opt, lr in zip((self.opt_G, self.opt_D), self.base_lrs):
            opt.lr = lr * self.lr_decay ** (epoch - 1) * h

    def noise(self, n, rng):
        """z ~ N(0, I), (n, z_dim) float32, drawn on the host from the run's generator."""
        return to_device(rng.standard_normal((n, self.z_dim), dtype=np.float32), self.xp)

    def randomness(self, B, rng):
        """Everything random in one step, drawn on the host from the run's one generator and
        moved to the device in one copy: the noise z (B, z_dim), the digits of the fake batch
        (B,) for the conditional GAN, and a mask for each of D's dropout layers for each
        batch D sees (the real one, the fake one, and the fake one again for G). On a GPU
        every host-to-device copy has a fixed cost of its own; one copy of 2.8 MB (fc,
        batch 128) is cheaper than eleven small ones. A layer's real and fake masks lie one
        after the other, so together they are its mask for D's joined pass over [real; fake].
        Returns (z, digits or None, D's masks (2B, width) and G's masks (B, width), one per
        dropout layer)."""
        parts = [rng.standard_normal(B * self.z_dim, dtype=np.float32)]           # (B * z_dim,)
        if self.conditional:
            parts.append(rng.integers(0, 10, B).astype(np.float32))                # (B,) digits, exact
        real, fake, gen = ([layer.draw_mask((B, width), rng) for layer, width in self.dropouts] for _ in range(3))
        parts += [np.concatenate(pair).reshape(-1) for pair in zip(real, fake)] + [m.reshape(-1) for m in gen]
        flat = to_device(np.concatenate(parts), self.xp)                           # one transfer
        z, start = flat[:B * self.z_dim].reshape(B, self.z_dim), B * self.z_dim
        digits = None
        if self.conditional:
            digits, start = flat[start:start + B].astype(np.int64), start + B
        masks = []
        for rows in (2 * B, B):
            masks.append([])
            for _, width in self.dropouts:
                masks[-1].append(flat[start:start + rows * width].reshape(rows, width))
                start += rows * width
        return z, digits, masks[0], masks[1]

    def use_masks(self, masks):
        for (layer, _), mask in zip(self.dropouts, masks):
            layer.use_mask(mask)

    # The conditional GAN joins a one-hot label to each network's input; for the others
    # these three are the plain forward and backward passes.
    def _join(self, a, y):
        """a (N, K) and labels y -> (N, K + 10): a with the one-hot digit appended. y is the
        digits (N,), or already rows of 10 weights (N, 10), e.g. a walk between two digits."""
        onehot = y if y.ndim == 2 else self.xp.eye(10, dtype=a.dtype)[y]
        return self.xp.concatenate([a, onehot.astype(a.dtype, copy=False)], axis=1)

    def generate(self, z, y=None, G=None):
        return (self.G if G is None else G).forward(self._join(z, y) if self.conditional else z)  # (N, 1, 28, 28)

    def discriminate(self, x, y=None):
        return self.D.forward(self._join(x.reshape(len(x), -1), y) if self.conditional else x)  # (N, 1)

    def d_backward(self, dlogits):
        """Backward through D; returns dL/dx for the image part of D's input."""
        d_in = self.D.backward(dlogits, input_grad=True)
        return d_in[:, :784].reshape(-1, 1, 28, 28) if self.conditional else d_in

    def step(self, x_real, rng, y_real=None):
        """One alternating update on a real batch x_real (B, 1, 28, 28) (with its labels
        y_real (B,) for the conditional GAN, whose fakes get labels drawn uniformly).

        D minimises  BCE(D(x), 1) + BCE(D(G(z)), 0)     (real_label < 1: one-sided smoothing)
        G minimises  BCE(D(G(z)), 1) = -mean log sigmoid(D(G(z)))
        The second is the "non-saturating" G loss (Goodfellow et al. 2014, sec. 3): it has
        strong gradients exactly when D confidently rejects G's samples, early in training.

        Returns a device array of 6 statistics: D loss, G loss, mean D(x), mean D(G(z)),
        D's accuracy on the real batch and on the fake batch.
        """
        xp, B = self.xp, len(x_real)
        targets_D, ones = self.targets(B)                               # (2B, 1): real_label x B, 0 x B; (B, 1)
        z, y_fake, masks_D, masks_G = self.randomness(B, rng)
        fake = self.generate(z, y_fake)                                 # (B, 1, 28, 28)

        # D step. D's input gradient is not needed here, so D.backward does not compute it.
        self.opt_D.zero_grad()                                          # one fill: D's gradients are one array
        if self.joined:
            # One pass over the 2B images [real; fake]. D's layers treat every image on its
            # own, so its outputs are those of two passes, and since the gradient of a sum
            # of losses is the sum of their gradients, D's gradient is too (up to the order
            # of its additions), at half the operations. fake is just data to D here.
            self.use_masks(masks_D)
            x = xp.concatenate([x_real, fake])                          # (2B, 1, 28, 28)
            y = None if y_real is None else xp.concatenate([y_real, y_fake])   # (2B,) digits
            logits, loss_D, p = self.d_pass(x, y, targets_D, n=B)      # (2B, 1) each; loss: sum / B
            logit_real, logit_fake, p_real, p_fake = logits[:B], logits[B:], p[:B], p[B:]
        else:
            # BatchNorm or minibatch discrimination in D: a separate pass for each, so that
            # neither batch's statistics see the other; the gradients add up in D's .grad.
            self.use_masks([m[:B] for m in masks_D])
            logit_real, loss_real, p_real = self.d_pass(x_real, y_real, targets_D[:B])
            self.use_masks([m[B:] for m in masks_D])
            logit_fake, loss_fake, p_fake = self.d_pass(fake, y_fake, targets_D[B:])
            loss_D = loss_real + loss_fake
        self.opt_D.step()

        # G step: through the updated D into G, G reusing the forward pass above. D is
        # frozen for it: only dL/dx flows back through D, none of D's own gradients.
        self.opt_G.zero_grad()
        self.use_masks(masks_G)
        logit_gen = self.discriminate(fake, y_fake)
        loss_G = self.bce(logit_gen, ones)
        self.D.requires_grad_(False)
        self.G.backward(self.d_backward(self.bce.backward()))
        self.D.requires_grad_(True)
        self.opt_G.step()
        if self.ema:
            self.ema.update()

        return xp.stack([loss_D, loss_G, p_real.mean(), p_fake.mean(),
                         (logit_real > 0).mean(dtype=np.float32), (logit_fake < 0).mean(dtype=np.float32)])

    def d_pass(self, x, y, targets, n=None):
        """D's forward and backward on the images x (labels y): its logits, its loss (the
        BCE's sum over n, by default its mean) and sigmoid(logits), D's probabilities."""
        logits = self.discriminate(x, y)
        loss = self.bce(logits, targets, n)
        self.D.backward(self.bce.backward())
        return logits, loss, self.bce.p

    def targets(self, B):
        """BCE's targets for a batch of B, made once: D's, real_label (< 1 is one-sided label
        smoothing) for the B real images then 0 for the B fakes, and G's (fakes it wants
        called real)."""
        if getattr(self, "_targets", (None,))[0] != B:
            full = lambda n, v: self.xp.full((n, 1), v, dtype=np.float32)  # noqa: E731
            self._targets = (B, self.xp.concatenate([full(B, self.real_label), full(B, 0.0)]), full(B, 1.0))
        return self._targets[1:]

    def sample(self, z, y=None):
        """G(z) (given digits y for the conditional GAN) in eval mode, i.e. BatchNorm on its
        running statistics, so a sample does not depend on the others in its batch; drawn by
        the moving average of G's weights when there is one."""
        G = self.ema.average if self.ema else self.G
        G.eval()
        out = [self.generate(z[i:i + 500], None if y is None else y[i:i + 500], G) for i in range(0, len(z), 500)]
        G.train()
        return self.xp.concatenate(out)

    def parts(self):
        """(checkpoint prefix, object with state_dict) for everything a checkpoint holds."""
        return (("G", self.G), ("D", self.D), ("optG", self.opt_G), ("optD", self.opt_D)) + \
            ((("ema", self.ema),) if self.ema else ())

    # -- what a checkpoint holds
    def state_arrays(self):
        """Every array of both networks and both optimizers, on the host, by checkpoint name
        ("G/0.W", "optD/m.3", ...). Host copies on a GPU; on the CPU the live arrays, so
        save them before the next step."""
        out = {}
        for prefix, part in self.parts():
            out.update({f"{prefix}/{name}": to_host(a) for name, a in part.state_dict().items()})
        return out

    def load_state_arrays(self, arrays):
        """The inverse of state_arrays (names and shapes checked by checkpoint.check_arrays)."""
        for prefix, part in self.parts():
            part.load_state_dict({k[len(prefix) + 1:]: a for k, a in arrays.items() if k.startswith(prefix + "/")})


def build_gan(config, rng, xp):
    """The GAN a run's configuration describes (nanogan.run.config), weights drawn from rng."""
    c = config
    return GAN(c["arch"], rng, xp, c["z_dim"], c["lr"], (c["beta1"], c["beta2"]), c["real_label"], c["minibatch"],
               c["dropout"], c["lr_d"], c["ema"], c["width"], c["d_norm"], c["lr_decay"], c["mbd_distance"],
               c["d_width"], c["lr_hold"])


# --------------------------------------------------------------------------------------
# Training: epochs of shuffled batches, a checkpoint after every epoch
# --------------------------------------------------------------------------------------

CHECK_EVERY = 25  # steps between reads of the running statistics (each read waits for a GPU)
EVAL_COLUMNS = ["frechet", "classifier_score", "entropy", "covered", "top_share", "precision", "recall"]
STAT_COLUMNS = ["d_loss", "g_loss", "d_real", "d_fake", "acc_real", "acc_fake"]


def train(args):
    ck = load_checkpoint(args.resume) if args.resume else None
    config = run_config(args, ck)
    run = RunDir.plan(args.out, args.resume, os.path.join("runs", f"{config['arch']}-{time.strftime('%Y%m%d-%H%M%S')}"))
    xp = ng.get_xp(args.device)

    images, labels = load_dataset(config["dataset"], "train", args.data_dir)  # (60000, 1, 28, 28) float32, (60000,) int64
    if config["limit"]:
        images, labels = images[:config["limit"]], labels[:config["limit"]]
    B = config["batch_size"]
    if B > len(images):
        fail(f"--batch-size {B} is larger than the {len(images)} training images.")
    steps = len(images) // B
    images, labels = to_device(images, xp), to_device(labels, xp)  # 188 MB: fits any GPU; batches gathered there

    rng = make_rng(config["seed"])
    gan = build_gan(config, rng, xp)
    # where the run stands: epochs done, steps done into the next one and what they summed to
    epoch, step, totals, seconds, history, epoch_rng = 0, 0, np.zeros(6, np.float32), 0.0, [], None
    if ck is not None:
        check_arrays(ck, gan.state_arrays(), args.resume)
        if ck["step"] >= steps:
            fail(f"checkpoint {args.resume} is damaged: it stopped at step {ck['step']} of an epoch of {steps} steps.")
        gan.load_state_arrays(ck["arrays"])
        set_rng_state(rng, ck["rng"])
        epoch, step, totals, seconds, epoch_rng = ck["epoch"], ck["step"], ck["totals"], ck["seconds"], ck["epoch_rng"]
        history = ck["history"] or run.read_metrics(epoch)  # format-1 checkpoints kept no history
    fixed = commands.grid_inputs(gan, config["seed"])
    title = f"nanogan {config['arch']} on {config['dataset']}"

    # NaN and inf are caught by the checks below, which say what to do; NumPy's warnings would only add noise
    with run.open(config, history, epoch), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        print(f"training {config['arch']} on {len(images)} {config['dataset']} images, {steps} steps/epoch, "
              f"device {args.device}, run directory {run.path}", flush=True)
        if ck is None:
            run.write_grid(0, commands.grid_picture(gan, fixed))
        elif step == 0 and epoch > 0:  # a crash may have come between the checkpoint and these
            run.write_grid(epoch, commands.grid_picture(gan, fixed))
            run.write_gif(epoch)
            run.write_curves(history, title)

        for epoch in range(epoch + 1, config["epochs"] + 1):
            if step == 0:
                epoch_rng = rng_state(rng)
            set_rng_state(rng, epoch_rng)                               # (a no-op unless resuming mid-epoch)
            order = to_device(batch_order(len(images), B, rng), xp)     # (steps, B) int64: one transfer an epoch
            if step > 0:
                set_rng_state(rng, ck["rng"])                           # on from the step after the checkpoint
            gan.start_epoch(epoch, config["epochs"])
            bar = Progress(sys.stderr.isatty() and not args.no_progress, epoch, config["epochs"], steps)
            totals = to_device(totals, xp)                              # (6,) float32 sums of GAN.step's statistics
            synchronize(xp)
            t0 = time.perf_counter()
            for i in range(step, steps):
                idx = order[i]
                totals += gan.step(images[idx], rng, labels[idx] if gan.conditional else None)
                if run.stop_requested and i + 1 < steps:                 # Ctrl-C: save exactly this step
                    bar.close()
                    commit(run, gan, config, epoch - 1, i + 1, rng, epoch_rng, to_host(totals),
                           seconds + time.perf_counter() - t0, history)
                    print(f"interrupted in epoch {epoch} after step {i + 1}/{steps}: saved {run.ckpt}; "
                          f"continue with --resume {run.ckpt}", file=sys.stderr)
                    return 130
                if (i + 1) % CHECK_EVERY == 0:
                    sums = to_host(totals)
                    check_finite(run, sums, epoch, f"by step {i + 1}")
                    bar.update(i + 1, sums[0] / (i + 1), sums[1] / (i + 1),
                               (i + 1 - step) * B / (time.perf_counter() - t0))
            synchronize(xp)
            seconds += time.perf_counter() - t0
            bar.close()
            stats = to_host(totals) / steps
            check_finite(run, stats, epoch, "at its end")

            row = {"epoch": str(epoch), **{k: f"{v:.5f}" for k, v in zip(STAT_COLUMNS, stats)},
                   "seconds": f"{seconds:.2f}", "images_per_second": f"{steps * B / seconds:.0f}",
                   **{k: "" for k in EVAL_COLUMNS}}
            quality = ""
            if config["eval_every"] and epoch % config["eval_every"] == 0:
                scores = commands.score(gan, config["eval_samples"], config["seed"], config["dataset"])
                row.update({k: f"{scores[k]:.4f}" for k in EVAL_COLUMNS})
                quality = f"  FD {scores['frechet']:.2f}  score {scores['classifier_score']:.2f}  classes {scores['covered']}/10"
            history.append(row)
            commit(run, gan, config, epoch, 0, rng, rng_state(rng), np.zeros(6, np.float32), 0.0, history,
                   keep_copy=bool(config["save_every"]) and epoch % config["save_every"] == 0)
            print(f"epoch {epoch:3d}/{config['epochs']}  D loss {stats[0]:.3f}  G loss {stats[1]:.3f}  "
                  f"D(x) {stats[2]:.3f}  D(G(z)) {stats[3]:.3f}  D acc real {stats[4]:.3f} fake {stats[5]:.3f}  "
                  f"{seconds:.1f} s  {steps * B / seconds:.0f} img/s" + quality, flush=True)
            run.write_metrics(history)
            run.write_grid(epoch, commands.grid_picture(gan, fixed))
            run.write_gif(epoch)
            run.write_curves(history, title)
            step, totals, seconds = 0, np.zeros(6, np.float32), 0.0
            if run.stop_requested and epoch < config["epochs"]:
                print(f"interrupted after epoch {epoch}: saved {run.ckpt}; continue with --resume {run.ckpt}",
                      file=sys.stderr)
                return 130
    print(f"done: {run.path} (checkpoint.npz, metrics.csv, curves.png, samples/, training.gif) "
          f"at epoch {config['epochs']}")
    return 0


def commit(run, gan, config, epoch, step, rng, epoch_rng, totals, seconds, history, keep_copy=False):
    """Checkpoint where the run stands (RunDir.commit refuses non-finite state)."""
    meta = {"config": config, "epoch": epoch, "step": step, "rng": rng_state(rng), "epoch_rng": epoch_rng,
            "totals": totals, "seconds": seconds, "history": history}
    run.commit(meta, gan.state_arrays(), keep_copy)


def check_finite(run, sums, epoch, when):
    if not np.isfinite(sums).all():
        fail(f"training diverged in epoch {epoch} {when} (D loss {sums[0]}, G loss {sums[1]}); "
             f"{run.kept()}; try a lower --lr and --lr-d.")


# --------------------------------------------------------------------------------------
# Using a trained generator (the commands themselves are in nanogan/run/commands.py)
# --------------------------------------------------------------------------------------

def load_gan(path, device, ema=True):
    """A GAN on `device` holding everything checkpoint `path` saved, checked first;
    ema=False samples with G's own weights even where the run kept their average."""
    ck = load_checkpoint(path)
    config = ck["config"]
    gan = build_gan(config, make_rng(0), ng.get_xp(device))
    check_arrays(ck, gan.state_arrays(), path)
    gan.load_state_arrays(ck["arrays"])
    gan.dataset = config["dataset"]
    if not ema:
        gan.ema = None
    return gan


def evaluate(args):
    if args.evaluate.lower().endswith(".npy"):
        return commands.evaluate_command(args, None, args.dataset or "mnist")
    gan = load_gan(args.evaluate, args.device, not args.no_ema)
    if args.dataset not in (None, gan.dataset):
        fail(f"{args.evaluate} was trained on {gan.dataset}; drop --dataset {args.dataset}.")
    return commands.evaluate_command(args, gan, gan.dataset)


def fail(message):
    raise NanoganError(message)


def main(argv=None):
    """Every problem the user can fix is one `error:` line and exit status 2; Ctrl-C is 130."""
    try:
        args = parse_args(argv, ARCHS)
        if args.command == "train":
            return train(args)
        if args.command == "evaluate":
            return evaluate(args)
        if args.command == "sample":
            return commands.sample_command(load_gan(args.sample_from, args.device, not args.no_ema), args)
        return commands.walk_command(load_gan(args.walk, args.device, not args.no_ema), args)
    except NanoganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
