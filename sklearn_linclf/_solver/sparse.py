"""The lazy sparse minibatch step: only the rows of the features a batch touches."""

import numpy as np


def _safely_invertible(A):
    """Whether solving with the 2x2 (or 1x1) update map loses little precision.

    Its determinant is ``mu (1 - 2 lr alpha)`` (Nesterov), ``mu`` (heavy
    ball) or ``1 - 2 lr alpha`` (no momentum): small only for a tiny momentum
    or a step that overshoots the penalty.
    """
    return abs(np.linalg.det(A)) >= 1e-2 * np.abs(A).max() ** A.shape[0]


class LazySparseStepper:
    """Updates that cost O(nnz(batch) * n_classes), for CSR ``X``.

    Exactly the dense algorithm, rearranged: a feature absent from a minibatch
    has data gradient 0, so its coefficients (and velocity) only feel the
    penalty, a linear map ``A_s`` that depends on the step size alone (see
    :meth:`MomentumUpdate.affine_form` with ``g = 0``). Instead of applying it to every
    row at every step, each row remembers the step it was last brought up to
    date, and the products ``Q[l] = A_{s-1} ... A_l`` are kept for every ``l``
    since the last full refresh; a row is caught up with one such product just
    before a minibatch touches it. :meth:`finish` (at the end of each epoch,
    or when ``Q`` is full) catches up every row. The intercept row is dense
    and updated at every step.

    The coefficients and velocity of a feature are read and written together,
    from ``state.table`` (shape ``(n_rows, 2, n_classes)``, see
    :meth:`SolverState.interleave`): one random access per touched feature
    instead of two, which is what dominates on wide data.

    With centred features (``state.center``, the means ``mu``), every row's
    gradient also holds ``-mu_j s`` with ``s = 1^T G`` (one vector of
    ``n_classes`` per step): the map of an absent row becomes affine, and its
    catch-up is ``Q[l] (p, v) + mu_j R[l]``, where ``R[l]`` sums what the steps
    since ``l`` added, each carried forward by the later maps. The centred
    scores need ``mu W^T`` over all rows; it is kept up to date in O(touched
    rows) per step (the update is linear) and recomputed at every refresh.
    """

    max_pending = 1024
    finish_chunk = 65536  # rows per block when catching up all rows

    def __init__(self, objective, update_rule, state):
        self.objective = objective
        self.update_rule = update_rule
        self.state = state
        self.table = state.interleave()
        n_rows, dim, _ = self.table.shape
        n_features = n_rows - int(objective.fit_intercept)
        # A small integer type: on wide data this array is read at random.
        self.last = np.zeros(n_features, dtype=np.min_scalar_type(self.max_pending))
        self.position = None  # scratch: feature -> column of the compact batch
        # Q[l] for l <= pending, as (dim, dim) matrices acting on (p, v).
        self.Q = np.empty((self.max_pending + 1, dim, dim))
        self.Q[0] = np.eye(dim)
        self.center = state.center
        if self.center is not None:
            n_classes = self.table.shape[2]
            self.R = np.zeros((self.max_pending + 1, dim, n_classes))
            self.center_sq = float(self.center @ self.center)
            self._refresh_center_scores()
        self.pending = 0
        self._map_lr = None  # step size of the cached update map

    def _refresh_center_scores(self):
        """``mu_scores = mu^T (p, v)`` summed over the feature rows, shape (dim, k)."""
        n = self.last.size
        self.mu_scores = np.einsum("j,jdk->dk", self.center, self.table[:n])

    def _catch_up(self, rows, last, cols):
        """``rows`` (shape (m, dim, n_classes)) brought up to date, a new array."""
        Q = self.Q[last].astype(rows.dtype, copy=False)
        out = np.matmul(Q, rows)
        if self.center is not None:
            R = self.R[last].astype(rows.dtype, copy=False)
            R *= self.center[cols, None, None]
            out += R
        return out

    def _compact(self, indices):
        """Sorted distinct ``indices`` and the position of each entry among them.

        (``np.unique(..., return_inverse=True)`` gives the same, through a
        slower argsort.)
        """
        if self.position is None or self.position.dtype != indices.dtype:
            self.position = np.empty(self.last.size, dtype=indices.dtype)
        cols = np.sort(indices)
        if cols.size:
            first = np.empty(cols.size, dtype=bool)
            first[0] = True
            np.not_equal(cols[1:], cols[:-1], out=first[1:])
            cols = cols[first]
        self.position[cols] = np.arange(cols.size, dtype=indices.dtype)
        return cols, self.position[indices]

    def _update_map(self, lr):
        """``(A, owes, weights)`` for a step of size ``lr``, kept while it lasts.

        ``owes``: the touched rows store ``(p, v) + weights g`` and owe ``A``
        (``weights = -lr A^-1 c``); otherwise ``A`` is applied to them now and
        ``weights = -lr c``. The last entry is ``lr c``, the map's weights of
        ``-g``.
        """
        if lr != self._map_lr:
            A, c = self.update_rule.affine_form(lr, self.objective.alpha)
            owes = _safely_invertible(A)
            weights = -lr * (np.linalg.solve(A, c) if owes else c)
            self._map = A, owes, [float(w) for w in weights], lr * c
            self._map_lr = lr
        return self._map

    def step(self, X, y, sample_weight, weight_sum, lr):
        objective, state, table = self.objective, self.state, self.table
        if self.pending == self.max_pending:
            self.finish()
        # Compact the batch to the columns it touches.
        cols, inverse = self._compact(X.indices)
        X_c = type(X)((X.data, inverse, X.indptr), shape=(X.shape[0], cols.size))
        rows = self._catch_up(
            np.take(table, cols, axis=0), self.last[cols], cols
        )
        _, b = objective.split_params(state.params)
        centred = self.center is not None
        value, grad, grad_b = objective.data_term(
            rows[:, 0],
            b - self.mu_scores[0] if centred else b,
            X_c,
            y,
            sample_weight,
            weight_sum,
        )
        # The touched rows become A (p, v) - lr c g. Rather than applying A
        # to them now, store (p, v) - lr A^-1 c g and let them owe this step's
        # A like the untouched rows do: the same result for one product less.
        A, owes, weights, lr_c = self._update_map(lr)
        k = self.pending
        if centred:
            # This step's centring term, mu_j lr c s for every row j: carried
            # by R for the rows that owe the step, added now to the others.
            offset = np.multiply.outer(lr_c, grad_b)
            self.mu_scores = (
                A @ self.mu_scores
                - np.multiply.outer(lr_c, self.center[cols] @ grad)
                + self.center_sq * offset
            )
            np.matmul(A, self.R[: k + 1], out=self.R[: k + 1])
            self.R[: k + 1] += offset
            self.R[k + 1] = 0.0
        if owes:
            self.last[cols] = k
        else:
            rows = np.matmul(A.astype(rows.dtype), rows)
            self.last[cols] = k + 1
            if centred:
                rows += self.center[cols, None, None] * offset.astype(rows.dtype)
        change = np.empty_like(rows)  # built contiguous: fewer strided passes
        for j, weight in enumerate(weights):
            np.multiply(grad, weight, out=change[:, j])
        rows += change
        table[cols] = rows
        if b is not None:
            v_b = None if state.velocity is None else state.velocity[-1]
            self.update_rule.apply(b, grad_b * state.intercept_step, v_b, lr)
        # Every row not up to date now owes this step's A (Q[k] becomes A).
        np.matmul(A, self.Q[: k + 1], out=self.Q[: k + 1])
        self.Q[k + 1] = np.eye(A.shape[0])
        self.pending = k + 1
        # The penalty value needs every row; run_epoch adds it once per epoch.
        return value

    def finish(self):
        if self.pending == 0:
            return
        table = self.table
        n_rows = self.last.size  # the intercept row, if any, is never pending
        for start in range(0, n_rows, self.finish_chunk):
            rows = slice(start, min(start + self.finish_chunk, n_rows))
            table[rows] = self._catch_up(
                table[rows], self.last[rows], np.arange(rows.start, rows.stop)
            )
        self.last[:] = 0
        self.Q[0] = np.eye(self.Q.shape[1])
        if self.center is not None:
            self.R[0] = 0.0
            self._refresh_center_scores()  # no drift of rounding errors
        self.pending = 0

