"""A whole epoch of dense minibatch updates, compiled.

The numpy path (:class:`~sklearn_linclf._solver.dense.DenseStepper`) spends
tens of microseconds of call overhead on every minibatch whatever its size;
here one call runs every minibatch of an epoch without the GIL.

Per minibatch (rows ``order[start:stop]``, ``B`` of them, ``d`` features,
``k`` classes) three phases run one after the other, with a barrier after
A and after C:

A. rows: gather the rows (when ``X`` cannot be read in place), the scores
   ``S = X_b W^T + b_eff`` and, in place of ``S``, the loss and its score
   gradient ``G`` (weighted and scaled), split by blocks of rows;
B. the column sums of ``G`` (the intercept's gradient), computed by every
   thread (a few additions per row cost less than a barrier);
C. features: ``X_b^T G + 2 alpha W^T - mu (1^T G)`` and the update of those
   coefficient rows, split by blocks of features; the first block's task
   also updates the intercept and sums the batch's loss.

Determinism
-----------
The blocks of A and C depend on ``B`` and ``d`` only, never on the number
of threads, and no sum is ever split between threads: each score, each
coefficient's gradient (a sum over the batch), each column sum and the loss
sum is computed by one thread, in the same order and, with BLAS, by a call of
the same shape, whichever thread runs it. ``b_eff`` and the column sums are
computed by every thread in the same order. So the results are the same bit
for bit with any number of threads.

BLAS
----
The products of A and C are ``gemm`` calls on contiguous blocks: the rows
are gathered into a buffer unless they already are consecutive rows of an
``X`` with unit column stride. Plain loops that read ``X`` where it is were
slower at every size measured, even 2 features and 3 classes (the gradient's
sum over the batch is a chain of dependent additions through memory).
The exception is tiny products in float64 (2 or 3 classes, ``d * k <= 24``):
there, loops over the gathered rows with the class count a compile-time
constant (one copy per count) beat a gemm call, which packs its operands
first. With 2 to 4 classes the loss and column-sum loops get such copies too.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, log, logf
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, sgemm

cimport openmp

import numpy as np

ctypedef Py_ssize_t intp

cdef extern from *:
    """
    #ifdef _OPENMP
    #define SKLEARN_LINCLF_BARRIER() _Pragma("omp barrier")
    #else
    #define SKLEARN_LINCLF_BARRIER()
    #endif
    """
    # Cython's prange inside a parallel block ends without a barrier (nowait).
    void _barrier "SKLEARN_LINCLF_BARRIER"() noexcept nogil

    void __builtin_prefetch(const void *addr) noexcept nogil

cdef extern from "_keep.h":
    double lc_keep_d(double x, int keep) noexcept nogil
    float lc_keep_f(float x, int keep) noexcept nogil

cdef extern from "_fast_exp.h":
    int lc_exp_init(int use_vector) noexcept nogil
    void lc_exp_shifted_d(double *x, intp n, double shift) noexcept nogil
    void lc_exp_shifted_f(float *x, intp n, double shift) noexcept nogil

lc_exp_init(1)

cdef enum:
    SOFTMAX = 0
    HINGE = 1
    # Shuffled rows ahead whose data is fetched into the cache.
    PREFETCH = 8
    # Up to this d * k, with 2 or 3 classes, products in loops; measured
    # faster than gemm up to 24 (8 features, 3 classes; 12 and 2), and
    # not faster with 4 classes (6 features: even; 8: slower).
    SMALL_PRODUCT = 24

# Past this, a product of softmax totals takes its log (a total is at most the
# number of classes, so the next product stays finite).
cdef double PRODUCT_LOG_MAX = 1e200


def max_threads():
    """``omp_get_max_threads()`` now (``OMP_NUM_THREADS``, threadpoolctl).

    Returns
    -------
    int
    """
    return openmp.omp_get_max_threads()


def use_vector_exp(bint enabled=True):
    """Use the vector ``exp`` where the processor allows it, or libm's (tests).

    As ``_sparse_kernel.use_vector_exp``, for this module's kernels.

    Returns
    -------
    bool
        Whether the vector ``exp`` is now used.
    """
    return bool(lc_exp_init(enabled))


cdef inline void _exp_shifted(floating *x, intp n) noexcept nogil:
    """``x[i] <- exp(x[i])`` for ``x[i] <= 0``, computed in double (``_fast_exp.h``)."""
    if floating is float:
        lc_exp_shifted_f(x, n, 0.0)
    else:
        lc_exp_shifted_d(x, n, 0.0)


cdef inline floating _keep(floating x, int keep) noexcept nogil:
    """``x`` if ``keep`` (0 or 1) else 0, without a branch."""
    if floating is float:
        return lc_keep_f(x, keep)
    else:
        return lc_keep_d(x, keep)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline void _gemm(
    char *transa, char *transb, int m, int n, int kk,
    floating *a, int lda, floating *b, int ldb,
    floating beta, floating *c, int ldc,
) noexcept nogil:
    """Column-major ``C = op(A) op(B) + beta C`` (alpha is 1)."""
    cdef floating one = 1
    if floating is float:
        sgemm(transa, transb, &m, &n, &kk, &one, a, &lda, b, &ldb, &beta, c, &ldc)
    else:
        dgemm(transa, transb, &m, &n, &kk, &one, a, &lda, b, &ldb, &beta, c, &ldc)


cdef inline void _intercept_scores(
    const floating *P, const floating *center, floating *beff,
    intp d, intp k, bint fit_intercept,
) noexcept nogil:
    """``b_eff = b - mu W^T`` (``b`` without centring, 0 without intercept)."""
    cdef intp l, j
    cdef floating acc
    for j in range(k):
        if not fit_intercept:
            beff[j] = 0
        elif center == NULL:
            beff[j] = P[d * k + j]
        else:
            acc = 0
            for l in range(d):
                acc = acc + center[l] * P[l * k + j]
            beff[j] = P[d * k + j] - acc


cdef inline void _loss_rows(
    floating *S, double *losses, const intp *y, const intp *order,
    const floating *sw, intp start, intp i0, intp i1, intp k,
    int loss_kind, floating delta, floating scale,
) noexcept nogil:
    """Scores ``S[i0:i1]`` become ``G``; ``losses[i0:i1]`` sum to ``sum_i w_i L_i``.

    Each ``losses[i]`` is ``w_i L_i`` except for an unweighted softmax, whose
    logs of the rows' totals are taken a block of rows at a time (see below).

    Each entry of ``G`` is rounded as numpy rounds it (the gradient, times
    ``w_i``, times ``scale``) but written once: reading back entries just
    written one by one stalls on store forwarding.
    """
    cdef intp i, j, row, yi
    cdef floating *s
    cdef floating m, total, inv_total, sy, margin, count, w, value, g, active, ey
    cdef int on
    # Unweighted softmax: the log of the product of the rows' totals (each
    # in [1, k]), one call per block of rows instead of one per row; the
    # block's log is added to its last row's loss (only the sum is used).
    cdef bint product_log = loss_kind == SOFTMAX and sw == NULL
    cdef double product = 1
    if loss_kind == SOFTMAX:
        # Each row less its maximum (losses[i] keeps -(s_y - max) for the
        # loss), then one exp over the whole block: the vector exp runs four
        # at a time across the rows' ends.
        for i in range(i0, i1):
            row = start + i if order == NULL else order[start + i]
            s = S + i * k
            m = s[0]
            for j in range(1, k):
                if s[j] > m:
                    m = s[j]
            for j in range(k):
                s[j] = s[j] - m
            losses[i] = -s[y[row]]
        _exp_shifted(S + i0 * k, (i1 - i0) * k)
    for i in range(i0, i1):
        row = start + i if order == NULL else order[start + i]
        yi = y[row]
        s = S + i * k
        w = 1 if sw == NULL else sw[row]
        if loss_kind == SOFTMAX:
            total = 0
            for j in range(k):
                total = total + s[j]
            if product_log:
                product = product * total
                value = losses[i]
            else:
                value = _log(total) + losses[i]
            # One division a row: numpy divides each entry, this differs by
            # at most an ulp.
            inv_total = 1 / total
            # No branch on the label inside the class loop: with shuffled
            # labels it was mispredicted about once a row (without it, a
            # 256-row minibatch of 2 features and 3 classes went from ~6.4
            # to ~4.1 us). The label's entry is written again after the loop.
            ey = s[yi]
            for j in range(k):
                g = s[j] * inv_total
                if sw != NULL:
                    g = g * w
                s[j] = g * scale
            g = ey * inv_total - 1
            if sw != NULL:
                g = g * w
            s[yi] = g * scale
        else:
            sy = s[yi]
            value = 0
            count = 0
            # (1 * w) * scale, numpy's rounding of an active margin's entry.
            active = w * scale
            # No branches in the class loop (whether a margin holds is as
            # unpredictable as the data, and so is the label): the label's
            # score is set to -inf first, so that its margin never holds (nor
            # does a NaN one), and the margins are kept or zeroed by
            # ``_keep``; adding 0 leaves value unchanged.
            s[yi] = -INFINITY
            for j in range(k):
                margin = (s[j] - sy) + delta
                on = margin > 0
                value = value + _keep(margin, on)
                count = count + _keep(<floating>1, on)
                s[j] = _keep(active, on)
            g = -count
            if sw != NULL:
                g = g * w
            s[yi] = g * scale
        if sw != NULL:
            value = value * w
        losses[i] = value
        if product_log and (product > PRODUCT_LOG_MAX or i == i1 - 1):
            losses[i] = losses[i] + log(product)
            product = 1


cdef inline void _update(
    floating *p, floating *v, floating *g, intp n,
    floating lr, floating mu, bint nesterov,
) noexcept nogil:
    """``MomentumUpdate.apply`` on ``n`` entries (``v`` NULL: no momentum)."""
    cdef intp e
    for e in range(n):
        g[e] = g[e] * lr
    if v == NULL:
        for e in range(n):
            p[e] = p[e] - g[e]
    elif nesterov:
        for e in range(n):
            v[e] = v[e] * mu - g[e]
            p[e] = (p[e] + mu * v[e]) - g[e]
    else:
        for e in range(n):
            v[e] = v[e] * mu - g[e]
            p[e] = p[e] + v[e]


def dense_epoch(
    floating[:, ::1] params,
    floating[:, ::1] velocity,
    const floating[:, :] X,
    const intp[::1] y,
    const floating[::1] sample_weight,
    const intp[::1] order,
    const intp[::1] starts,
    const intp[::1] stops,
    const double[::1] lrs,
    const double[::1] scales,
    const floating[::1] center,
    bint fit_intercept,
    int loss_kind,
    double delta,
    double alpha,
    double momentum,
    bint nesterov,
    double intercept_step,
    int n_threads,
    intp row_block,
    intp feature_block,
):
    """Run the minibatches ``order[starts[b]:stops[b]]`` in turn, in place.

    Parameters
    ----------
    params : ndarray of shape (n_features + fit_intercept, n_classes)
        ``W^T`` then, with an intercept, ``b`` (centred when ``center``).
        Updated in place.
    velocity : ndarray of the shape of ``params`` or None
        Updated in place; None without momentum.
    X : ndarray of shape (n_samples, n_features)
        Any strides; the dtype of ``params``.
    y : ndarray of shape (n_samples,), dtype intp
        Class indices.
    sample_weight : ndarray of shape (n_samples,) or None
        None: every weight is 1.
    order : ndarray of dtype intp or None
        Row indices; None reads rows ``starts[b]:stops[b]`` of ``X``.
    starts, stops : ndarray of shape (n_batches,), dtype intp
        The batches, as positions in ``order``.
    lrs, scales : ndarray of shape (n_batches,), dtype float64
        Step size of each batch and the factor of its ``G`` (one over its
        normaliser).
    center : ndarray of shape (n_features,) or None
        Feature means of the implicit centring (needs an intercept).
    fit_intercept : bool
    loss_kind : int
        0 softmax cross-entropy, 1 Weston–Watkins hinge.
    delta, alpha, momentum : float
        The hinge's margin, the penalty strength and the momentum (0: none).
    nesterov : bool
    intercept_step : float
        Factor of the intercept's gradient.
    n_threads : int
        OpenMP threads (at least 1).
    row_block, feature_block : int
        Rows per task of phase A, features per task of phase C; they must
        not depend on ``n_threads`` (see Determinism).

    Returns
    -------
    losses : ndarray of shape (n_batches,), dtype float64
        ``sum_i w_i L_i`` of each batch, at the parameters before its update.
    """
    cdef intp n_samples = X.shape[0]
    cdef intp d = X.shape[1]
    cdef intp k = params.shape[1]
    cdef intp n_batches = starts.shape[0]
    cdef intp itemsize = sizeof(floating)
    cdef intp rs = X.strides[0] // itemsize
    cdef intp cs = X.strides[1] // itemsize
    cdef intp bmax = 0, b, nf
    for b in range(n_batches):
        if stops[b] - starts[b] > bmax:
            bmax = stops[b] - starts[b]
    if params.shape[0] != d + fit_intercept or y.shape[0] != n_samples:
        raise ValueError("params, X and y do not match.")
    if velocity is not None and (
        velocity.shape[0] != params.shape[0] or velocity.shape[1] != k
    ):
        raise ValueError("velocity and params do not match.")
    if row_block < 1 or feature_block < 1 or n_threads < 1:
        raise ValueError("row_block, feature_block and n_threads must be >= 1.")

    losses_out = np.zeros(n_batches, dtype=np.float64)
    cdef double[::1] losses_view = losses_out
    if n_batches == 0 or bmax == 0:
        return losses_out

    # Rows of X usable by gemm where they are: unit column stride and
    # consecutive rows (order None), as a full batch of a C-ordered X.
    cdef bint rows_in_place = cs == 1 and rs >= d and order is None
    cdef bint gather = not rows_in_place
    cdef intp ldx = d if gather else rs
    # A handful of features and classes: the products in plain loops (gemm
    # packs its operands first; in an A/B on 2 features and 3 classes the
    # loops saved ~0.5 µs of a minibatch's two calls). Float64 only:
    # in float32, BLAS's fused multiply-adds round differently enough that a
    # full-batch hinge fit (many steps across kinks) ended with decision
    # values up to 4e-4 from the same fit through BLAS (or another array
    # namespace), beyond what the Array API tests allow.
    cdef bint small = floating is double and k <= 3 and d * k <= SMALL_PRODUCT

    S_arr = np.empty(bmax * k, dtype=np.float32 if floating is float else np.float64)
    row_losses_arr = np.empty(bmax, dtype=np.float64)
    Xb_arr = np.empty(bmax * d if gather else 1, dtype=S_arr.dtype)
    cdef floating[::1] S_view = S_arr
    cdef floating[::1] Xb_view = Xb_arr
    cdef double[::1] row_losses_view = row_losses_arr

    cdef floating *P = &params[0, 0]
    cdef floating *V = NULL if velocity is None else &velocity[0, 0]
    cdef const floating *Xp = &X[0, 0]
    cdef const intp *yp = &y[0]
    cdef const floating *swp = NULL if sample_weight is None else &sample_weight[0]
    cdef const intp *op = NULL if order is None else &order[0]
    cdef const floating *cp = NULL if center is None else &center[0]
    cdef floating *Sp = &S_view[0]
    cdef floating *Xb = &Xb_view[0]
    cdef double *row_losses = &row_losses_view[0]
    cdef double *batch_losses = &losses_view[0]

    cdef floating f_delta = <floating>delta
    cdef floating two_alpha = <floating>(2 * alpha)
    cdef floating mu = <floating>momentum
    cdef floating istep = <floating>intercept_step
    cdef floating f_lr, f_scale
    cdef intp start, stop, nb, n_rb, n_fb, t, i0, i1, f0, f1, i, j
    cdef floating *beff
    cdef floating *gsum
    cdef floating *gbuf
    cdef const floating *xbase

    with nogil, parallel(num_threads=n_threads):
        # Per-thread scratch: the intercept's scores and a block of gradient.
        beff = <floating *>malloc(k * sizeof(floating))
        gsum = <floating *>malloc(k * sizeof(floating))
        gbuf = <floating *>malloc(max(feature_block, 1) * k * sizeof(floating))
        for b in range(n_batches):
            start = starts[b]
            stop = stops[b]
            nb = stop - start
            f_lr = <floating>lrs[b]
            f_scale = <floating>scales[b]
            n_rb = (nb + row_block - 1) // row_block
            n_fb = (d + feature_block - 1) // feature_block
            xbase = Xb if gather else Xp + start * rs
            # Every thread computes the same b_eff, in the same order.
            _intercept_scores(P, cp, beff, d, k, fit_intercept)

            # Phase A: scores, then loss and G, by blocks of rows.
            for t in prange(n_rb, schedule="static"):
                i0 = t * row_block
                i1 = min(nb, i0 + row_block)
                if gather:
                    _gather(Xp, rs, cs, op, start, i0, i1, d, Xb, yp, swp)
                if small and k == 2:
                    _scores_small(xbase, ldx, P, beff, Sp, i0, i1, d, 2)
                elif small and k == 3:
                    _scores_small(xbase, ldx, P, beff, Sp, i0, i1, d, 3)
                else:
                    for i in range(i0, i1):
                        for j in range(k):
                            Sp[i * k + j] = beff[j]
                    _gemm(b"N", b"N", <int>k, <int>(i1 - i0), <int>d,
                          P, <int>k, <floating *>xbase + i0 * ldx, <int>ldx,
                          1, Sp + i0 * k, <int>k)
                # Few classes: a copy of the loop per count (2, 3 or 4), with
                # the class loops unrolled by the compiler (-10 % of a 3-class
                # minibatch of 2 features, bit for bit the same).
                if k == 2:
                    _loss_rows(Sp, row_losses, yp, op, swp, start, i0, i1, 2,
                               loss_kind, f_delta, f_scale)
                elif k == 3:
                    _loss_rows(Sp, row_losses, yp, op, swp, start, i0, i1, 3,
                               loss_kind, f_delta, f_scale)
                elif k == 4:
                    _loss_rows(Sp, row_losses, yp, op, swp, start, i0, i1, 4,
                               loss_kind, f_delta, f_scale)
                else:
                    _loss_rows(Sp, row_losses, yp, op, swp, start, i0, i1, k,
                               loss_kind, f_delta, f_scale)
            _barrier()

            # Phase B, in every thread: the column sums of G, in row order.
            # Cheaper than another barrier; each thread gets the same sums.
            if k == 2:
                _column_sums(Sp, nb, 2, gsum)
            elif k == 3:
                _column_sums(Sp, nb, 3, gsum)
            elif k == 4:
                _column_sums(Sp, nb, 4, gsum)
            else:
                _column_sums(Sp, nb, k, gsum)

            # Phase C: gradient and update of W^T, by blocks of features.
            for t in prange(n_fb, schedule="static"):
                f0 = t * feature_block
                f1 = min(d, f0 + feature_block)
                nf = f1 - f0
                if small and k == 2:
                    _gradient_small(xbase, ldx, Sp, gbuf, nb, f0, nf, 2)
                elif small and k == 3:
                    _gradient_small(xbase, ldx, Sp, gbuf, nb, f0, nf, 3)
                else:
                    _gemm(b"N", b"T", <int>k, <int>nf, <int>nb,
                          Sp, <int>k, <floating *>xbase + f0, <int>ldx,
                          0, gbuf, <int>k)
                _coef_update(P, V, gbuf, cp, gsum, f0, f1, k, two_alpha,
                             f_lr, mu, nesterov)
                if t == 0:
                    # One task also takes the batch's loss and the intercept.
                    batch_losses[b] = _sum(row_losses, nb)
                    if fit_intercept:
                        for j in range(k):
                            _intercept_update(P, V, d, k, j, gsum[j], istep,
                                              f_lr, mu, nesterov)
            _barrier()
        free(beff)
        free(gsum)
        free(gbuf)
    return losses_out


cdef inline void _gather(
    const floating *X, intp rs, intp cs, const intp *order, intp start,
    intp i0, intp i1, intp d, floating *Xb, const intp *y, const floating *sw,
) noexcept nogil:
    """Rows ``i0:i1`` of the batch into the C-ordered buffer ``Xb``.

    Shuffled rows miss the cache (in ``X``, and in ``y`` and the weights,
    which the loss reads next); those of the row ``PREFETCH`` ahead are
    asked for early (5 % of a minibatch on 2-column data).
    """
    cdef intp i, l, row, ahead
    cdef const floating *xr
    for i in range(i0, i1):
        if order != NULL and i + PREFETCH < i1:
            ahead = order[start + i + PREFETCH]
            __builtin_prefetch(X + ahead * rs)
            __builtin_prefetch(y + ahead)
            if sw != NULL:
                __builtin_prefetch(sw + ahead)
        row = start + i if order == NULL else order[start + i]
        xr = X + row * rs
        if cs == 1 and d > 16:
            memcpy(Xb + i * d, xr, d * sizeof(floating))
        else:
            # A call of memcpy per short row cost more than the copy.
            for l in range(d):
                Xb[i * d + l] = xr[l * cs]


cdef inline void _scores_small(
    const floating *xbase, intp ldx, const floating *P, const floating *beff,
    floating *S, intp i0, intp i1, intp d, intp k,
) noexcept nogil:
    """``S[i0:i1] = b_eff + X_b[i0:i1] W^T`` in loops (few features)."""
    cdef intp i, l, j
    cdef floating x
    cdef floating *s
    for i in range(i0, i1):
        s = S + i * k
        for j in range(k):
            s[j] = 0
        for l in range(d):
            x = xbase[i * ldx + l]
            for j in range(k):
                s[j] = s[j] + x * P[l * k + j]
        for j in range(k):
            s[j] = s[j] + beff[j]


cdef inline void _gradient_small(
    const floating *xbase, intp ldx, const floating *G, floating *gbuf,
    intp nb, intp f0, intp nf, intp k,
) noexcept nogil:
    """``gbuf = X_b[:, f0:f0 + nf]^T G`` in loops (few features)."""
    cdef intp i, l, j
    cdef floating x
    cdef floating *g
    for l in range(nf * k):
        gbuf[l] = 0
    for i in range(nb):
        for l in range(nf):
            x = xbase[i * ldx + f0 + l]
            g = gbuf + l * k
            for j in range(k):
                g[j] = g[j] + x * G[i * k + j]


cdef inline double _sum(const double *a, intp n) noexcept nogil:
    cdef intp i
    cdef double acc = 0
    for i in range(n):
        acc = acc + a[i]
    return acc


cdef inline void _column_sums(
    const floating *G, intp nb, intp k, floating *out,
) noexcept nogil:
    """``G.sum(axis=0)`` in row order (numpy's order for axis 0)."""
    cdef intp i, j
    for j in range(k):
        out[j] = 0
    for i in range(nb):
        for j in range(k):
            out[j] = out[j] + G[i * k + j]


cdef inline void _intercept_update(
    floating *P, floating *V, intp d, intp k, intp j, floating g_b,
    floating istep, floating lr, floating mu, bint nesterov,
) noexcept nogil:
    cdef floating g = g_b * istep
    _update(P + d * k + j, NULL if V == NULL else V + d * k + j, &g, 1, lr, mu,
            nesterov)


cdef inline void _coef_update(
    floating *P, floating *V, floating *gbuf, const floating *center,
    const floating *gsum, intp f0, intp f1, intp k, floating two_alpha,
    floating lr, floating mu, bint nesterov,
) noexcept nogil:
    """Rows ``f0:f1`` of ``W^T``: add the penalty and centring terms, update."""
    cdef intp l, j
    cdef floating *g
    cdef floating *p
    for l in range(f0, f1):
        g = gbuf + (l - f0) * k
        p = P + l * k
        for j in range(k):
            g[j] = g[j] + two_alpha * p[j]
        if center != NULL:
            for j in range(k):
                g[j] = g[j] - center[l] * gsum[j]
    _update(P + f0 * k, NULL if V == NULL else V + f0 * k, gbuf,
            (f1 - f0) * k, lr, mu, nesterov)
