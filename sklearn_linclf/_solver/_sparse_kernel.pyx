# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The lazy sparse minibatch step, compiled: one call runs a whole epoch.

See :mod:`sklearn_linclf._solver.sparse` for the algorithm; this module holds
its loops. For each minibatch (rows ``order[starts[b]:stops[b]]`` of a CSR
matrix):

1. (serial) the features the batch touches get a position in the batch, in
   order of first appearance, through a stamp per feature (no sort); the
   batch's entries are bucketed by position (a counting sort), each bucket in
   row order;
2. (parallel over positions) each touched row of the table is caught up
   exactly: ``(p, v) <- Q[l] (p, v) + mu_j R[l]``;
3. (parallel over rows) scores, loss and score gradient ``G`` of each row;
4. (parallel over positions) the gradient of each touched row, summed over
   its bucket in row order, and its update;
5. (serial) the intercept, the products ``Q``, ``R`` and ``mu_scores``.

Every sum has one fixed order whatever the number of threads (a row's scores
over its entries, a feature's gradient over the batch's rows, a reduction
over features in fixed blocks of positions), so the results do not depend on
it. The table has shape ``(n_rows, dim, n_classes)``: the coefficients
(``dim = 1``) and, with momentum, the velocity (``dim = 2``) of a feature in
one place, classes contiguous.
"""

import numpy as np

cimport numpy as cnp
from cython.parallel cimport prange
from libc.math cimport exp, log
from libc.string cimport memset

cimport openmp

cnp.import_array()

ctypedef fused floating:
    float
    double

ctypedef fused index_t:
    int
    long long

ctypedef cnp.intp_t intp_t

# Positions per block of a reduction over touched features (a fixed block
# size keeps the order of the sums independent of the thread count).
cdef enum:
    BLOCK = 64
    # Below this many multiply-adds per phase, a minibatch runs on one thread.
    MIN_PARALLEL_WORK = 20000

SOFTMAX = 0
HINGE = 1


def max_threads():
    """Threads OpenMP would use now (``OMP_NUM_THREADS``, threadpoolctl)."""
    return openmp.omp_get_max_threads()


cdef inline void _catch_up_row(
    floating* row, const double* Q, const double* R, double mu, int dim,
    intp_t k,
) noexcept nogil:
    """``row <- Q row + mu R`` for one feature's (dim, k) block."""
    cdef intp_t c
    cdef double p, v
    if dim == 1:
        for c in range(k):
            row[c] = <floating>(Q[0] * row[c] + mu * R[c])
    else:
        for c in range(k):
            p = row[c]
            v = row[k + c]
            row[c] = <floating>(Q[0] * p + Q[1] * v + mu * R[c])
            row[k + c] = <floating>(Q[2] * p + Q[3] * v + mu * R[k + c])


cdef inline double _loss_gradient(
    floating* s, intp_t k, intp_t label, int loss_kind, double delta,
    double weight, double scale,
) noexcept nogil:
    """Overwrite the scores ``s`` by ``weight * scale * dL/ds``; return ``weight * L``."""
    cdef intp_t c
    cdef double top, total, loss, sy, margin, active, e, factor
    if loss_kind == 0:  # softmax cross-entropy
        top = s[0]
        for c in range(1, k):
            if s[c] > top:
                top = s[c]
        sy = s[label] - top
        total = 0.0
        for c in range(k):
            e = exp(s[c] - top)
            s[c] = <floating>e
            total = total + e
        loss = log(total) - sy
        factor = weight * scale / total
        for c in range(k):
            s[c] = <floating>(s[c] * factor)
        s[label] = <floating>(s[label] - weight * scale)
        return weight * loss
    # Weston-Watkins hinge; the strict inequality takes the subgradient 0
    # at a kink.
    sy = s[label]
    loss = 0.0
    active = 0.0
    for c in range(k):
        if c == label:
            continue
        margin = (<floating>(s[c] - sy)) + delta
        if margin > 0:
            loss = loss + margin
            active = active + 1.0
            s[c] = <floating>(weight * scale)
        else:
            s[c] = 0
    s[label] = <floating>(-active * weight * scale)
    return weight * loss


cdef class Workspace:
    """The lazy bookkeeping of one epoch (see :class:`.sparse.LazySparseStepper`).

    ``last[j]``: the step feature ``j`` was last brought up to date at;
    ``Q[l]``, ``R[l]``: what a feature last current at step ``l`` owes;
    ``mu_scores``: ``mu^T (p, v)`` summed over the features (centring only).
    """

    cdef public object last, stamp, position, Q, R, mu_scores
    cdef public intp_t pending
    cdef public intp_t max_pending
    cdef public long long n_stamps

    def __init__(self, n_features, dim, n_classes, max_pending, centred):
        self.last = np.zeros(n_features, dtype=np.int32)
        self.stamp = np.zeros(n_features, dtype=np.int64)
        self.position = np.zeros(n_features, dtype=np.int32)
        self.Q = np.zeros((max_pending + 1, dim, dim))
        self.Q[0] = np.eye(dim)
        self.R = np.zeros((max_pending + 1 if centred else 1, dim, n_classes))
        self.mu_scores = np.zeros((dim, n_classes))
        self.pending = 0
        self.max_pending = max_pending
        self.n_stamps = 0


def finish(Workspace ws, floating[:, :, ::1] table, const double[::1] center,
           int n_threads):
    """Bring every feature up to date; return ``sum ||p_j||^2`` over features.

    See :func:`_finish`.
    """
    return _finish(ws, table, center, n_threads)


cdef double _finish(
    Workspace ws,
    floating[:, :, ::1] table,
    const double[::1] center,
    int n_threads,
):
    """Bring every feature up to date; return ``sum ||p_j||^2`` over features.

    Also recomputes ``mu_scores`` from the rows when centred (no drift of
    rounding errors). Sums run in fixed blocks of rows, then over the blocks.
    """
    cdef intp_t n_features = ws.last.shape[0]
    cdef int dim = table.shape[1]
    cdef intp_t k = table.shape[2]
    cdef bint centred = center.shape[0] > 0
    cdef int[::1] last = ws.last
    cdef const double[:, :, ::1] Q = ws.Q
    cdef const double[:, :, ::1] R = ws.R
    cdef intp_t pending = ws.pending
    cdef intp_t block_rows = 4096
    cdef intp_t n_blocks = (n_features + block_rows - 1) // block_rows
    cdef double[::1] sumsq = np.zeros(max(n_blocks, 1))
    cdef double[:, :, ::1] mu_part = np.zeros(
        (max(n_blocks, 1) if centred else 1, dim, k)
    )
    cdef intp_t blk, j, c, d, l
    cdef double acc, mu
    cdef floating* row
    cdef int threads = n_threads if n_features * k * dim > MIN_PARALLEL_WORK else 1
    with nogil:
        for blk in prange(n_blocks, num_threads=threads, schedule="static"):
            acc = 0.0
            for j in range(blk * block_rows, min((blk + 1) * block_rows, n_features)):
                row = &table[j, 0, 0]
                l = last[j]
                mu = center[j] if centred else 0.0
                if l < pending:
                    _catch_up_row(row, &Q[l, 0, 0], &R[l if centred else 0, 0, 0],
                                  mu, dim, k)
                last[j] = 0
                for c in range(k):
                    acc = acc + (<double>row[c]) * row[c]
                if centred:
                    for d in range(dim):
                        for c in range(k):
                            mu_part[blk, d, c] += mu * row[d * k + c]
            sumsq[blk] = acc
    ws.pending = 0
    ws.Q[0] = np.eye(dim)
    if centred:
        ws.R[0] = 0.0
        ws.mu_scores = np.asarray(mu_part).sum(axis=0) if n_blocks else ws.mu_scores * 0
    total = 0.0
    for blk in range(n_blocks):
        total += sumsq[blk]
    return total


def epoch(
    Workspace ws,
    const floating[::1] data,
    const index_t[::1] indices,
    const index_t[::1] indptr,
    const intp_t[::1] y,
    const double[::1] sample_weight,
    const intp_t[::1] order,
    const intp_t[::1] starts,
    const intp_t[::1] stops,
    const double[::1] scales,
    const double[::1] lrs,
    const double[:, :, ::1] maps,
    const double[:, ::1] weights,
    const double[:, ::1] lr_c,
    const unsigned char[::1] owes,
    floating[:, :, ::1] table,
    const double[::1] center,
    bint fit_intercept,
    double intercept_step,
    double momentum,
    bint nesterov,
    int loss_kind,
    double delta,
    int n_threads,
    double[::1] batch_loss,
):
    """Run the minibatches; ``batch_loss[b]`` gets ``sum_i w_i L_i`` of batch ``b``.

    ``maps[b]``, ``weights[b]``, ``lr_c[b]``, ``owes[b]``: batch ``b``'s update
    map ``A``, the weights of its gradient for the touched rows, ``lr c``, and
    whether the touched rows owe ``A`` (see ``LazySparseStepper``).
    ``sample_weight`` is empty for equal weights (each row counts 1).
    ``center`` is empty without centring. The intercept, if any, is the last
    row of ``table``. Leaves rows pending: call :func:`finish` after.
    """
    cdef intp_t n_batches = starts.shape[0]
    cdef intp_t n_features = ws.last.shape[0]
    cdef int dim = table.shape[1]
    cdef intp_t k = table.shape[2]
    cdef bint centred = center.shape[0] > 0
    cdef bint weighted = sample_weight.shape[0] > 0
    cdef int[::1] last = ws.last
    cdef long long[::1] stamp = ws.stamp
    cdef int[::1] position = ws.position
    cdef double[:, :, ::1] Q = ws.Q
    cdef double[:, :, ::1] R = ws.R
    cdef double[:, ::1] mu_scores = ws.mu_scores

    # Scratch sized for the largest batch.
    cdef intp_t max_rows = 0, max_nnz = 0, b, i, r, e, nnz
    for b in range(n_batches):
        max_rows = max(max_rows, stops[b] - starts[b])
        nnz = 0
        for i in range(starts[b], stops[b]):
            nnz += indptr[order[i] + 1] - indptr[order[i]]
        max_nnz = max(max_nnz, nnz)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] G = np.zeros((max(max_rows, 1), k), dtype=dtype)
    cdef double[::1] row_loss = np.zeros(max(max_rows, 1))
    cdef intp_t[::1] cols = np.zeros(max(max_nnz, 1), dtype=np.intp)
    cdef intp_t[::1] bucket_start = np.zeros(max(max_nnz, 1) + 1, dtype=np.intp)
    cdef intp_t[::1] bucket_fill = np.zeros(max(max_nnz, 1), dtype=np.intp)
    cdef intp_t[::1] entry_row = np.zeros(max(max_nnz, 1), dtype=np.intp)
    cdef intp_t[::1] entry_at = np.zeros(max(max_nnz, 1), dtype=np.intp)
    cdef intp_t n_blk_max = (max(max_nnz, 1) + BLOCK - 1) // BLOCK
    cdef double[:, ::1] mu_dot_part = np.zeros((n_blk_max if centred else 1, k))
    cdef double[::1] grad_b = np.zeros(k)
    cdef double[::1] mu_dot = np.zeros(k)
    cdef double[:, ::1] offset = np.zeros((dim, k))
    cdef double[:, ::1] scratch = np.zeros((dim, k))
    cdef floating[:, ::1] grad_rows = np.zeros((n_threads, k), dtype=dtype)
    cdef double[::1] b_eff = np.zeros(k)

    cdef intp_t start, stop, m, n_touched, p, slot, j, c, d, l, pending, n_blk
    cdef intp_t blk, tid
    cdef int threads
    cdef long long now
    cdef double x, w, mu, total, a00, a01, a10, a11, rho, lr
    cdef floating* row
    cdef floating* grad
    cdef floating* srow
    cdef const double* A
    cdef const double* wts
    cdef bint owe
    cdef double center_sq = 0.0
    if centred:
        for j in range(n_features):
            center_sq += center[j] * center[j]

    for b in range(n_batches):
        if ws.pending == ws.max_pending:
            _finish(ws, table, center, n_threads)
            mu_scores = ws.mu_scores
        pending = ws.pending
        start = starts[b]
        stop = stops[b]
        m = stop - start
        A = &maps[b, 0, 0]
        wts = &weights[b, 0]
        owe = owes[b]
        with nogil:
            # 1. Positions of the touched features, and buckets of entries.
            ws.n_stamps += 1
            now = ws.n_stamps
            n_touched = 0
            e = 0
            for i in range(m):
                r = order[start + i]
                for slot in range(indptr[r], indptr[r + 1]):
                    j = indices[slot]
                    if stamp[j] != now:
                        stamp[j] = now
                        position[j] = n_touched
                        cols[n_touched] = j
                        bucket_fill[n_touched] = 0
                        n_touched += 1
                    bucket_fill[position[j]] += 1
                    e += 1
            nnz = e
            bucket_start[0] = 0
            for p in range(n_touched):
                bucket_start[p + 1] = bucket_start[p] + bucket_fill[p]
                bucket_fill[p] = bucket_start[p]
            for i in range(m):
                r = order[start + i]
                for slot in range(indptr[r], indptr[r + 1]):
                    p = position[indices[slot]]
                    entry_row[bucket_fill[p]] = i
                    entry_at[bucket_fill[p]] = slot
                    bucket_fill[p] += 1
            threads = n_threads if nnz * k > MIN_PARALLEL_WORK else 1
            n_blk = (n_touched + BLOCK - 1) // BLOCK

            # 2. Catch up the touched rows.
            for p in prange(n_touched, num_threads=threads, schedule="static"):
                j = cols[p]
                l = last[j]
                if l < pending:
                    _catch_up_row(&table[j, 0, 0], &Q[l, 0, 0],
                                  &R[l if centred else 0, 0, 0],
                                  center[j] if centred else 0.0, dim, k)

            # 3. Scores, loss and score gradient of each row.
            for c in range(k):
                b_eff[c] = table[n_features, 0, c] if fit_intercept else 0.0
                if centred:
                    b_eff[c] = b_eff[c] - mu_scores[0, c]
            for i in prange(m, num_threads=threads, schedule="static"):
                r = order[start + i]
                srow = &G[i, 0]
                for c in range(k):
                    srow[c] = <floating>b_eff[c]
                for slot in range(indptr[r], indptr[r + 1]):
                    x = data[slot]
                    row = &table[indices[slot], 0, 0]
                    for c in range(k):
                        srow[c] = srow[c] + <floating>x * row[c]
                w = sample_weight[r] if weighted else 1.0
                row_loss[i] = _loss_gradient(srow, k, y[r], loss_kind, delta, w,
                                             scales[b])
            total = 0.0
            for c in range(k):
                grad_b[c] = 0.0
            for i in range(m):
                total = total + row_loss[i]
                for c in range(k):
                    grad_b[c] = grad_b[c] + G[i, c]
            batch_loss[b] = total
            if centred:
                for d in range(dim):
                    for c in range(k):
                        offset[d, c] = lr_c[b, d] * grad_b[c]

            # 4. Gradient and update of each touched row, in blocks of
            # positions (the centring's reduction runs block by block).
            for blk in prange(n_blk, num_threads=threads, schedule="static"):
                tid = openmp.omp_get_thread_num()
                grad = &grad_rows[tid, 0]
                if centred:
                    for c in range(k):
                        mu_dot_part[blk, c] = 0.0
                for p in range(blk * BLOCK, min((blk + 1) * BLOCK, n_touched)):
                    j = cols[p]
                    for c in range(k):
                        grad[c] = 0
                    for e in range(bucket_start[p], bucket_start[p + 1]):
                        x = data[entry_at[e]]
                        srow = &G[entry_row[e], 0]
                        for c in range(k):
                            grad[c] = grad[c] + <floating>x * srow[c]
                    mu = center[j] if centred else 0.0
                    if centred:
                        for c in range(k):
                            mu_dot_part[blk, c] += mu * grad[c]
                    row = &table[j, 0, 0]
                    if owe:
                        last[j] = pending
                    else:
                        # Apply A now (and this step's centring term).
                        if dim == 1:
                            for c in range(k):
                                row[c] = <floating>(A[0] * row[c])
                        else:
                            for c in range(k):
                                a00 = row[c]
                                a01 = row[k + c]
                                row[c] = <floating>(A[0] * a00 + A[1] * a01)
                                row[k + c] = <floating>(A[2] * a00 + A[3] * a01)
                        if centred:
                            for d in range(dim):
                                for c in range(k):
                                    row[d * k + c] = <floating>(
                                        row[d * k + c] + mu * offset[d, c])
                        last[j] = pending + 1
                    for d in range(dim):
                        rho = wts[d]
                        for c in range(k):
                            row[d * k + c] = <floating>(row[d * k + c] + rho * grad[c])

            # 5. The intercept, mu_scores, R and Q.
            if centred:
                for c in range(k):
                    mu_dot[c] = 0.0
                for blk in range(n_blk):
                    for c in range(k):
                        mu_dot[c] = mu_dot[c] + mu_dot_part[blk, c]
                # mu_scores <- A mu_scores - lr c (mu . grad) + |mu|^2 offset
                for c in range(k):
                    for d in range(dim):
                        scratch[d, c] = mu_scores[d, c]
                for d in range(dim):
                    for c in range(k):
                        if dim == 1:
                            a00 = A[0] * scratch[0, c]
                        else:
                            a00 = A[d * 2] * scratch[0, c] + A[d * 2 + 1] * scratch[1, c]
                        mu_scores[d, c] = (a00 - lr_c[b, d] * mu_dot[c]
                                           + center_sq * offset[d, c])
                # R[l] <- A R[l] + offset for l <= pending; R[pending + 1] = 0.
                for l in prange(pending + 1, num_threads=threads, schedule="static"):
                    for c in range(k):
                        if dim == 1:
                            R[l, 0, c] = A[0] * R[l, 0, c] + offset[0, c]
                        else:
                            a00 = R[l, 0, c]
                            a01 = R[l, 1, c]
                            R[l, 0, c] = A[0] * a00 + A[1] * a01 + offset[0, c]
                            R[l, 1, c] = A[2] * a00 + A[3] * a01 + offset[1, c]
                for d in range(dim):
                    for c in range(k):
                        R[pending + 1, d, c] = 0.0
            for l in range(pending + 1):
                if dim == 1:
                    Q[l, 0, 0] = A[0] * Q[l, 0, 0]
                else:
                    a00 = Q[l, 0, 0]
                    a01 = Q[l, 0, 1]
                    a10 = Q[l, 1, 0]
                    a11 = Q[l, 1, 1]
                    Q[l, 0, 0] = A[0] * a00 + A[1] * a10
                    Q[l, 0, 1] = A[0] * a01 + A[1] * a11
                    Q[l, 1, 0] = A[2] * a00 + A[3] * a10
                    Q[l, 1, 1] = A[2] * a01 + A[3] * a11
            for d in range(dim):
                for c in range(dim):
                    Q[pending + 1, d, c] = 1.0 if d == c else 0.0
            if fit_intercept:
                row = &table[n_features, 0, 0]
                lr = lrs[b]
                for c in range(k):
                    x = lr * grad_b[c] * intercept_step
                    if dim == 1:
                        row[c] = <floating>(row[c] - x)
                    else:
                        row[k + c] = <floating>(momentum * row[k + c] - x)
                        if nesterov:
                            row[c] = <floating>(row[c] + momentum * row[k + c] - x)
                        else:
                            row[c] = <floating>(row[c] + row[k + c])
            ws.pending = pending + 1
