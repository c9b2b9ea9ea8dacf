#!/usr/bin/env python
"""Train a GAN on MNIST with nanogan's hand-written layers.

    python train.py --arch dcgan                  # the DCGAN's recipe: 28 epochs, ~11 min on 2 CPU cores
    python train.py --arch fc --device cuda       # the fully connected GAN's, on a GPU
    python train.py --resume runs/dcgan-.../checkpoint.npz --epochs 30

The recipe (every value, with its reason) is nanogan/gan/recipe.py; the networks are
nanogan/gan/models.py and the alternating step nanogan/gan/gan.py. This file is the loop:
epochs of shuffled batches, a score and a checkpoint after each. What a run directory holds,
the order of its writes, resume and Ctrl-C are nanogan/run/rundir.py's; where a run stands
is nanogan/run/state.py's. Draw from a trained generator with sample.py, score it with
evaluate.py.
"""
import signal
import sys

signal.signal(signal.SIGINT, lambda signum, frame: sys.exit(130))  # Ctrl-C while importing: no traceback

import os
import time

import numpy as np

from nanogan.backend import get_xp, make_rng, synchronize, to_device, to_host
from nanogan.data.datasets import load_dataset
from nanogan.errors import NanoganError
from nanogan.eval.samples import grid_inputs, grid_picture, score
from nanogan.gan import GAN, Config
from nanogan.run.checkpoint import check_arrays
from nanogan.run.cli import main, parse_train, run_config
from nanogan.run.progress import Progress
from nanogan.run.rundir import RunDir
from nanogan.run.state import State

signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on, Ctrl-C is handled (run/cli.py)

CHECK_EVERY = 25  # steps between reads of the running statistics (each read waits for a GPU)
STAT_COLUMNS = ["d_loss", "g_loss", "d_real", "d_fake", "acc_real", "acc_fake"]   # GAN.step's
EVAL_COLUMNS = ["frechet", "classifier_score", "entropy", "covered", "top_share", "precision", "recall"]


def train(argv=None):
    args = parse_train(argv)
    default_out = os.path.join("runs", f"{args.arch or 'fc'}-{time.strftime('%Y%m%d-%H%M%S')}")
    # the run directory first: resolved, locked and judged before the checkpoint is read under the lock
    with RunDir.start(args.out, args.resume, default_out) as run:
        return train_in(run, args)


def train_in(run, args):
    ck = run.checkpoint                                        # None for a new run
    config = Config(**run_config(args, ck))
    xp = get_xp(config.device)

    images, labels = load_dataset(config.dataset, "train", args.data_dir)  # (60000, 1, 28, 28) float32, (60000,) int64
    if config.limit:
        images, labels = images[:config.limit], labels[:config.limit]
    B = config.batch_size
    if B > len(images):
        raise NanoganError(f"--batch-size {B} is larger than the {len(images)} training images.")
    steps = len(images) // B
    images, labels = to_device(images, xp), to_device(labels, xp)  # 188 MB: fits any GPU; batches gathered there

    rng = make_rng(config.seed)
    gan = GAN(config, rng, xp)                                 # draws the initial weights from rng
    state = State(rng)
    if ck is not None:
        check_arrays(ck, gan.state_arrays(), args.resume)
        gan.load_state_arrays(ck["arrays"])
        state = State.resume(ck, rng, steps, args.resume)
        state.history = state.history or run.read_metrics(state.epoch)  # format-1 checkpoints kept no history
    fixed = grid_inputs(gan, config.seed)                      # the same 64 noise vectors every epoch
    title = f"nanogan {config.arch} on {config.dataset}"

    # NaN and inf are caught by the checks below, which say what to do; NumPy's warnings would only add noise
    with run.open(config.to_dict(), state.history, state.epoch), \
            np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        log(f"training {config.arch} on {len(images)} {config.dataset} images, {steps} steps/epoch, "
            f"device {config.device}, run directory {run.path}")
        if ck is not None:
            log(f"resuming after epoch {state.epoch}" + (f", step {state.step}" if state.step else "")
                + f", to epoch {config.epochs}" + (": the run is there already" if state.epoch == config.epochs else ""))
        log("recipe: " + ", ".join(f"{k} {v}" for k, v in config.to_dict().items()
                                   if k not in ("device", "dataset", "limit", "seed") and v is not None))
        if ck is None:
            run.write_grid(0, grid_picture(gan, fixed))
        elif state.step == 0 and state.epoch > 0:  # a crash may have come between the checkpoint and these
            write_epoch_files(run, gan, fixed, state, title)

        while state.epoch < config.epochs:
            if train_epoch(gan, state, images, labels, run, config, not args.no_progress):   # the epoch is whole
                row = epoch_row(gan, state, config, steps)
                state.finish_epoch(row)
                run.commit(state.meta(config.to_dict()), gan.state_arrays(),
                           keep_copy=bool(config.save_every) and state.epoch % config.save_every == 0)
                log(epoch_line(row, config.epochs))
                write_epoch_files(run, gan, fixed, state, title)
            if run.stop_requested and state.epoch < config.epochs:   # Ctrl-C: where it stopped is saved
                where = f"in epoch {state.epoch + 1} after step {state.step}/{steps}" if state.step else \
                    f"after epoch {state.epoch}"
                log(f"interrupted {where}: saved {run.ckpt}; continue with --resume {run.ckpt}", sys.stderr)
                return 130
    log(f"done: {run.path} (checkpoint.npz, metrics.csv, curves.png, samples/, training.gif) "
        f"at epoch {config.epochs}")
    return 0


def train_epoch(gan, state, images, labels, run, config, progress):
    """The steps of epoch state.epoch + 1 from state.step on, GAN.step's statistics summed in
    state.totals. Returns False when Ctrl-C stopped it early: the state of exactly that step is
    then checkpointed (state.step > 0), and a resume carries on from the step after it."""
    xp, B, epoch = gan.xp, config.batch_size, state.epoch + 1
    order = to_device(state.batch_order(len(images), B), xp)  # (steps, B) int64: one transfer an epoch
    steps = len(order)
    gan.start_epoch(epoch, config.epochs)
    bar = Progress(progress and sys.stderr.isatty(), epoch, config.epochs, steps)
    totals = to_device(state.totals, xp)                       # (6,) float32, summed on the device
    synchronize(xp)
    t0 = time.perf_counter()
    for i in range(state.step, steps):
        idx = order[i]
        totals += gan.step(images[idx], state.rng, labels[idx] if gan.conditional else None)
        if (i + 1) % CHECK_EVERY == 0 or i + 1 == steps or run.stop_requested:
            sums = to_host(totals)                             # (6,) float32 on the host: waits for a GPU
            check_finite(run, sums, epoch, f"by step {i + 1}")
            bar.update(i + 1, sums[0] / (i + 1), sums[1] / (i + 1), (i + 1 - state.step) * B / (time.perf_counter() - t0))
        if run.stop_requested and i + 1 < steps:
            break
    synchronize(xp)
    bar.close()
    state.step, state.totals, state.seconds = i + 1, sums, state.seconds + time.perf_counter() - t0
    if state.step < steps:
        run.commit(state.meta(config.to_dict()), gan.state_arrays())
        return False
    return True


def epoch_row(gan, state, config, steps):
    """The epoch's metrics.csv row: GAN.step's statistics averaged over the epoch, its time,
    and, every --eval-every epochs, the classifier's scores of fresh samples."""
    stats = state.totals / steps
    row = {"epoch": str(state.epoch + 1), **{k: f"{v:.5f}" for k, v in zip(STAT_COLUMNS, stats)},
           "seconds": f"{state.seconds:.2f}", "images_per_second": f"{steps * config.batch_size / state.seconds:.0f}",
           **{k: "" for k in EVAL_COLUMNS}}
    if config.eval_every and (state.epoch + 1) % config.eval_every == 0:
        scores = score(gan, config.eval_samples, config.seed, config.dataset)
        row.update({k: f"{scores[k]:.4f}" for k in EVAL_COLUMNS})
    return row


def epoch_line(row, epochs):
    r = {k: float(v) for k, v in row.items() if v != ""}
    line = (f"epoch {int(r['epoch']):3d}/{epochs}  D loss {r['d_loss']:.3f}  G loss {r['g_loss']:.3f}  "
            f"D(x) {r['d_real']:.3f}  D(G(z)) {r['d_fake']:.3f}  D acc real {r['acc_real']:.3f} "
            f"fake {r['acc_fake']:.3f}  {r['seconds']:.1f} s  {r['images_per_second']:.0f} img/s")
    if "frechet" in r:
        line += f"  FD {r['frechet']:.2f}  score {r['classifier_score']:.2f}  classes {int(r['covered'])}/10"
    return line


def write_epoch_files(run, gan, fixed, state, title):
    """What the checkpoint implies, written after it (rundir.py: the order of writes)."""
    run.write_metrics(state.history)
    run.write_grid(state.epoch, grid_picture(gan, fixed))
    run.write_gif(state.epoch)
    run.write_curves(state.history, title)


def check_finite(run, sums, epoch, when):
    if not np.isfinite(sums).all():
        raise NanoganError(f"training diverged in epoch {epoch} {when} (D loss {sums[0]}, G loss {sums[1]}); "
                           f"{run.kept()}; try a lower --lr and --lr-d.")


def log(line, stream=None):
    """Print a line; a log that cannot be written (stdout closed or on a full disk) does
    not stop the run: the run directory is its record."""
    try:
        print(line, file=stream or sys.stdout, flush=True)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main(train))
