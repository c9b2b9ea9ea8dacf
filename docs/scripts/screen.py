"""Screen a change to the DCGAN recipe without adding it to nanogan: train with it, then
score the final checkpoint on five draws of 10,000 samples. Run from the repository's root:

    OPENBLAS_NUM_THREADS=1 python docs/scripts/screen.py VARIANT OUT [train.py options]

VARIANT is one of (options after commas):
    lastfree            D's last Dense layer not spectrally normalised
    topk[,gamma=G,nu=V] G learns from its k best-judged fakes only (Sinha et al. 2020):
                        k = max(V, G**(epoch - 1)) of the batch (default G 0.9, V 0.5)
    info[,k=K,q=0|1,lam=L,wide=0|1]
                        a K-way one-hot code read off the noise (argmax of z[:K]) joined
                        to G's input; with q=1 (default) D's last layer has K more logits
                        that must recover the code, a softmax cross-entropy of weight L on
                        the fakes, for D and for G alike (InfoGAN, Chen et al. 2016); q=0
                        and wide=1: those K logits are there but nothing trains them
    modeseek[,lam=L]    G's loss also has L / (r + 1e-5), r the mean |G(z_a) - G(z_b)| over
                        the mean |z_a - z_b|, the batch's first half against its second
                        (mode seeking, Mao et al. 2019; default L 1)
The rows of docs/recipes.md ("A code read off the noise") were made with `--codes 0`
(what the recipe was then), e.g.
    OPENBLAS_NUM_THREADS=1 python docs/scripts/screen.py info,q=0,k=10 /tmp/scr/code10-s0 --codes 0 --seed 0
A session's tool, not part of the package: it replaces functions of nanogan.gan by others.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository
import evaluate  # noqa: E402
import nanogan.gan.gan as gan_module  # noqa: E402
import nanogan.gan.models as models  # noqa: E402
import train  # noqa: E402
from nanogan import nn  # noqa: E402
from nanogan.command import main  # noqa: E402
from nanogan.nn.softmax import SoftmaxCrossEntropy  # noqa: E402

variant, out, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
kind, opts = variant.split(",")[0], dict(kv.split("=") for kv in variant.split(",")[1:])
build_dcgan = models.build_dcgan


def use_builder(build):
    models.build_dcgan = models.ARCHS["dcgan"] = build


if kind == "lastfree":
    def build(rng, **kw):
        G, D = build_dcgan(rng, **kw)
        D.layers[-1] = D.layers[-1].layer            # the Dense inside its SpectralNorm
        return G, D
    use_builder(build)

elif kind == "topk":
    gamma, nu = float(opts.get("gamma", 0.9)), float(opts.get("nu", 0.5))
    start_epoch, d_backward = gan_module.GAN.start_epoch, gan_module.GAN.d_backward

    def start(self, epoch, epochs):
        self.top = max(nu, gamma ** (epoch - 1))
        return start_epoch(self, epoch, epochs)

    def top_k(self, dlogits):                        # called by GAN.step for G's update only
        B = len(dlogits)
        k = max(1, round(getattr(self, "top", 1.0) * B))
        if k < B:                                    # mean over the k fakes D likes best
            keep = np.zeros((B, 1), dtype=np.float32)
            keep[np.argsort(-self.loss_G.p.ravel(), kind="stable")[:k]] = B / k
            dlogits = dlogits * keep
        return d_backward(self, dlogits)
    gan_module.GAN.start_epoch, gan_module.GAN.d_backward = start, top_k

elif kind == "info":
    K, lam, q = int(opts.get("k", 10)), float(opts.get("lam", 1.0)), opts.get("q", "1") == "1"
    wide = opts.get("wide", "0") == "1"              # q=0 with D's last layer 1 + K wide all the same

    def build(rng, **kw):
        G, D = build_dcgan(rng, **{**kw, "g_in": kw["g_in"] + K})
        if q or wide:                                # 1 + K logits: real/fake, then the code's
            D.layers[-1] = nn.SpectralNorm(nn.Dense(D.layers[-1].layer.in_features, 1 + K, rng, init="dcgan"), rng)
        return G, D
    use_builder(build)

    class InfoGAN(gan_module.GAN):
        ce = SoftmaxCrossEntropy()

        def code(self, z):
            return z[:, :K].argmax(axis=1)

        def generate(self, z, y=None, G=None):           # the recipe's own code, K values
            return (self.G if G is None else G).forward(gan_module.with_code(z, K))

        def discriminate(self, x, y=None):
            return self.D.forward(x)[:, :1]

        def judged(self, x, loss, targets, code):
            """D's logit, loss and sigmoid on x, and the gradient of all of D's outputs."""
            out = self.D.forward(x)                      # (N, 1) or (N, 1 + K)
            value = loss(out[:, :1], targets)
            grad = np.zeros_like(out)
            grad[:, :1] = loss.backward()
            if q and code is not None:
                self.ce(out[:, 1:], code)
                grad[:, 1:] = lam * self.ce.backward()
            return out[:, :1], value, loss.p, grad

        def step(self, x_real, rng, y_real=None):    # GAN.step's two-pass branch, with the code
            B = len(x_real)
            targets_D, ones = self.targets(B)
            z = self.randomness(B, rng)[0]
            code, fake = self.code(z), self.generate(z)
            self.opt_D.zero_grad()
            logit_real, loss_real, p_real, grad = self.judged(x_real, self.loss_D, targets_D[:B], None)
            self.D.backward(grad)
            logit_fake, loss_fake, p_fake, grad = self.judged(fake, self.loss_D, targets_D[B:], code)
            self.D.backward(grad)
            self.opt_D.step()
            self.opt_G.zero_grad()
            _, loss_G, _, grad = self.judged(fake, self.loss_G, ones, code)
            self.D.requires_grad_(False)
            self.G.backward(self.D.backward(grad, input_grad=True))
            self.D.requires_grad_(True)
            self.opt_G.step()
            if self.ema:
                self.ema.update()
            return np.stack([loss_real + loss_fake, loss_G, p_real.mean(), p_fake.mean(),
                             (logit_real > 0).mean(dtype=np.float32), (logit_fake < 0).mean(dtype=np.float32)])
    gan_module.GAN = train.GAN = InfoGAN              # what train.py and evaluate.py build

elif kind == "modeseek":
    lam = float(opts.get("lam", 1.0))
    generate, d_backward = gan_module.GAN.generate, gan_module.GAN.d_backward

    def remember(self, z, y=None, G=None):
        out = generate(self, z, y, G)
        if G is None:                                # training's G, not the average's samples
            self.last = (out, z)
        return out

    def seek(self, dlogits):                         # called by GAN.step for G's update only
        """dL/dx from D plus that of L = lam / (r + eps), r = d_x / d_z over P pairs (a_i, b_i):
        d_x = mean |a - b| over P D entries, d_z likewise on the noise (a constant: z is not
        trained), so dL/da = -lam / (r + eps)^2 sign(a - b) / (P D d_z) = -dL/db."""
        x, z = self.last                             # (B, 1, 28, 28), (B, z_dim)
        P = len(x) // 2
        a, b = x[:P].reshape(P, -1), x[P:2 * P].reshape(P, -1)               # (P, D) each
        d_z = np.abs(z[:P] - z[P:2 * P]).mean(dtype=np.float32)
        r = np.abs(a - b).mean() / d_z
        push = np.float32(-lam / (r + 1e-5) ** 2 / (a.size * d_z)) * np.sign(a - b)   # (P, D) dL/da
        grad = np.concatenate([push, -push, np.zeros((len(x) - 2 * P, a.shape[1]), np.float32)])
        return d_backward(self, dlogits) + grad.reshape(x.shape)
    gan_module.GAN.generate, gan_module.GAN.d_backward = remember, seek

else:
    sys.exit(f"unknown variant {kind!r}")

code = main(train.train, ["--arch", "dcgan", "--out", out, "--no-progress", "--eval-every", "5", *rest])
if code:
    sys.exit(code)
draws = []
for seed in range(5):
    main(evaluate.run, [f"{out}/checkpoint.npz", "--seed", str(seed), "--copy-check", "0", "--json", f"{out}/eval{seed}.json"])
    with open(f"{out}/eval{seed}.json") as f:
        draws.append(json.load(f))
mean = {k: round(float(np.mean([d[k] for d in draws])), 4) for k in ("frechet", "precision", "recall")}
print(variant, *rest, json.dumps(mean), "Fréchet distance by draw:", [round(d["frechet"], 2) for d in draws])
