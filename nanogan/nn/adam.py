"""Adam (Kingma & Ba 2015, Algorithm 1), on one flat array per network."""
import numpy as np

from ..backend import array_module, to_device, to_host
from .module import flatten


class Adam:
    """For each parameter theta with gradient g, at step t = 1, 2, ...:

        m <- b1 m + (1 - b1) g              first-moment estimate
        v <- b2 v + (1 - b2) g^2            second-moment estimate
        m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t)   bias corrections (m, v start at 0)
        theta <- theta - lr m_hat / (sqrt(v_hat) + eps)

    GANs use betas (0.5, 0.999) (Radford et al. 2016): a shorter memory for the
    mean, because the loss surface moves as the other network trains.

    Every line above is element-wise, so the optimizer first moves all its parameters
    into one flat array (module.flatten, which explains why) and then runs the update
    once on the whole network: 12 array operations a step however many parameters
    there are, instead of 12 per parameter. Create it after the model has been moved
    to its device and dtype (m and v live there too).

    The state (t, m, v) saves and restores exactly (`state_dict`), so a resumed run
    continues bit for bit; it is saved per parameter ("m.0", "v.0", ...), the layout
    checkpoints have always had.
    """

    def __init__(self, params, lr=2e-4, betas=(0.5, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, tuple(betas), eps
        self.t = 0
        self.data, self.grad = flatten(self.params)           # (P,) each: every p.data, p.grad is a view
        xp = array_module(self.data)
        self.m, self.v = xp.zeros_like(self.data), xp.zeros_like(self.data)   # (P,)
        self.sizes = [p.data.size for p in self.params]

    def step(self):
        b1, b2 = self.betas
        self.t += 1
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        xp, g, m, v = array_module(self.data), self.grad, self.m, self.v
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        # lr m_hat / (sqrt(v_hat) + eps) = (lr sqrt(c2) / c1) m / (sqrt(v) + eps sqrt(c2)):
        # the bias corrections folded into two scalars (Kingma & Ba, end of sec. 2), one
        # pass over the parameters fewer
        denom = xp.sqrt(v)
        denom += self.eps * c2 ** 0.5
        self.data -= (self.lr * c2 ** 0.5 / c1) * m / denom

    def zero_grad(self):
        """Zero every parameter's gradient in one fill of the flat array, and mark them
        fresh: the layers' next contribution is then written, not added (module.Parameter).
        So code outside the layers that contributes to a gradient must use p.add(...),
        like them: a plain `p.grad += g` would be overwritten by the next layer's write.
        (On its own, with nothing else adding, `p.grad += g` after zero_grad is fine.)"""
        self.grad.fill(0)
        for p in self.params:
            p.fresh = True

    def _per_parameter(self, flat):
        """`flat` (P,) cut into one array per parameter, shaped like it (views)."""
        out, start = [], 0
        for p, n in zip(self.params, self.sizes):
            out.append(flat[start:start + n].reshape(p.data.shape))
            start += n
        return out

    def state_dict(self):
        """{'t': step count, 'm.i', 'v.i': moment arrays for the i-th parameter} on the host.

        A snapshot: later steps do not change it (to_host returns a NumPy array itself,
        which `step` would update in place, hence the explicit copy).
        """
        state = {"t": np.array(self.t, dtype=np.int64)}
        for i, (m, v) in enumerate(zip(self._per_parameter(self.m), self._per_parameter(self.v))):
            state[f"m.{i}"], state[f"v.{i}"] = np.array(to_host(m)), np.array(to_host(v))
        return state

    def load_state_dict(self, state):
        n = sum(k.startswith("m.") for k in state)
        if n != len(self.params):
            raise ValueError(f"Adam state holds {n} parameters, the optimizer has {len(self.params)}")
        self.t = int(state["t"])
        xp = array_module(self.data)
        for i, (m, v) in enumerate(zip(self._per_parameter(self.m), self._per_parameter(self.v))):
            for buf, key in ((m, f"m.{i}"), (v, f"v.{i}")):
                if tuple(state[key].shape) != tuple(buf.shape):
                    raise ValueError(f"Adam state {key}: expected shape {tuple(buf.shape)}, "
                                     f"got {tuple(state[key].shape)}")
                buf[...] = to_device(state[key], xp)
