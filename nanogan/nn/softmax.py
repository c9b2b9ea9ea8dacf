"""Softmax cross-entropy on logits, the loss of the MNIST classifier (nanogan.eval.classifier)."""
import numpy as np

from ..backend import array_module


def log_softmax(z):
    """log softmax(z) along the last axis, computed as z - m - log sum_k e^{z_k - m}, m = max_k z_k.

    Subtracting the row maximum changes nothing mathematically (it cancels between
    numerator and denominator) but keeps every exponent <= 0, so e^{...} never
    overflows, and the largest term is e^0 = 1, so the log never sees 0.
    """
    xp = array_module(z)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(z):
    """Class probabilities p_k = e^{z_k} / sum_j e^{z_j} along the last axis, overflow-free."""
    return array_module(z).exp(log_softmax(z))


class SoftmaxCrossEntropy:
    """Mean negative log-likelihood of integer labels under softmax(logits).

    For logits z of shape (N, K) and labels y_n in {0, ..., K-1}, with p = softmax(z_n):
        L = -(1/N) sum_n log p_{n, y_n} = -(1/N) sum_n (z_{n, y_n} - log sum_k e^{z_{n,k}})
    Differentiating one example's term with respect to its logit z_{n,k}:
        d/dz_k [-z_y + log sum_j e^{z_j}] = -[k = y] + e^{z_k} / sum_j e^{z_j} = p_k - [k = y]
    so
        dL/dz = (softmax(z) - onehot(y)) / N      (N, K)
    Each row of the gradient sums to zero: adding a constant to all logits of an
    example changes neither p nor the loss.
    """

    def forward(self, logits, labels):
        """Loss as a 0-d array on the logits' device; labels are integers of shape (N,)."""
        xp = array_module(logits)
        if logits.ndim != 2 or labels.shape != logits.shape[:1]:
            raise ValueError(f"SoftmaxCrossEntropy: expected logits (N, K) and labels (N,), "
                             f"got {tuple(logits.shape)} and {tuple(labels.shape)}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"SoftmaxCrossEntropy: labels must be integers, got {labels.dtype}")
        self.logp = log_softmax(logits)                             # (N, K)
        self.labels = labels
        rows = xp.arange(len(labels))
        return -self.logp[rows, labels].mean()

    __call__ = forward

    def backward(self):
        xp = array_module(self.logp)
        N = len(self.labels)
        grad = xp.exp(self.logp)                                    # softmax, (N, K)
        grad[xp.arange(N), self.labels] -= 1                        # - onehot(y); each index once
        return grad / grad.dtype.type(N)                            # keeps float32 float32
