"""The GAN: two networks, their optimizers and the loss, and one alternating training step.

    gan = GAN(recipe("dcgan"), make_rng(0), numpy)
    stats = gan.step(x_real, rng)       # D learns to tell real from fake, then G to fool D
    images = gan.sample(gan.noise(64, rng))

train.py runs the steps; this file is the step itself.
"""
import numpy as np

from .. import nn
from ..backend import array_module, to_device, to_host
from .models import build_networks
from .recipe import Config


class GAN:
    """The two networks, their optimizers and the loss, on one device."""

    def __init__(self, config, rng, xp):
        """config: a Config (gan/recipe.py); rng: the host generator that draws the weights;
        xp: numpy or cupy, where the networks live."""
        c = self.config = config
        if c.loss == "hinge" and c.real_label != 1.0:   # the hinge's margin is its label: 0.9 would shrink it
            raise ValueError(f"the hinge loss has no label smoothing: real_label must be 1.0, not {c.real_label}")
        self.G, self.D = build_networks(c, rng)
        self.G.to(xp), self.D.to(xp)
        betas = (c.beta1, c.beta2)
        # lr_d: two time-scale updates (Heusel et al. 2017), D's learning rate apart from G's
        self.opt_G = nn.Adam(self.G.parameters(), c.lr, betas)
        self.opt_D = nn.Adam(self.D.parameters(), c.lr if c.lr_d is None else c.lr_d, betas)
        self.base_lrs = (self.opt_G.lr, self.opt_D.lr)
        # ema > 0: samples come from a moving average of G's weights (nn/ema.py)
        self.ema = nn.EMA(self.G, c.ema, flat=self.opt_G.data) if c.ema else None
        # D's loss and G's: the BCE for both (G's the non-saturating one), or the hinge pair
        self.loss_D, self.loss_G = (nn.BCEWithLogits(), nn.BCEWithLogits()) if c.loss == "bce" else \
            (nn.Hinge(), nn.Hinge(generator=True))
        self.xp, self.z_dim, self.real_label = xp, c.z_dim, c.real_label
        self.conditional = c.arch == "cgan"
        self.codes, self.code_scale = c.codes, c.code_scale   # G's one-hot code, read off z (with_code)
        # D judges real and fake images in one pass of 2B unless one of its layers would mix them
        self.joined = not self.D.mixes_samples()
        # D's dropout layers and the width of what each sees: that of the last Dense before it
        # (a spectrally normalised Dense is the .layer of a SpectralNorm)
        dense = lambda l: l.layer if isinstance(l, nn.SpectralNorm) else l  # noqa: E731
        self.dropouts = [(layer, next(dense(l).out_features for l in reversed(self.D.layers[:i])
                                      if isinstance(dense(l), nn.Dense)))
                         for i, layer in enumerate(self.D.layers) if isinstance(layer, nn.Dropout) and layer.p > 0]

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
        h = 1.0 if self.config.lr_hold is None or epoch <= self.config.lr_hold else \
            (epochs - epoch + 1) / (epochs - self.config.lr_hold + 1)
        for opt, lr in zip((self.opt_G, self.opt_D), self.base_lrs):
            opt.lr = lr * self.config.lr_decay ** (epoch - 1) * h

    def noise(self, n, rng, truncation=None):
        """z ~ N(0, I), (n, z_dim) float32, drawn on the host from the run's generator.

        With truncation t, every entry beyond +-t is drawn again until none is (the truncation
        trick, Brock et al. 2019), for samples only, never in training: G's more typical
        images, fewer of its rare ones. Precision rises and recall falls as t shrinks
        (docs/recipes.md measures it); each redraw keeps the entries uniform in code
        (with_code), since it treats every entry alike."""
        z = rng.standard_normal((n, self.z_dim), dtype=np.float32)                # (n, z_dim)
        if truncation is not None:
            while (far := np.abs(z) > truncation).any():
                z[far] = rng.standard_normal(int(far.sum()), dtype=np.float32)
        return to_device(z, self.xp)

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
        """G's images for noise z (N, z_dim): G([z, code, digit]), the code where the run has
        one (with_code), the one-hot digit y for the conditional GAN."""
        g_in = with_code(z, self.codes, self.code_scale) if self.codes else z   # (N, z_dim [+ codes])
        return (self.G if G is None else G).forward(self._join(g_in, y) if self.conditional else g_in)  # (N, 1, 28, 28)

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
        With config.loss "hinge" (nn/loss.py: Hinge) D minimises mean relu(1 - D(x)) +
        mean relu(1 + D(G(z))) and G minimises -mean D(G(z)); the step is otherwise the same.

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
        loss_G = self.loss_G(logit_gen, ones)
        self.D.requires_grad_(False)
        self.G.backward(self.d_backward(self.loss_G.backward()))
        self.D.requires_grad_(True)
        self.opt_G.step()
        if self.ema:
            self.ema.update()

        return xp.stack([loss_D, loss_G, p_real.mean(), p_fake.mean(),
                         (logit_real > 0).mean(dtype=np.float32), (logit_fake < 0).mean(dtype=np.float32)])

    def d_pass(self, x, y, targets, n=None):
        """D's forward and backward on the images x (labels y): its logits, its loss (the
        sum over n, by default its mean) and sigmoid(logits), D's probabilities."""
        logits = self.discriminate(x, y)
        loss = self.loss_D(logits, targets, n)
        self.D.backward(self.loss_D.backward())
        # sigmoid(logits), D's probabilities: the BCE leaves them behind; for the hinge, the same formula
        p = self.loss_D.p if isinstance(self.loss_D, nn.BCEWithLogits) else 0.5 * (1 + self.xp.tanh(0.5 * logits))
        return logits, loss, p

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


def with_code(z, codes, scale=1.0):
    """The noise with a code read off it: z (N, z_dim) -> [z, s e_c] (N, z_dim + codes), where
    c = argmax of z's first `codes` entries, e_c is the c-th unit vector and s = `scale`, in
    z's dtype.

    Why a code. G is a continuous function of connected noise, so between a noise that G draws
    as a 1 and one it draws as a 7 lie noises that it draws as shapes between the two. Real
    digits are separate clusters, and those in-between shapes are most of what a classifier
    calls misshapen (Khayatkhoei et al. 2018; Tanielian et al. 2020, the "no GAN's land"). A
    one-hot input lets G jump instead: G's first layer computes [z, s e_c] W = z W_z + s (row c
    of W_e), so each code shifts everything after it by a learned vector of its own, and G may
    give each code its own part of the digits. Nothing tells G what a code means (InfoGAN,
    Chen et al. 2016, adds a loss that ties codes to what D can recover; it did worse here,
    docs/recipes.md).

    Why a scale. With W ~ N(0, 0.02^2) at the start, a unit of z W_z has the spread
    0.02 sqrt(z_dim) (0.2 for 100 entries) and a unit of the code's shift 0.02 s. At s = 1 the
    code moves G's first layer a tenth as far as the noise does, and Adam grows W_e no faster
    than W_z, so while G settles which digits it draws where, the code is a small voice and G
    shares some codes between two digits, with the in-between shapes back inside those codes.
    With s near sqrt(z_dim) each code starts G off in a region of its own from the first step
    (docs/recipes.md counts the digits each code draws, and scores s = 1, 5 and 10).

    The code is a function of the noise, not a second draw, so one noise vector still names
    one image (sampling, grids, walks and scoring need nothing new; a walk from one noise to
    another now jumps where the largest entry changes), and it is uniform: the largest of
    `codes` independent N(0, 1) draws is equally likely to be any of them (a tie, which float32
    noise all but never has, goes to the first). No gradient flows into it: the noise is G's
    input, not something trained."""
    xp = array_module(z)
    rows = xp.eye(codes, dtype=z.dtype) * z.dtype.type(scale)             # (codes, codes): s I
    onehot = rows[z[:, :codes].argmax(axis=1)]                            # (N, codes): row n is s e_{c_n}
    return xp.concatenate([z, onehot], axis=1)


def build_gan(config, rng, xp):
    """The GAN a run's configuration describes (a Config, or its saved dict), weights drawn from rng."""
    return GAN(config if isinstance(config, Config) else Config(**config), rng, xp)
