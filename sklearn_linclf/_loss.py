"""Multiclass losses in score space.

Conventions
-----------
A loss sees only the scores (the "raw prediction") and the labels, never ``X``
or the coefficients; :mod:`sklearn_linclf._objective` lifts it to ``(W, b)``.

- ``y`` : int array of shape (n_samples,), class *indices* in ``[0, n_classes)``.
- ``raw`` : float array of shape (n_samples, n_classes), ``raw[i] = W @ x_i + b``.
- ``sample_weight`` : None or float array of shape (n_samples,).

``loss_gradient`` returns the per-sample loss ``L_i`` of shape (n_samples,) and
its gradient ``dL_i/ds_i`` of shape (n_samples, n_classes), both multiplied by
``sample_weight`` when it is given. Neither input is modified. The output dtype
follows ``raw`` so that float32 stays float32.
"""

import numpy as np


def _check_shapes(y, raw):
    if raw.ndim != 2 or y.shape != (raw.shape[0],):
        raise ValueError(
            f"raw must be 2-D and y of shape (n_samples,); got raw of shape "
            f"{raw.shape} and y of shape {y.shape}."
        )


class WestonWatkinsHinge:
    """Weston–Watkins multiclass hinge ("sum of hinges", CS231n).

    ``L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + delta)``

    With ``m_j = 1[s_j - s_{y_i} + delta > 0]`` for ``j != y_i`` the (sub)gradient
    is ``m_k`` for ``k != y_i`` and ``-sum_{j != y_i} m_j`` for ``k = y_i``. At a
    kink (margin exactly 0) the strict inequality picks the subgradient 0.

    Parameters
    ----------
    delta : float, default=1.0
        The margin, strictly positive.
    """

    def __init__(self, delta=1.0):
        self.delta = delta

    def default_steps(self, curvature, alpha):
        """Initial steps of ``W`` and ``b`` for ``learning_rate_init="auto"``.

        ``curvature`` is the :class:`~sklearn_linclf._solver.Curvature` of the
        minibatch Gram matrices. The hinge is piecewise linear: it has no
        curvature to bound, so the step is set by scale instead. A step ``eta``
        moves the scores of a batch by about ``eta * lambda * |G|``, with
        ``lambda`` the largest eigenvalue of the batch's Gram matrix and
        ``|G|`` of order 1; ``eta = delta / lambda`` makes one step move a
        margin by about ``delta``, the distance between "violated" and
        "satisfied" — the softmax's rule with ``1 / delta`` as the loss's
        curvature. The penalty's curvature ``2 alpha`` bounds it too (a larger
        step makes the shrinkage ``1 - 2 alpha eta`` overshoot). Both keep the
        path for ``(delta, alpha)`` exactly ``delta`` times the path for
        ``(1, alpha * delta)``.
        """
        return curvature.steps(1.0 / self.delta, alpha)

    def loss_gradient(self, y, raw, sample_weight=None):
        _check_shapes(y, raw)
        rows = np.arange(raw.shape[0])
        with np.errstate(over="ignore"):  # near float max: inf is correct
            margins = raw - raw[rows, y][:, None]
        margins += self.delta
        # The true class contributes delta to `margins`, not a hinge: mask it.
        margins[rows, y] = 0
        active = margins > 0
        loss = np.maximum(margins, 0, out=margins).sum(axis=1)
        grad = active.astype(raw.dtype)
        grad[rows, y] = -grad.sum(axis=1)
        if sample_weight is not None:
            loss *= sample_weight
            grad *= sample_weight[:, None]
        return loss, grad


class SoftmaxCrossEntropy:
    """Multinomial logistic loss (softmax cross-entropy).

    ``L_i = -s_{y_i} + log sum_j exp(s_j)``, evaluated after subtracting the row
    maximum so that no ``exp`` overflows; the gradient is ``p - onehot(y_i)``
    with ``p = softmax(s_i)``.
    """

    def default_steps(self, curvature, alpha):
        """Initial steps of ``W`` and ``b`` for ``learning_rate_init="auto"``.

        The Hessian of the softmax cross-entropy with respect to the scores,
        ``diag(p) - p p^T``, has eigenvalues at most ½, so the curvature of a
        minibatch's mean loss along ``W`` is at most ``lambda / 2``, with
        ``lambda`` the largest eigenvalue of the batch's Gram matrix
        (``curvature.coef``), plus ``2 alpha`` from the penalty; along ``b`` at
        most ½. Each step is the inverse of its bound (see
        :meth:`~sklearn_linclf._solver.Curvature.steps`).
        """
        return curvature.steps(0.5, alpha)

    def loss_gradient(self, y, raw, sample_weight=None):
        _check_shapes(y, raw)
        rows = np.arange(raw.shape[0])
        with np.errstate(over="ignore"):  # near float max: -inf is correct
            shifted = raw - raw.max(axis=1, keepdims=True)
        proba = np.exp(shifted)
        sum_exp = proba.sum(axis=1)
        loss = np.log(sum_exp) - shifted[rows, y]
        proba /= sum_exp[:, None]
        proba[rows, y] -= 1
        grad = proba
        if sample_weight is not None:
            loss *= sample_weight
            grad *= sample_weight[:, None]
        return loss, grad


def softmax(raw):
    """Row-wise softmax of a 2-D score array, stable for large scores."""
    with np.errstate(over="ignore"):
        proba = raw - raw.max(axis=1, keepdims=True)
    np.exp(proba, out=proba)
    proba /= proba.sum(axis=1, keepdims=True)
    return proba


def log_softmax(raw):
    """Row-wise log-softmax of a 2-D score array (log-sum-exp, no overflow)."""
    with np.errstate(over="ignore"):
        shifted = raw - raw.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
