"""The math: layers with hand-written backward passes, the losses, Adam.

Read in this order: module (the layer contract: forward caches, backward returns dL/dx and
adds into the parameters' .grad), init, dense, activations, loss, adam, then reshape,
dropout, conv (then conv_rows, its products, and conv_reference, the plain loops it is
tested against), batchnorm (and sums, its per-channel sums as products), minibatch, ema,
spectral_norm; softmax is the classifier's loss.
"""
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .adam import Adam
from .batchnorm import BatchNorm
from .conv import Conv2d, ConvTranspose2d
from .dense import Dense
from .dropout import Dropout
from .ema import EMA
from .loss import BCEWithLogits
from .minibatch import MinibatchDiscrimination
from .module import Module, Parameter, Sequential
from .reshape import Flatten, Reshape
from .softmax import SoftmaxCrossEntropy
from .loss import Hinge
from .spectral_norm import SpectralNorm

__all__ = ["Adam", "BCEWithLogits", "BatchNorm", "Conv2d", "ConvTranspose2d", "Dense", "Dropout", "EMA", "Flatten",
           "LeakyReLU", "MinibatchDiscrimination", "Module", "Parameter", "ReLU", "Reshape", "Sequential", "Sigmoid",
           "SoftmaxCrossEntropy", "Tanh",
           "Hinge", "SpectralNorm"]
