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

    piecewise_linear = True
    kind = "hinge"  # the compiled kernels' name for this loss

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


class SmoothedHinge:
    """Weston–Watkins hinge with every ``max(0, z)`` smoothed, for full batches.

    ``L_i = sum_{j != y_i} h(s_j - s_{y_i} + delta)`` with the Huber-type
    function of width ``mu = smoothing``::

        h(z) = 0                        z <= -mu/2
             = (z + mu/2)^2 / (2 mu)    |z| < mu/2
             = z                        z >= mu/2

    It is ``max_{u in [0, 1]} (u q - mu u^2 / 2)`` with ``q = z + mu/2``
    (Nesterov's smoothing of ``max(0, z)``, shifted to be symmetric about the
    kink), convex with a derivative ``u = clip(q / mu, 0, 1)`` that is
    ``1/mu``-Lipschitz, and::

        0 <= h(z) - max(0, z) <= mu / 8

    so each sample's loss, and the objective (the data term is a weighted
    mean), lies between the true hinge's and ``(n_classes - 1) * mu / 8``
    above it (:meth:`max_excess`). Outside ``|z| < mu/2`` it *is* the hinge.
    The same interface as the losses of :mod:`sklearn_linclf._loss`.

    Parameters
    ----------
    delta : float, default=1.0
        The margin, strictly positive.
    smoothing : float, default=1.0
        The width ``mu`` of the smoothed region, strictly positive; as ``mu``
        goes to 0 the loss tends to the Weston–Watkins hinge.
    """

    def __init__(self, delta=1.0, smoothing=1.0):
        self.delta = delta
        self.smoothing = smoothing

    def max_excess(self, n_classes):
        """Largest amount by which the smoothed objective exceeds the true one."""
        return (n_classes - 1) * self.smoothing / 8

    def default_steps(self, curvature, alpha):
        """Initial steps of ``W`` and ``b``, as the losses of :mod:`._loss` give.

        ``curvature`` is a :class:`~sklearn_linclf._solver.Curvature`. The
        smoothed hinge's curvature in score space is ``1 / mu`` per margin
        inside its band (the Hessian of ``L_i`` is at most ``n_classes / mu``
        when all are); taking ``1 / mu`` is the hinge's own rule (``1 /
        delta``) at ``mu = delta``. A backtracking solver shrinks or grows the
        step from there, so only its order of magnitude matters.
        """
        return curvature.steps(1.0 / self.smoothing, alpha)

    def loss_gradient(self, y, raw, sample_weight=None):
        _check_shapes(y, raw)
        mu = float(self.smoothing)
        rows = np.arange(raw.shape[0])
        with np.errstate(over="ignore"):  # near float max: inf is correct
            q = raw - raw[rows, y][:, None]
        q += self.delta + 0.5 * mu
        # The true class is no hinge: q = 0 gives u = 0 and no loss.
        q[rows, y] = 0
        # Below the band h = 0: q clipped to 0 gives it (and no inf * 0).
        np.maximum(q, 0, out=q)
        u = np.minimum(q, mu)
        u *= 1 / mu
        # h = u q - mu u^2 / 2 = u (q - mu u / 2), in place in q.
        q -= (0.5 * mu) * u
        q *= u
        loss = q.sum(axis=1)
        grad = u
        grad[rows, y] = -grad.sum(axis=1)
        if sample_weight is not None:
            loss *= sample_weight
            grad *= sample_weight[:, None]
        return loss, grad


class SoftmaxCrossEntropy:
    """Multinomial logistic loss (softmax cross-entropy).

    Smooth: its Hessian in score space is bounded (see :meth:`default_steps`).

    ``L_i = -s_{y_i} + log sum_j exp(s_j)``, evaluated after subtracting the row
    maximum so that no ``exp`` overflows; the gradient is ``p - onehot(y_i)``
    with ``p = softmax(s_i)``.
    """

    piecewise_linear = False
    kind = "softmax"  # the compiled kernels' name for this loss

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
