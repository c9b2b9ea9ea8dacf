"""nanogan: GANs on MNIST from scratch, with hand-written backprop on NumPy or CuPy.

Read in this order: backend (the NumPy/CuPy switch), module (the layer contract),
dense, activations, dropout, reshape, conv, batchnorm, loss, adam; then minibatch
(minibatch discrimination), softmax, classifier, neighbours and metrics (measuring the
samples), galleries and walks (looking at them).
"""
from .nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from .nn.adam import Adam
from .backend import get_xp, make_rng, to_device, to_host
from .nn.batchnorm import BatchNorm
from .nn.conv import Conv2d, ConvTranspose2d
from .nn.dense import Dense
from .nn.dropout import Dropout
from .errors import NanoganError
from .nn.loss import BCEWithLogits
from .nn.minibatch import MinibatchDiscrimination
from .nn.module import Module, Parameter, Sequential
from .nn.reshape import Flatten, Reshape
from .nn.softmax import SoftmaxCrossEntropy

__all__ = ["Adam", "BCEWithLogits", "BatchNorm", "Conv2d", "ConvTranspose2d", "Dense", "Dropout",
           "Flatten", "LeakyReLU", "MinibatchDiscrimination", "Module", "NanoganError", "Parameter", "ReLU", "Reshape",
           "Sequential", "Sigmoid", "SoftmaxCrossEntropy", "Tanh", "get_xp", "make_rng", "to_device", "to_host"]
