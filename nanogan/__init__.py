"""nanogan: GANs on MNIST from scratch, with hand-written backprop on NumPy or CuPy.

Read in this order: backend (the NumPy/CuPy switch), module (the layer contract),
dense, activations, dropout, reshape, conv, batchnorm, loss, adam; then minibatch
(minibatch discrimination), softmax, classifier, neighbours and metrics (measuring the
samples), galleries and walks (looking at them).
"""
from .activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .adam import Adam
from .backend import get_xp, make_rng, to_device, to_host
from .batchnorm import BatchNorm
from .conv import Conv2d, ConvTranspose2d
from .dense import Dense
from .dropout import Dropout
from .errors import NanoganError
from .loss import BCEWithLogits
from .minibatch import MinibatchDiscrimination
from .module import Module, Parameter, Sequential
from .reshape import Flatten, Reshape
from .softmax import SoftmaxCrossEntropy

__all__ = ["Adam", "BCEWithLogits", "BatchNorm", "Conv2d", "ConvTranspose2d", "Dense", "Dropout",
           "Flatten", "LeakyReLU", "MinibatchDiscrimination", "Module", "NanoganError", "Parameter", "ReLU", "Reshape",
           "Sequential", "Sigmoid", "SoftmaxCrossEntropy", "Tanh", "get_xp", "make_rng", "to_device", "to_host"]
