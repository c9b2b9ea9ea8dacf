"""nanogan: GANs on MNIST from scratch, with hand-written backprop on NumPy or CuPy.

The package, from the bottom up (each folder imports only those above it in this list):

    backend.py   the array-module switch: NumPy on the CPU, CuPy on CUDA
    errors.py    NanoganError, the one exception the user sees (as one `error:` line)
    files.py     atomic writes and reads that trust nothing they read
    nn/          the math: layers with their backward passes, the losses, Adam
    data/        MNIST and Fashion-MNIST: IDX files, checks, shuffled batches
    gan/         the recipe (a typed Config), the two architectures, the alternating step
    eval/        measuring the samples: the classifier, Fréchet distance, precision and
                 recall, copies of training digits, pictures and plots
    run/         a training run's life: command lines, checks, the run directory,
                 checkpoints, resume and Ctrl-C

Read in this order: backend, nn/module (the layer contract), nn/dense, nn/activations,
nn/loss, nn/adam, nn/conv, nn/batchnorm, nn/minibatch, gan/recipe, gan/models, gan/gan,
then ../train.py; data/, eval/ and run/ when you need them.
"""
from .backend import get_xp, make_rng, to_device, to_host
from .errors import NanoganError
from .nn import (Adam, BatchNorm, BCEWithLogits, Conv2d, ConvTranspose2d, Dense, Dropout, Flatten, LeakyReLU,
                 MinibatchDiscrimination, Module, Parameter, ReLU, Reshape, Sequential, Sigmoid, SoftmaxCrossEntropy,
                 Tanh)

__all__ = ["Adam", "BCEWithLogits", "BatchNorm", "Conv2d", "ConvTranspose2d", "Dense", "Dropout",
           "Flatten", "LeakyReLU", "MinibatchDiscrimination", "Module", "NanoganError", "Parameter", "ReLU", "Reshape",
           "Sequential", "Sigmoid", "SoftmaxCrossEntropy", "Tanh", "get_xp", "make_rng", "to_device", "to_host"]
