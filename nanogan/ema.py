"""An exponential moving average of a network's weights, for sampling (Yazıcı et al. 2019,
"The Unusual Effectiveness of Averaging in GAN Training")."""
import copy

import numpy as np

from .backend import array_module, to_device, to_host


class EMA:
    """A second copy of `net` whose arrays follow the average of `net`'s over the last
    ~1 / (1 - beta) optimizer steps. Training never reads it; sampling does.

    A GAN's generator does not settle: each step of the game moves it, and its samples at
    any one step carry that step's wobble. Averaging the iterates cancels much of the
    wobble (Yazıcı et al. 2019 find the exponential average better than the uniform one,
    which keeps the poor early iterates). After G's t-th update, with theta_t its arrays:

        E_t   = beta E_{t-1} + (1 - beta) theta_t,   E_0 = 0
        avg_t = E_t / (1 - beta^t)                   (bias correction, as in Adam)
              = sum_{i=1..t} (1 - beta) beta^(t-i) theta_i / (1 - beta^t)

    a weighted mean of theta_1..theta_t whose weights sum to 1, so avg_1 = theta_1 and no
    share of the random initial weights lingers in early samples. It is kept directly:

        avg_t = avg_{t-1} + w_t (theta_t - avg_{t-1}),   w_t = (1 - beta) / (1 - beta^t)

    Every array of the state is averaged, BatchNorm's running statistics too: the average
    network then normalises with statistics gathered over the same window as its weights.
    `average` is an ordinary network (same layers, its own float32 arrays).
    """

    def __init__(self, net, beta):
        if not 0 < beta < 1:
            raise ValueError(f"EMA beta must be in (0, 1), got {beta}")
        self.net, self.beta, self.t = net, beta, 0
        self.average = copy.deepcopy(net)   # before any step: equal to net, used until the first update

    def update(self):
        """Fold in net's current arrays; call once after each optimizer step of net."""
        self.t += 1
        w = (1 - self.beta) / (1 - self.beta ** self.t)          # a Python float: keeps float32
        ours = self.average.state_dict()
        for name, a in self.net.state_dict().items():
            s = ours[name]
            s += w * (a - s)

    def state_dict(self):
        """{'t': updates so far (int64), name: the average's array} on the host, a snapshot."""
        state = {"t": np.array(self.t, dtype=np.int64)}
        state.update({name: np.array(to_host(a)) for name, a in self.average.state_dict().items()})
        return state

    def load_state_dict(self, state):
        self.t = int(state["t"])
        xp = array_module(next(iter(self.average.state_dict().values())))
        self.average.load_state_dict({k: to_device(a, xp) for k, a in state.items() if k != "t"})
