"""The two architectures (and the conditional one). G maps noise z (N, z_dim) to images
(N, 1, 28, 28) in [-1, 1]; D maps images to one logit each (N, 1). Both are plain
Sequentials of nanogan.nn layers, built from a Config (gan/recipe.py) by name. The builders'
g_in is the width of G's input: the noise (z_dim) and, where a run has one, its code
(gan/gan.py: with_code).
"""
from .. import nn


def _normalised(d_sn, rng):
    """D's Dense and Conv2d layers as they are, or spectrally normalised (d_sn)."""
    return (lambda layer: nn.SpectralNorm(layer, rng)) if d_sn else (lambda layer: layer)


def build_fc(rng, *, g_in, minibatch, mbd_distance, dropout=None, n_classes=0, d_sn=False):
    """The fully connected GAN (as in Goodfellow et al. 2014's MNIST models, sized as the
    common PyTorch/Keras MNIST GAN examples): LeakyReLU(0.2) hidden layers, tanh output,
    dropout (0.3 unless given) in D so that it does not simply memorise the training digits.
    n_classes > 0 widens both inputs for a one-hot label (the conditional GAN below);
    minibatch=True adds minibatch discrimination before D's last layer (see build_dcgan),
    with mbd_distance "l1" or "l2" between samples (nn/minibatch.py); d_sn=True divides each
    of D's weights by its largest singular value (nn/spectral_norm.py)."""
    p = 0.3 if dropout is None else dropout
    sn = _normalised(d_sn, rng)
    G = nn.Sequential(
        nn.Dense(g_in + n_classes, 256, rng), nn.LeakyReLU(0.2),
        nn.Dense(256, 512, rng), nn.LeakyReLU(0.2),
        nn.Dense(512, 1024, rng), nn.LeakyReLU(0.2),
        nn.Dense(1024, 784, rng), nn.Tanh(),
        nn.Reshape(1, 28, 28))                                        # (N, 1, 28, 28)
    D = nn.Sequential(
        nn.Flatten(),                                                 # (N, 784 + n_classes)
        sn(nn.Dense(784 + n_classes, 1024, rng)), nn.LeakyReLU(0.2), nn.Dropout(p, rng),
        sn(nn.Dense(1024, 512, rng)), nn.LeakyReLU(0.2), nn.Dropout(p, rng),
        sn(nn.Dense(512, 256, rng)), nn.LeakyReLU(0.2), nn.Dropout(p, rng))  # (N, 256)
    if minibatch:
        D.layers.append(nn.MinibatchDiscrimination(256, 50, 5, rng, distance=mbd_distance))  # (N, 256 + 50)
    D.layers.append(sn(nn.Dense(256 + 50 * minibatch, 1, rng)))        # (N, 1) logits
    return G, D


def build_dcgan(rng, *, g_in, minibatch, mbd_distance, width, d_width=None, d_norm="batch", d_sn=False):
    """DCGAN (Radford et al. 2016) at MNIST's native 28x28: G upsamples 7 -> 14 -> 28 with
    stride-2 transposed convolutions, BatchNorm and ReLU; D downsamples 28 -> 14 -> 7 with
    stride-2 convolutions, BatchNorm (not on D's input layer, as in the paper) and
    LeakyReLU(0.2), no pooling; weights N(0, 0.02) throughout. A D with BatchNorm always sees
    a batch that is all real or all fake (GAN.step), so its statistics never mix the two.
    (A D with dropout 0.3 in place of BatchNorm stayed near chance, D(x) 0.53 and D(G(z))
    0.47 after 3 epochs, and its G drew blobs; with BatchNorm D leads as DCGAN's does.)
    width w sets the channels: G 2w (7x7) -> w (14x14) -> 1, D 1 -> v (14x14) -> 2v (7x7)
    with v = d_width, or w if None; the paper's 64 gives 128 and 64. d_norm "none" leaves
    D's BatchNorm out.
    minibatch=True appends minibatch discrimination (Salimans et al. 2016) to D's features:
    50 closeness statistics per sample, each saying how near it is to the rest of its batch,
    which lets D notice a generator that has collapsed onto a few digits.
    d_sn=True: D's convolutions and dense layer spectrally normalised (Miyato et al. 2018)."""
    w = width
    G = nn.Sequential(
        nn.Dense(g_in, 2 * w * 7 * 7, rng, init="dcgan"), nn.BatchNorm(2 * w * 7 * 7), nn.ReLU(),
        nn.Reshape(2 * w, 7, 7),                                      # (N, 2w, 7, 7)
        nn.ConvTranspose2d(2 * w, w, 4, rng, stride=2, padding=1),    # (N, w, 14, 14)
        nn.BatchNorm(w), nn.ReLU(),
        nn.ConvTranspose2d(w, 1, 4, rng, stride=2, padding=1),        # (N, 1, 28, 28)
        nn.Tanh())
    v = d_width or width
    sn = _normalised(d_sn, rng)
    D = nn.Sequential(
        sn(nn.Conv2d(1, v, 4, rng, stride=2, padding=1)),             # (N, v, 14, 14)
        nn.LeakyReLU(0.2),
        sn(nn.Conv2d(v, 2 * v, 4, rng, stride=2, padding=1)),         # (N, 2v, 7, 7)
        *([nn.BatchNorm(2 * v)] if d_norm == "batch" else []), nn.LeakyReLU(0.2),
        nn.Flatten())                                                 # (N, 2v * 49)
    if minibatch:
        D.layers.append(nn.MinibatchDiscrimination(2 * v * 7 * 7, 50, 5, rng, distance=mbd_distance))
    D.layers.append(sn(nn.Dense(2 * v * 7 * 7 + 50 * minibatch, 1, rng, init="dcgan")))  # (N, 1) logits
    return G, D


def build_cgan(rng, *, g_in, minibatch, mbd_distance, dropout=None, d_sn=False):
    """A class-conditional GAN (Mirza & Osindero 2014): the FC GAN with a one-hot digit
    label (10 values) joined to G's noise and to D's flattened image, so that G learns
    p(x | digit) and D judges whether an image is a real example *of that digit*.
    GAN.step does the joining; here only the input widths grow by 10."""
    return build_fc(rng, g_in=g_in, minibatch=minibatch, mbd_distance=mbd_distance, dropout=dropout, n_classes=10,
                    d_sn=d_sn)


ARCHS = {"fc": build_fc, "dcgan": build_dcgan, "cgan": build_cgan}


def build_networks(config, rng):
    """(G, D) of config.arch, weights drawn from rng (on the host)."""
    c = config
    common = dict(g_in=c.z_dim + c.codes, minibatch=c.minibatch, mbd_distance=c.mbd_distance, d_sn=c.d_sn)
    if c.arch == "dcgan":
        return build_dcgan(rng, **common, width=c.width, d_width=c.d_width, d_norm=c.d_norm or "batch")
    return ARCHS[c.arch](rng, **common, dropout=c.dropout)
