"""The linear objective: a score-space loss lifted to the coefficients.

For scores ``S = X W^T + b`` the objective is::

    L(W, b) = (1 / sum_i w_i) sum_i w_i L_i(S_i, y_i) + alpha * ||W||_F^2

with ``G`` the matrix of score gradients ``dL_i/dS_i`` already multiplied by
``w_i / sum(w)``::

    dL/dW = G^T X + 2 alpha W        dL/db = sum_i G_i

The intercept is not penalised. Only ``X @ ...`` and ``X^T @ ...`` touch ``X``,
so dense arrays and CSR matrices share one code path and ``X`` is never copied,
densified or written to.

Layouts
-------
``coef`` (the layout of :meth:`LinearObjective.loss_gradient`, as scikit-learn's
``coef_``) has shape ``(n_classes, n_features + fit_intercept)``: ``W`` then, with
an intercept, ``b`` as the last column.

The solver works on the transpose, ``params = coef.T`` of shape
``(n_features + fit_intercept, n_classes)``: one row per feature (then one for
``b``). A sparse minibatch touches few features, and in this layout their
coefficients are whole contiguous rows.
"""

import numpy as np
from sklearn.utils.extmath import safe_sparse_dot

from . import _array_api


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
        Whether the model has an (unpenalised) intercept.
    """

    def __init__(self, loss, alpha, fit_intercept):
        self.loss = loss
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def n_params(self, n_features):
        return n_features + int(self.fit_intercept)

    # ------------------------------------------------------------------ params

    def split_params(self, params):
        """Views ``(W^T, b)`` of ``params`` (``b`` is None without intercept)."""
        if self.fit_intercept:
            return params[:-1, ...], params[-1, ...]
        return params, None

    def data_term(self, Wt, b, X, y, sample_weight, weight_sum, out=None):
        """The weighted mean loss and its gradient, without the penalty.

        Parameters
        ----------
        Wt : ndarray of shape (n_features, n_classes)
            ``W^T``.
        b : ndarray of shape (n_classes,) or None
        X : {ndarray, CSR matrix} of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,), class indices
        sample_weight : ndarray of shape (n_samples,)
        weight_sum : float
            Normaliser, ``sample_weight.sum()`` for the exact objective.
        out : ndarray of shape (n_features, n_classes), default=None
            Where to write ``G^T X`` (as its transpose ``X^T G``).

        Returns
        -------
        value : float
        grad_Wt : ndarray of shape (n_features, n_classes)
        grad_b : ndarray of shape (n_classes,) or None
        """
        if isinstance(X, np.ndarray):
            # Scores in Fortran order: the losses reduce over classes (axis 1),
            # which is then contiguous in memory and several times faster.
            raw = np.dot(Wt.T, X.T).T
        else:
            raw = safe_sparse_dot(X, Wt, dense_output=True)
        if b is not None:
            raw += b
        loss, G = self.loss.loss_gradient(y, raw, sample_weight)
        # Normalised by the weight sum so that an integer weight equals repeating
        # the row and all-ones weights equal no weights.
        scale = 1.0 / weight_sum
        G *= scale
        if (
            out is not None
            and isinstance(X, np.ndarray)
            and out.flags.c_contiguous
            and out.dtype == np.result_type(X, G)
        ):
            grad_Wt = np.dot(X.T, G, out=out)
        else:
            grad_Wt = safe_sparse_dot(X.T, G, dense_output=True)
            if out is not None:
                out[...] = grad_Wt
                grad_Wt = out
        grad_b = G.sum(axis=0) if b is not None else None
        return float(loss.sum() * scale), grad_Wt, grad_b

    def zero_model_value(self, n_classes):
        """Objective of ``W = 0, b = 0``: the loss at all-zero scores.

        It is the same for every sample and label, hence needs no data.
        """
        loss, _ = self.loss.loss_gradient(
            np.zeros(1, dtype=np.intp), np.zeros((1, n_classes))
        )
        return float(loss[0])

    def penalty(self, Wt):
        if not isinstance(Wt, np.ndarray):
            return float(self.alpha * _array_api.sum_of_squares(Wt, Wt.dtype))
        # einsum reads a strided view in place, where vdot would copy it.
        return float(self.alpha * np.einsum("ij,ij->", Wt, Wt))

    def params_gradient(self, params, X, y, sample_weight, weight_sum, center=None):
        """Data term value and full gradient in the solver's ``params`` layout.

        The penalty's *value* is left out (the solver adds it once per epoch);
        its gradient ``2 alpha W`` is included.

        With ``center`` (the feature means ``mu``, requires an intercept) the
        parameters are read in centred coordinates: the scores are
        ``(X - mu) W^T + b``, computed as ``X W^T + (b - mu W^T)`` so that ``X``
        is never changed, and the gradient of ``W^T`` gets the rank-one term
        ``-mu (1^T G)``. The minimiser is the same (``b_plain = b - mu W^T``).

        Parameters of another Array API namespace are handled by
        :func:`sklearn_linclf._array_api.params_gradient` (the value is then a
        0-d array on the device).
        """
        if not isinstance(params, np.ndarray):
            return _array_api.params_gradient(
                self, params, X, y, sample_weight, weight_sum, center
            )
        Wt, b = self.split_params(params)
        if center is not None:
            b = b - center @ Wt
        grad = np.empty(params.shape, dtype=params.dtype)
        grad_Wt, grad_b = self.split_params(grad)
        value, _, g_b = self.data_term(
            Wt, b, X, y, sample_weight, weight_sum, out=grad_Wt
        )
        grad_Wt += (2 * self.alpha) * Wt
        if center is not None:
            grad_Wt -= np.multiply.outer(center, g_b)
        if grad_b is not None:
            grad_b[...] = g_b
        return value, grad

    # -------------------------------------------------- scikit-learn's layout

    def split(self, coef):
        """Views ``(W, b)`` of ``coef`` (``b`` is None without an intercept)."""
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
        params = coef.T
        value, grad = self.params_gradient(params, X, y, sample_weight, weight_sum)
        value += self.penalty(self.split_params(params)[0])
        return value, np.ascontiguousarray(grad.T)

    def value(self, coef, X, y, sample_weight, weight_sum=None):
        """Objective value only (used for reporting and tests)."""
        return self.loss_gradient(coef, X, y, sample_weight, weight_sum)[0]
