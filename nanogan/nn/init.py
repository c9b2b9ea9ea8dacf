"""Weight initialisations used by GANs, drawn from the run's host generator.

- 'dcgan':  W ~ N(0, 0.02^2), the DCGAN paper's choice (Radford et al. 2016, sec. 4).
- 'glorot': W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010),
            keeps activation variance roughly constant forward and backward.
- 'he':     W ~ N(0, 2 / fan_in) (He et al. 2015), the same idea for ReLU layers.

Biases start at zero. Every array is created on the host in the requested dtype;
`Module.to(xp)` moves it to the device.
"""
import numpy as np

INITS = ("dcgan", "glorot", "he")


def init_weight(shape, fan_in, fan_out, rng, scheme, dtype):
    """An array of `shape` and `dtype` drawn with `scheme` (one of INITS)."""
    if scheme == "dcgan":
        w = rng.normal(0.0, 0.02, size=shape)
    elif scheme == "glorot":
        a = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-a, a, size=shape)
    elif scheme == "he":
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    else:
        raise ValueError(f"unknown init {scheme!r}; choose one of {INITS}")
    return w.astype(dtype)  # drawn in float64, rounded once
