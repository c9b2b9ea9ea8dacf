"""An exponential moving average of a network's weights, for sampling (Yazıcı et al. 2019,
"The Unusual Effectiveness of Averaging in GAN Training")."""
import copy

import numpy as np

from ..backend import array_module, to_device, to_host
from .module import flatten


class EMA:
    """A second copy of `net` whose arrays follow an average of `net`'s recent arrays.
    Training never reads it; sampling does.

    A GAN's generator does not settle: each step of the game moves it, and its samples at
    any one step carry that step's wobble. Averaging the iterates cancels much of the
    wobble (Yazıcı et al. 2019 find the exponential average better than the uniform one,
    which keeps the poor early iterates). After net's t-th update, with theta_t its arrays:

        avg_t = beta_t avg_{t-1} + (1 - beta_t) theta_t,    beta_t = min(beta, (t - 1) / (t + 9))

    The warm-up (that of TensorFlow's ExponentialMovingAverage, counted so that beta_1 = 0)
    makes avg_1 = theta_1, so no share of the random initial weights lingers, and keeps the
    average on roughly the last tenth of training until that is longer than the
    1 / (1 - beta) steps the plain average remembers: early in training G improves fast,
    and an average over a fixed 1000 steps would still hold the blobs of the first epoch.
    Unrolled, avg_t = sum_i (1 - beta_i) prod_{j=i+1..t} beta_j theta_i, weights summing to 1.

    Every array of the state is averaged, BatchNorm's running statistics too: the average
    network then normalises with statistics gathered over the same window as its weights.
    `average` is an ordinary network (same layers, its own float32 arrays).

    `flat`: when net's parameters are views into one array (its optimizer flattened them,
    module.flatten), the average's are flattened too, and the update runs once on the
    whole flat array instead of once per parameter (3 operations, not 3 per weight array).
    """

    def __init__(self, net, beta, flat=None):
        if not 0 < beta < 1:
            raise ValueError(f"EMA beta must be in (0, 1), got {beta}")
        self.net, self.beta, self.t = net, beta, 0
        self.average = copy.deepcopy(net)   # before any step: equal to net, used until the first update
        # (its .grad arrays come along and stay unused: the average is never trained)
        # (average's array, net's array) pairs that update() averages
        ours, theirs = dict(self.average.named_buffers()), dict(net.named_buffers())
        self.pairs = [(ours[name], theirs[name]) for name in theirs]
        if flat is not None:
            self.pairs.append((flatten(self.average.parameters())[0], flat))
        else:
            ours = dict(self.average.named_parameters())
            self.pairs += [(ours[name].data, p.data) for name, p in net.named_parameters()]

    def decay(self, t):
        """beta_t, the weight the average keeps at update t (1, 2, ...)."""
        return min(self.beta, (t - 1) / (t + 9))

    def update(self):
        """Fold in net's current arrays; call once after each optimizer step of net."""
        self.t += 1
        w = 1 - self.decay(self.t)                                # a Python float: keeps float32
        for s, a in self.pairs:
            s += w * (a - s)                                      # = beta_t s + (1 - beta_t) a

    def state_dict(self):
        """{'t': updates so far (int64), name: the average's array} on the host, a snapshot."""
        state = {"t": np.array(self.t, dtype=np.int64)}
        state.update({name: np.array(to_host(a)) for name, a in self.average.state_dict().items()})
        return state

    def load_state_dict(self, state):
        self.t = int(state["t"])
        xp = array_module(next(iter(self.average.state_dict().values())))
        self.average.load_state_dict({k: to_device(a, xp) for k, a in state.items() if k != "t"})
