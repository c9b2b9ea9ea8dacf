"""Adam (Kingma & Ba 2015, Algorithm 1)."""
import numpy as np

from .backend import array_module, to_device, to_host


class Adam:
    """For each parameter theta with gradient g, at step t = 1, 2, ...:

        m <- b1 m + (1 - b1) g              first-moment estimate
        v <- b2 v + (1 - b2) g^2            second-moment estimate
        m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t)   bias corrections (m, v start at 0)
        theta <- theta - lr m_hat / (sqrt(v_hat) + eps)

    GANs use betas (0.5, 0.999) (Radford et al. 2016): a shorter memory for the
    mean, because the loss surface moves as the other network trains.
    Create it after the model has been moved to its device (m and v live there).
    The state (t, m, v) saves and restores exactly (`state_dict`), so a resumed
    run continues bit for bit.
    """

    def __init__(self, params, lr=2e-4, betas=(0.5, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, tuple(betas), eps
        self.t = 0
        self.m = [array_module(p.data).zeros_like(p.data) for p in self.params]
        self.v = [array_module(p.data).zeros_like(p.data) for p in self.params]

    def step(self):
        b1, b2 = self.betas
        self.t += 1
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, m, v in zip(self.params, self.m, self.v):
            xp = array_module(p.data)
            g = p.grad
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            p.data -= (self.lr / c1) * m / (xp.sqrt(v / c2) + self.eps)   # lr m_hat / (sqrt(v_hat) + eps)

    def zero_grad(self):
        for p in self.params:
            p.grad[...] = 0

    def state_dict(self):
        """{'t': step count, 'm.i', 'v.i': moment arrays for the i-th parameter} on the host.

        A snapshot: later steps do not change it. (to_host copies a GPU array but returns
        a NumPy array itself, which `step` updates in place, hence the explicit copy.)
        """
        state = {"t": np.array(self.t, dtype=np.int64)}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            state[f"m.{i}"], state[f"v.{i}"] = np.array(to_host(m)), np.array(to_host(v))
        return state

    def load_state_dict(self, state):
        n = sum(k.startswith("m.") for k in state)
        if n != len(self.params):
            raise ValueError(f"Adam state holds {n} parameters, the optimizer has {len(self.params)}")
        self.t = int(state["t"])
        for i, p in enumerate(self.params):
            xp = array_module(p.data)
            for buf, key in ((self.m[i], f"m.{i}"), (self.v[i], f"v.{i}")):
                if tuple(state[key].shape) != tuple(buf.shape):
                    raise ValueError(f"Adam state {key}: expected shape {tuple(buf.shape)}, "
                                     f"got {tuple(state[key].shape)}")
                buf[...] = to_device(state[key], xp)
