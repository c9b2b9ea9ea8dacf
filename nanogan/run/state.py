"""Where a training run stands, in one object: what a checkpoint holds besides the
networks' arrays, and how a resumed run picks up exactly where it stopped.

A run is resumable bit for bit at any step because everything random comes from one host
generator (nanogan.backend.make_rng) and its state is saved twice: when the current epoch
began (before that epoch's shuffle) and now. A run resumed mid-epoch redraws the same batch
order from the first and then carries on from the second.
"""
from dataclasses import dataclass, field

import numpy as np

from ..backend import rng_state, set_rng_state
from ..data.batches import batch_order
from ..errors import NanoganError


def _zeros():
    return np.zeros(6, np.float32)


@dataclass
class State:
    rng: np.random.Generator        # the run's one generator: noise, shuffles, dropout masks
    epoch: int = 0                  # epochs done
    step: int = 0                   # steps done into epoch + 1 (> 0 only after Ctrl-C mid-epoch)
    totals: np.ndarray = field(default_factory=_zeros)  # (6,) float32 sums of GAN.step's statistics
    seconds: float = 0.0            # training time spent in epoch + 1 so far
    history: list = field(default_factory=list)          # the metrics rows of the epochs done
    epoch_rng: dict | None = None   # rng's state when epoch + 1 began
    _rng_now: dict | None = None    # rng's state at `step`, when resuming mid-epoch

    @classmethod
    def resume(cls, ck, rng, steps, where):
        """The state checkpoint `ck` saved; `steps` is an epoch's length in this run."""
        if ck["step"] >= steps:
            raise NanoganError(f"checkpoint {where!r} is damaged: it stopped at step {ck['step']} of an epoch "
                               f"of {steps} steps.")
        set_rng_state(rng, ck["rng"])
        return cls(rng, ck["epoch"], ck["step"], ck["totals"], ck["seconds"], list(ck["history"] or []),
                   ck["epoch_rng"], ck["rng"])

    def batch_order(self, n, batch_size):
        """This epoch's batches, (steps, batch_size) int64 indices: a fresh shuffle at the
        epoch's start, or, resuming mid-epoch, the shuffle the epoch began with."""
        if self.step == 0:
            self.epoch_rng = rng_state(self.rng)
            return batch_order(n, batch_size, self.rng)
        set_rng_state(self.rng, self.epoch_rng)
        order = batch_order(n, batch_size, self.rng)
        set_rng_state(self.rng, self._rng_now)          # and on from the step after the checkpoint
        return order

    def finish_epoch(self, row):
        """The epoch is done: its metrics row joins the history, the counters start again."""
        self.history.append(row)
        self.epoch, self.step, self.totals, self.seconds = self.epoch + 1, 0, _zeros(), 0.0
        self.epoch_rng = rng_state(self.rng)

    def meta(self, config):
        """What a checkpoint holds besides the arrays (nanogan.run.checkpoint)."""
        return {"config": config, "epoch": self.epoch, "step": self.step, "rng": rng_state(self.rng),
                "epoch_rng": self.epoch_rng, "totals": self.totals, "seconds": self.seconds,
                "history": self.history}
