"""The linear objective: a score-space loss lifted to the coefficients.

For scores ``S = X W^T + b`` the objective is::

    L(W, b) = (1 / sum_i w_i) sum_i w_i L_i(S_i, y_i) + alpha * ||W||_F^2

with ``G`` the matrix of score gradients ``dL_i/dS_i`` already multiplied by
``w_i / sum(w)``::

    dL/dW = G^T X + 2 alpha W        dL/db = sum_i G_i

The intercept is not penalised. Only ``X @ ...`` and ``... @ X`` touch ``X``, so
dense arrays and CSR matrices share one code path and ``X`` is never copied,
densified or written to.

Coefficients are packed in one array ``coef`` of shape
``(n_classes, n_features + fit_intercept)``: ``W = coef[:, :n_features]`` and,
with an intercept, ``b = coef[:, -1]``. One array keeps the update rules simple
(one velocity, one in-place step).
"""

import numpy as np
from sklearn.utils.extmath import safe_sparse_dot


class LinearObjective:
    """Penalised, weighted mean of a score-space loss over a linear model.

    Parameters
    ----------
    loss : object
        Has ``loss_gradient(y, raw, sample_weight)`` as in
        :mod:`sklearn_linclf._loss`.
    alpha : float
        Strength of the penalty ``alpha * ||W||_F^2`` (no 1/2).
    fit_intercept : bool
        Whether the last column of ``coef`` is an (unpenalised) intercept.
    """

    def __init__(self, loss, alpha, fit_intercept):
        self.loss = loss
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def n_params(self, n_features):
        return n_features + int(self.fit_intercept)

    def split(self, coef):
        """Views ``(W, b)`` of the packed coefficients (``b`` is None without one)."""
        if self.fit_intercept:
            return coef[:, :-1], coef[:, -1]
        return coef, None

    def raw_prediction(self, coef, X):
        """Scores ``X W^T + b`` of shape (n_samples, n_classes)."""
        W, b = self.split(coef)
        raw = safe_sparse_dot(X, W.T, dense_output=True)
        if b is not None:
            raw += b
        return raw

    def loss_gradient(self, coef, X, y, sample_weight, weight_sum=None):
        """Objective value and its gradient with respect to ``coef``.

        Parameters
        ----------
        coef : ndarray of shape (n_classes, n_features + fit_intercept)
        X : {ndarray, CSR matrix} of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,), class indices
        sample_weight : ndarray of shape (n_samples,)
        weight_sum : float, default=None
            Normaliser of the data term; ``sample_weight.sum()`` when None.

        Returns
        -------
        value : float
        grad : ndarray of the shape and dtype of ``coef``
        """
        if weight_sum is None:
            weight_sum = sample_weight.sum()
        W, _ = self.split(coef)
        raw = self.raw_prediction(coef, X)
        loss, G = self.loss.loss_gradient(y, raw, sample_weight)
        # Normalised by the weight sum so that an integer weight equals repeating
        # the row and all-ones weights equal no weights.
        scale = 1.0 / weight_sum
        G *= scale
        value = loss.sum() * scale + self.alpha * np.vdot(W, W)

        grad = np.empty_like(coef)
        grad_W, grad_b = self.split(grad)
        grad_W[...] = safe_sparse_dot(G.T, X, dense_output=True)
        grad_W += (2 * self.alpha) * W
        if grad_b is not None:
            grad_b[...] = G.sum(axis=0)
        return float(value), grad

    def value(self, coef, X, y, sample_weight, weight_sum=None):
        """Objective value only (used for reporting and tests)."""
        return self.loss_gradient(coef, X, y, sample_weight, weight_sum)[0]
