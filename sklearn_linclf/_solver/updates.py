"""Update rules: how a gradient becomes a change of the parameters."""

import numpy as np


class MomentumUpdate:
    """Gradient step with optional heavy-ball or Nesterov momentum.

    With velocity ``v``: ``v <- mu v - eta g``; then ``p <- p + v`` (heavy
    ball) or ``p <- p + mu v - eta g`` (Nesterov, in the form used by
    scikit-learn's MLP). ``momentum=0`` is plain gradient descent.
    """

    def __init__(self, momentum=0.9, nesterov=True):
        self.momentum = momentum
        self.nesterov = nesterov

    def apply(self, params, grad, velocity, lr):
        """Update ``params`` (and ``velocity``) in place; ``grad`` is consumed."""
        grad *= lr
        if velocity is None:
            params -= grad
            return
        mu = self.momentum
        velocity *= mu
        velocity -= grad
        if self.nesterov:
            params += mu * velocity
            params -= grad
        else:
            params += velocity

    def affine_form(self, lr, alpha):
        """``apply`` with the gradient ``g + 2 alpha p``, as an affine map.

        Returns ``(A, c)`` such that the update is
        ``(p, v) <- A (p, v) - lr * c g``: ``A`` of shape (2, 2) acts on the
        stacked coefficient and velocity (shape (1, 1), on ``p`` alone, without
        momentum) and ``c`` has one entry per row of ``A``. With ``g = 0``
        this is the update of a coefficient whose feature is absent from the
        minibatch.
        """
        A, c = self.affine_forms(np.array([lr], dtype=float), alpha)
        return A[0], c

    def affine_forms(self, lrs, alpha):
        """:meth:`affine_form` for every step size of ``lrs`` at once.

        Returns ``A`` of shape ``(len(lrs), dim, dim)`` and ``c`` (the same
        for every step).
        """
        d = 2 * np.asarray(lrs, dtype=float) * alpha
        mu = self.momentum
        if mu == 0:
            return (1 - d)[:, None, None], np.array([1.0])
        A = np.empty((d.size, 2, 2))
        A[:, 1, 0] = -d
        A[:, 1, 1] = mu
        if self.nesterov:
            A[:, 0, 0] = 1 - d * (1 + mu)
            A[:, 0, 1] = mu * mu
            return A, np.array([1 + mu, 1.0])
        A[:, 0, 0] = 1 - d
        A[:, 0, 1] = mu
        return A, np.array([1.0, 1.0])
