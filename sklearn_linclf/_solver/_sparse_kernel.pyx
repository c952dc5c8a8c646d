# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The lazy sparse minibatch step, compiled: one call runs a whole epoch.

See :mod:`sklearn_linclf._solver.sparse` for the algorithm; this module holds
its loops. Without momentum, :func:`epoch_scaled` (at the end of this module)
runs each minibatch in two parallel phases: scores, loss and score gradient
(parallel over rows), then the gradient written into the touched rows
(parallel over the owners of the features, each scanning the batch in row
order). With momentum, :func:`epoch` runs each minibatch (rows
``order[starts[b]:stops[b]]`` of a CSR matrix) in one OpenMP parallel region:

0. (parallel over ranges of rows) the batch's entries are dealt to the
   threads by the feature they touch (each thread owns whole groups of
   features, see :func:`_group`);
1. (parallel over owners) each thread gives its features a position in the
   batch, in order of first appearance, through a stamp per feature (no
   sort), buckets their entries by position (a counting sort, each bucket in
   row order), and catches each touched row up exactly:
   ``(p, v) <- Q[l] (p, v) + mu_j R[l]``;
2. (parallel over rows) scores, loss and score gradient ``G`` of each row;
3. (parallel over owners) the gradient of each touched row, summed over its
   bucket in row order, and its update;

then, serially, the intercept and the products ``Q``, ``R`` and
``mu_scores``.

Every sum has one fixed order whatever the number of threads (a row's scores
over its entries, a feature's gradient over the batch's rows, the centring's
sum over features per group in order of first appearance, then over the
groups), so the results do not depend on it. The table has shape
``(n_rows, dim, n_classes)``: the coefficients (``dim = 1``) and, with
momentum, the velocity (``dim = 2``) of a feature in one place, classes
contiguous.
"""

import numpy as np

cimport numpy as cnp
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, fabs, log

cimport openmp

cnp.import_array()

ctypedef fused floating:
    float
    double

ctypedef fused index_t:
    int
    long long

ctypedef cnp.intp_t intp_t

cdef extern from *:
    void __builtin_prefetch(const void *addr) nogil

cdef extern from "_fast_exp.h":
    int lc_exp_init(int use_vector) noexcept nogil
    void lc_exp_shifted_d(double *x, intp_t n, double shift) noexcept nogil
    void lc_exp_shifted_f(float *x, intp_t n, double shift) noexcept nogil

cdef extern from "_keep.h":
    double lc_keep_d(double x, int keep) noexcept nogil

lc_exp_init(1)

# The low half of a feature's tag: its position in the current batch.
cdef long long LOW_BITS = 0xFFFFFFFF

cdef enum:
    # Entries (or rows) ahead whose coefficients are fetched into the cache.
    PREFETCH = 8
    # Features are split between threads by group: runs of 16 consecutive
    # features, the group number taken modulo 64 (see _group and epoch).
    N_GROUPS = 64
    GROUP_MASK = 63
    GROUP_SHIFT = 4
    # Doubles of padding between per-thread rows: no cache line is shared.
    PAD = 16
    # Below this many multiply-adds per phase, a minibatch runs on one thread.
    MIN_PARALLEL_WORK = 20000
    # Entries of a row a part filters at a time for the features it owns.
    FILTER_CHUNK = 256
    # Rows per block of the sums when every row is rewritten.
    RESCALE_BLOCK = 4096

SOFTMAX = 0
HINGE = 1

def max_threads():
    """Threads OpenMP would use now (``OMP_NUM_THREADS``, threadpoolctl)."""
    return openmp.omp_get_max_threads()


cdef inline intp_t _group(intp_t j) noexcept nogil:
    """The group of feature ``j``: a fixed function of ``j`` alone."""
    return (j >> GROUP_SHIFT) & GROUP_MASK


cdef inline intp_t _owner(intp_t j, int threads) noexcept nogil:
    """The part (of ``threads``) that handles feature ``j``.

    Whole ranges of groups, so that neighbouring features (sharing cache
    lines of the table and the stamps) mostly belong to one thread.
    """
    return (_group(j) * threads) >> 6


cdef inline void _prefetch_row(const void* row, intp_t n_bytes) noexcept nogil:
    """Fetch every cache line holding a byte of ``row[:n_bytes]``."""
    cdef const char* line = <const char*>(<size_t>row & ~(<size_t>63))
    cdef const char* end = <const char*>row + n_bytes
    while line < end:
        __builtin_prefetch(line)
        line = line + 64


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


cdef inline unsigned char _any_nonzero(const floating* s, intp_t k) noexcept nogil:
    """Whether a score gradient row has a non-zero entry (it adds to the gradient)."""
    cdef intp_t c
    for c in range(k):
        if s[c] != 0:
            return 1
    return 0


cdef inline void _exp_shifted(floating* x, intp_t n, double shift) noexcept nogil:
    """``x[i] <- exp(x[i] - shift)``, computed in double (see ``_fast_exp.h``)."""
    if floating is float:
        lc_exp_shifted_f(x, n, shift)
    else:
        lc_exp_shifted_d(x, n, shift)


def use_vector_exp(bint enabled=True):
    """Use the vector ``exp`` where the processor allows it, or libm's (tests).

    The kernels use the vector one when the processor has AVX2 and FMA. Not
    to be called while a kernel runs.

    Returns
    -------
    bool
        Whether the vector ``exp`` is now used.
    """
    return bool(lc_exp_init(enabled))


def exp_shifted(floating[::1] x, double shift):
    """``x[i] <- exp(x[i] - shift)`` in place, as the softmax rows compute it.

    For the tests of the ``exp`` in use (see :func:`use_vector_exp`): the
    arguments ``x[i] - shift`` must not be positive.
    """
    if x.shape[0] == 0:
        return
    with nogil:
        _exp_shifted(&x[0], x.shape[0], shift)


cdef inline double _loss_gradient(
    floating* s, intp_t k, intp_t label, int loss_kind, double delta,
    double weight, double scale,
) noexcept nogil:
    """Overwrite the scores ``s`` by ``weight * scale * dL/ds``; return ``weight * L``."""
    cdef intp_t c
    cdef double top, total, loss, sy, margin, active, factor
    cdef int on
    if loss_kind == 0:  # softmax cross-entropy
        top = s[0]
        for c in range(1, k):
            if s[c] > top:
                top = s[c]
        sy = s[label] - top
        _exp_shifted(s, k, top)
        total = 0.0
        for c in range(k):
            total = total + s[c]
        loss = log(total) - sy
        factor = weight * scale / total
        for c in range(k):
            s[c] = <floating>(s[c] * factor)
        s[label] = <floating>(s[label] - weight * scale)
        return weight * loss
    # Weston-Watkins hinge; the strict inequality takes the subgradient 0
    # at a kink.
    # No branch in the class loop (whether a margin holds is as unpredictable
    # as the data): the label's score is set to -inf first, so that its
    # margin never holds (nor does a NaN one), and ``lc_keep_d`` keeps or
    # zeroes each term; adding 0 leaves the sums unchanged.
    sy = s[label]
    s[label] = -INFINITY
    loss = 0.0
    active = 0.0
    for c in range(k):
        margin = (<floating>(s[c] - sy)) + delta
        on = margin > 0
        loss = loss + lc_keep_d(margin, on)
        active = active + lc_keep_d(1.0, on)
        s[c] = <floating>lc_keep_d(weight * scale, on)
    s[label] = <floating>(-active * weight * scale)
    return weight * loss


cdef class Workspace:
    """The lazy bookkeeping of a solve's sparse epochs (see :mod:`.sparse`).

    ``last[j]``: the step feature ``j`` was last brought up to date at;
    ``Q[l]``, ``R[l]``: what a feature last current at step ``l`` owes;
    ``mu_scores``: ``mu^T (p, v)`` summed over the features (centring only);
    ``tag[j]``: the number of the last batch that touched ``j`` (high 32 bits,
    from ``n_stamps``) and ``j``'s position in it (low 32 bits), so that no
    array is reset between batches.
    """

    cdef public object last, tag, Q, R, mu_scores
    cdef public intp_t pending
    cdef public intp_t max_pending
    cdef public long long n_stamps

    def __init__(self, n_features, dim, n_classes, max_pending, centred):
        self.last = np.zeros(n_features, dtype=np.int32)
        self.tag = np.zeros(n_features, dtype=np.int64)
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
    double center_sq,
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
    whether the touched rows owe ``A`` (see :func:`.sparse._update_maps`).
    ``sample_weight`` is empty for equal weights (each row counts 1).
    ``center`` is empty without centring (``center_sq``: its squared norm,
    computed once by the caller). The intercept, if any, is the last
    row of ``table``. Leaves rows pending: call :func:`finish` after.
    """
    cdef intp_t n_batches = starts.shape[0]
    cdef intp_t n_features = ws.last.shape[0]
    cdef int dim = table.shape[1]
    cdef intp_t k = table.shape[2]
    cdef intp_t row_bytes = dim * k * sizeof(floating)
    cdef bint centred = center.shape[0] > 0
    cdef bint weighted = sample_weight.shape[0] > 0
    cdef int[::1] last = ws.last
    cdef long long[::1] tag = ws.tag
    cdef double[:, :, ::1] Q = ws.Q
    cdef double[:, :, ::1] R = ws.R
    cdef double[:, ::1] mu_scores = ws.mu_scores

    # Scratch sized for the largest batch; each part (see below) has its own
    # region of the per-feature and per-entry arrays.
    cdef intp_t max_rows = 0, max_nnz = 0, b, i, r, e, nnz
    for b in range(n_batches):
        max_rows = max(max_rows, stops[b] - starts[b])
        nnz = 0
        for i in range(starts[b], stops[b]):
            nnz += indptr[order[i] + 1] - indptr[order[i]]
        max_nnz = max(max_nnz, nnz)
    max_rows = max(max_rows, 1)
    max_nnz = max(max_nnz, 1)
    cdef intp_t n_parts = max(n_threads, 1)
    cdef intp_t region = max_nnz + 1
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] G = np.zeros((max_rows, k), dtype=dtype)
    cdef double[::1] row_loss = np.zeros(max_rows)
    # Whether a row's score gradient has a non-zero entry (a hinge row whose
    # margins all hold has none, and adds nothing to the gradient).
    cdef unsigned char[::1] active = np.zeros(max_rows, dtype=np.uint8)
    cdef intp_t[::1] cols = np.zeros(n_parts * region, dtype=np.intp)
    cdef intp_t[::1] own_count = np.zeros(n_parts, dtype=np.intp)
    cdef intp_t[::1] bucket_start = np.zeros(n_parts * region, dtype=np.intp)
    cdef intp_t[::1] bucket_fill = np.zeros(n_parts * region, dtype=np.intp)
    cdef int[::1] entry_row = np.zeros(n_parts * region, dtype=np.int32)
    cdef intp_t[::1] entry_at = np.zeros(n_parts * region, dtype=np.intp)
    # The batch's entries dealt to their parts: the rows are split into
    # `threads` ranges, and range t lists its entries of part o (in row order)
    # at split_at/split_row[t * region + split_start[t, o] : ... split_stop].
    cdef int[::1] split_row = np.zeros(n_parts * region, dtype=np.int32)
    cdef intp_t[::1] split_at = np.zeros(n_parts * region, dtype=np.intp)
    cdef intp_t[:, ::1] split_start = np.zeros((n_parts, n_parts + PAD), dtype=np.intp)
    cdef intp_t[:, ::1] split_stop = np.zeros((n_parts, n_parts + PAD), dtype=np.intp)
    cdef double[:, ::1] mu_dot_part = np.zeros((N_GROUPS, k + PAD))
    cdef double[::1] grad_b = np.zeros(k)
    cdef double[::1] mu_dot = np.zeros(k)
    cdef double[:, ::1] offset = np.zeros((dim, k))
    cdef double[:, ::1] scratch = np.zeros((dim, k))
    # Per part: a gradient row and the intercept's gradient (each part sums G
    # itself, in the same order: nothing is exchanged).
    cdef floating[:, ::1] grad_rows = np.zeros((n_parts, k + PAD), dtype=dtype)
    cdef double[:, ::1] part_grad_b = np.zeros((n_parts, k + PAD))
    cdef double[::1] b_eff = np.zeros(k)

    cdef intp_t start, stop, m, p, slot, j, c, d, l, pending, n_own, base
    cdef intp_t part, end, group, src, owner, row_lo, row_hi, at, n_active
    cdef int threads
    cdef long long now, t
    cdef double x, w, mu, total, a00, a01, a10, a11, rho, lr
    cdef floating* row
    cdef floating* grad
    cdef floating* srow
    cdef double* gb
    cdef const double* A
    cdef const double* wts
    cdef bint owe

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
            ws.n_stamps += 1
            now = ws.n_stamps << 32
            nnz = 0
            for i in range(m):
                r = order[start + i]
                nnz = nnz + indptr[r + 1] - indptr[r]
            threads = n_threads if nnz * k * dim > MIN_PARALLEL_WORK else 1
            for c in range(k):
                b_eff[c] = table[n_features, 0, c] if fit_intercept else 0.0
                if centred:
                    b_eff[c] = b_eff[c] - mu_scores[0, c]
            if centred:
                for group in range(N_GROUPS):
                    for c in range(k):
                        mu_dot_part[group, c] = 0.0

            # The touched features are split into `threads` parts by their
            # group (a fixed function of j, see _group), each part handled by
            # one thread from start to end. Sums over a feature's entries run
            # in row order, and the centring's sum over features runs per
            # group, in order of first appearance, then over the groups: the
            # results do not depend on the number of parts.
            with parallel(num_threads=threads):
                # 0. Deal the entries to their parts, rows split in ranges.
                for src in prange(threads, schedule="static", chunksize=1):
                    row_lo = src * m // threads
                    row_hi = (src + 1) * m // threads
                    for owner in range(threads):
                        split_stop[src, owner] = 0
                    for i in range(row_lo, row_hi):
                        r = order[start + i]
                        for slot in range(indptr[r], indptr[r + 1]):
                            split_stop[src, _owner(indices[slot], threads)] += 1
                    at = 0
                    for owner in range(threads):
                        split_start[src, owner] = at
                        at = at + split_stop[src, owner]
                        split_stop[src, owner] = split_start[src, owner]
                    for i in range(row_lo, row_hi):
                        r = order[start + i]
                        for slot in range(indptr[r], indptr[r + 1]):
                            owner = _owner(indices[slot], threads)
                            at = src * region + split_stop[src, owner]
                            split_at[at] = slot
                            split_row[at] = <int>i
                            split_stop[src, owner] += 1

                for part in prange(threads, schedule="static", chunksize=1):
                    base = part * region
                    # 1a. Positions of the part's features, in order of first
                    # appearance: tag[j] holds the batch's stamp and j's
                    # position; counts of entries per position. The ranges'
                    # lists, in range order, are the part's entries in row
                    # order.
                    n_own = 0
                    for src in range(threads):
                        end = src * region + split_stop[src, part]
                        for at in range(src * region + split_start[src, part], end):
                            if at + PREFETCH < end:
                                __builtin_prefetch(&tag[indices[split_at[at + PREFETCH]]])
                            j = indices[split_at[at]]
                            t = tag[j]
                            if t < now:
                                tag[j] = now | n_own
                                cols[base + n_own] = j
                                bucket_fill[base + n_own] = 0
                                p = n_own
                                n_own = n_own + 1
                            else:
                                p = t & LOW_BITS
                            bucket_fill[base + p] += 1
                    own_count[part] = n_own
                    # 1b. Buckets of entries per position, in row order.
                    bucket_start[base] = 0
                    for p in range(n_own):
                        bucket_start[base + p + 1] = (
                            bucket_start[base + p] + bucket_fill[base + p])
                        bucket_fill[base + p] = bucket_start[base + p]
                    for src in range(threads):
                        for at in range(src * region + split_start[src, part],
                                        src * region + split_stop[src, part]):
                            slot = split_at[at]
                            p = base + (tag[indices[slot]] & LOW_BITS)
                            entry_row[base + bucket_fill[p]] = split_row[at]
                            entry_at[base + bucket_fill[p]] = slot
                            bucket_fill[p] += 1
                    # 1c. Catch up the part's rows.
                    for p in range(base, base + n_own):
                        if p + PREFETCH < base + n_own:
                            _prefetch_row(&table[cols[p + PREFETCH], 0, 0], row_bytes)
                        j = cols[p]
                        l = last[j]
                        if l < pending:
                            _catch_up_row(&table[j, 0, 0], &Q[l, 0, 0],
                                          &R[l if centred else 0, 0, 0],
                                          center[j] if centred else 0.0, dim, k)

                # 2. Scores, loss and score gradient of each row.
                for i in prange(m, schedule="static"):
                    r = order[start + i]
                    srow = &G[i, 0]
                    for c in range(k):
                        srow[c] = <floating>b_eff[c]
                    end = indptr[r + 1]
                    for slot in range(indptr[r], end):
                        if slot + PREFETCH < end:
                            _prefetch_row(&table[indices[slot + PREFETCH], 0, 0],
                                          k * sizeof(floating))
                        x = data[slot]
                        row = &table[indices[slot], 0, 0]
                        for c in range(k):
                            srow[c] = srow[c] + <floating>x * row[c]
                    w = sample_weight[r] if weighted else 1.0
                    row_loss[i] = _loss_gradient(srow, k, y[r], loss_kind, delta, w,
                                                 scales[b])
                    active[i] = _any_nonzero(srow, k)

                # 3. Gradient and update of each part's rows.
                for part in prange(threads, schedule="static", chunksize=1):
                    base = part * region
                    n_own = own_count[part]
                    grad = &grad_rows[part, 0]
                    gb = &part_grad_b[part, 0]
                    if centred and not owe:
                        # The step's intercept gradient, for the offset term.
                        for c in range(k):
                            gb[c] = 0.0
                        for i in range(m):
                            for c in range(k):
                                gb[c] = gb[c] + G[i, c]
                    for p in range(base, base + n_own):
                        if p + PREFETCH < base + n_own:
                            _prefetch_row(&table[cols[p + PREFETCH], 0, 0], row_bytes)
                        j = cols[p]
                        for c in range(k):
                            grad[c] = 0
                        n_active = 0
                        for e in range(base + bucket_start[p], base + bucket_start[p + 1]):
                            if not active[entry_row[e]]:
                                continue
                            n_active = n_active + 1
                            x = data[entry_at[e]]
                            srow = &G[entry_row[e], 0]
                            for c in range(k):
                                grad[c] = grad[c] + <floating>x * srow[c]
                        if n_active == 0 and owe:
                            # No gradient: the row owes this step's map, like
                            # the rows the batch does not touch.
                            last[j] = pending
                            continue
                        mu = center[j] if centred else 0.0
                        if centred:
                            group = _group(j)
                            for c in range(k):
                                mu_dot_part[group, c] += mu * grad[c]
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
                                            row[d * k + c] + mu * (lr_c[b, d] * gb[c]))
                            last[j] = pending + 1
                        for d in range(dim):
                            rho = wts[d]
                            for c in range(k):
                                row[d * k + c] = <floating>(row[d * k + c] + rho * grad[c])

            # Serially: the loss, the intercept, mu_scores, R and Q.
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
                for c in range(k):
                    mu_dot[c] = 0.0
                for group in range(N_GROUPS):
                    for c in range(k):
                        mu_dot[c] = mu_dot[c] + mu_dot_part[group, c]
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
                for l in range(pending + 1):
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


def gather_axpy_seconds(floating[:, ::1] rows, const int[::1] picks, double x,
                        intp_t ahead=0, int n_threads=1):
    """Seconds of ``s += x * rows[j]`` for every ``j`` in ``picks``.

    The inner loop of the sparse step's scores and gradient, alone: with a
    small ``rows`` (in cache) it measures the machine's rate for this shape,
    the rate behind the benchmark's arithmetic bound; with a table as large
    as a model's and ``picks`` the indices of a data set's entries, the time
    of one read of each entry's coefficient row. ``ahead > 0`` fetches every
    cache line of the row ``ahead`` picks on. With ``n_threads > 1`` the
    picks are cut into that many runs, one per thread, each summed into its
    own ``s``: what the machine allows this loop on more cores, with no
    synchronisation at all. Returns ``(seconds, checksum)``; the checksum
    keeps the compiler from dropping the loop.
    """
    cdef intp_t k = rows.shape[1]
    cdef intp_t n = picks.shape[0]
    cdef intp_t e, c, part, lo, hi
    cdef intp_t row_bytes = k * sizeof(floating)
    cdef int parts = max(n_threads, 1)
    # One accumulator per thread, PAD apart: no cache line is shared.
    cdef intp_t stride = k + PAD
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] sums = np.zeros(parts * stride, dtype=dtype)
    cdef floating* s
    cdef floating* row
    cdef floating xf = <floating>x
    cdef double clock, checksum = 0.0
    with nogil:
        clock = openmp.omp_get_wtime()
        for part in prange(parts, num_threads=parts, schedule="static", chunksize=1):
            s = &sums[part * stride]
            lo = n * part // parts
            hi = n * (part + 1) // parts
            for e in range(lo, hi):
                if ahead > 0 and e + ahead < hi:
                    _prefetch_row(&rows[picks[e + ahead], 0], row_bytes)
                row = &rows[picks[e], 0]
                for c in range(k):
                    s[c] = s[c] + xf * row[c]
        clock = openmp.omp_get_wtime() - clock
        for c in range(parts * stride):
            checksum = checksum + sums[c]
    return clock, checksum


# --------------------------------------------------------------------------
# Without momentum: a scale instead of the lazy catch-up.
#
# With one coefficient row per feature (dim = 1), the map every row feels at
# a step is the shrink ``a = 1 - 2 lr alpha`` and, when centred, the offset
# ``mu_j o`` (``o = lr c 1^T G``, one vector for all rows). So the rows are
# stored as ``W_j = scale V_j + mu_j shift``: a step multiplies ``scale`` by
# ``a``, carries ``shift <- a shift + o`` (both O(n_classes)), and writes only
# the rows it touches, ``V_j += -(lr c / scale) g_j``. No row is ever behind:
# a minibatch reads the row of each of its entries once for the scores and
# writes it once for the gradient, with no positions, buckets or catch-up.
#
# A product of 2 x 2 momentum maps grows ill-conditioned over the steps (the
# velocity decays), so the momentum path keeps the lazy catch-up above.

cdef class ScaledWorkspace:
    """The shared factors of a solve's sparse epochs without momentum.

    Feature ``j``'s coefficients are ``scale * table[j] + center[j] * shift``
    (``j < n_features``; the intercept row, if any, is stored as it is).
    ``mu_v`` is ``sum_j center[j] * table[j]`` (centring only); ``row_mu``
    holds ``X @ center`` for the CSR matrix ``rows`` (set by the caller,
    once per solve: the scores need it for every row of every epoch, and a
    lookup of ``center`` per entry costs a random read). ``steps``
    counts the steps since the rows last held the coefficients themselves; at
    ``max_steps`` every row is rewritten, which also clears the rounding that
    ``mu_v`` gathers from being updated step by step.
    """

    cdef public double scale
    cdef public object shift, mu_v, sums, row_mu, rows
    cdef public intp_t n_features, steps, max_steps

    def __init__(self, n_features, n_classes, max_steps):
        self.n_features = n_features
        self.scale = 1.0
        self.shift = np.zeros(n_classes)
        self.mu_v = np.zeros(n_classes)
        self.steps = 0
        self.max_steps = max_steps
        self.row_mu = np.zeros(0)
        self.rows = None
        # Scratch of the rewrite: per block of rows (see _rescale), its sum of
        # squares and its sums of center[j] table[j].
        n_blocks = max(-(-n_features // RESCALE_BLOCK), 1)
        self.sums = np.zeros(n_blocks * (1 + n_classes))


def finish_scaled(ScaledWorkspace ws, floating[:, :, ::1] table,
                  const double[::1] center, int n_threads):
    """Write the coefficients themselves into the rows; return ``sum ||W_j||^2``.

    Afterwards ``scale = 1``, ``shift = 0`` and ``mu_v`` is recomputed from
    the rows.
    """
    cdef double[::1] shift = ws.shift
    cdef double[::1] mu_v = ws.mu_v
    cdef double[::1] sums = ws.sums
    cdef double total
    with nogil:
        total = _rescale(table, ws.n_features, center, ws.scale, shift, mu_v,
                         sums, n_threads)
    ws.scale = 1.0
    ws.steps = 0
    return total


cdef double _rescale(
    floating[:, :, ::1] table,
    intp_t n_features,
    const double[::1] center,
    double scale,
    double[::1] shift,
    double[::1] mu_v,
    double[::1] sums,
    int n_threads,
) noexcept nogil:
    """``table[j] <- scale table[j] + center[j] shift`` for every feature ``j``.

    Sets ``shift`` to 0 and ``mu_v`` to ``sum_j center[j] table[j]``; returns
    ``sum ||table[j]||^2``. Sums run in fixed blocks of rows, then over the
    blocks, whatever the number of threads.
    """
    cdef intp_t k = table.shape[2]
    cdef bint centred = center.shape[0] > 0
    cdef intp_t block_rows = RESCALE_BLOCK
    cdef intp_t n_blocks = (n_features + block_rows - 1) // block_rows
    cdef intp_t n_sums = max(n_blocks, 1)
    cdef intp_t blk, j, c
    cdef double acc, mu, total = 0.0
    cdef floating* row
    cdef double* mu_part
    cdef int threads = n_threads if n_features * k > MIN_PARALLEL_WORK else 1
    for j in range(sums.shape[0]):
        sums[j] = 0.0
    for blk in prange(n_blocks, num_threads=threads, schedule="static"):
        acc = 0.0
        mu_part = &sums[n_sums + blk * k]
        for j in range(blk * block_rows, min((blk + 1) * block_rows, n_features)):
            row = &table[j, 0, 0]
            mu = center[j] if centred else 0.0
            for c in range(k):
                row[c] = <floating>(scale * row[c] + mu * shift[c])
                acc = acc + (<double>row[c]) * row[c]
            if centred:
                for c in range(k):
                    mu_part[c] = mu_part[c] + mu * row[c]
        sums[blk] = acc
    for c in range(k):
        shift[c] = 0.0
        mu_v[c] = 0.0
    for blk in range(n_blocks):
        total = total + sums[blk]
        for c in range(k):
            mu_v[c] = mu_v[c] + sums[n_sums + blk * k + c]
    return total


def epoch_scaled(
    ScaledWorkspace ws,
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
    const double[::1] shrinks,
    const double[::1] lr_c,
    floating[:, :, ::1] table,
    const double[::1] center,
    const double[::1] row_mu,
    double center_sq,
    bint fit_intercept,
    double intercept_step,
    int loss_kind,
    double delta,
    int n_threads,
    double[::1] batch_loss,
):
    """Run the minibatches without momentum; ``batch_loss[b]`` gets ``sum_i w_i L_i``.

    ``shrinks[b]`` and ``lr_c[b]``: batch ``b``'s ``a = 1 - 2 lr alpha`` and
    ``lr c``. ``table`` has shape ``(n_rows, 1, n_classes)``; its intercept
    row, if any, is the last; ``row_mu`` is ``X @ center`` (empty without
    centring). The other arguments are those of :func:`epoch`. Leaves the
    rows scaled: call :func:`finish_scaled` after.
    """
    cdef intp_t n_batches = starts.shape[0]
    cdef intp_t n_features = ws.n_features
    cdef intp_t k = table.shape[2]
    cdef intp_t row_bytes = k * sizeof(floating)
    cdef bint centred = center.shape[0] > 0
    cdef bint weighted = sample_weight.shape[0] > 0
    cdef double[::1] shift = ws.shift
    cdef double[::1] mu_v = ws.mu_v
    cdef double[::1] sums = ws.sums
    # Rows whose scaled coefficients would leave the dtype's range are
    # rewritten first (a shrink of 0 included).
    cdef double tiny = 1e-20 if floating is float else 1e-150

    cdef intp_t max_rows = 1, b
    for b in range(n_batches):
        max_rows = max(max_rows, stops[b] - starts[b])
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] G = np.zeros((max_rows, k), dtype=dtype)
    cdef double[::1] row_loss = np.zeros(max_rows)
    # Whether a row's score gradient has a non-zero entry (a hinge row whose
    # margins all hold has none, and adds nothing to the gradient).
    cdef unsigned char[::1] active = np.zeros(max_rows, dtype=np.uint8)
    cdef double[::1] grad_b = np.zeros(k)
    cdef double[::1] grad_mu = np.zeros(k)
    cdef double[::1] bias = np.zeros(k)

    cdef intp_t[::1] own_slots = np.zeros(
        max(n_threads, 1) * (FILTER_CHUNK + PAD), dtype=np.intp)
    cdef intp_t start, stop, m, i, r, slot, end, c, j, part, nnz, lo, hi, e, n_own
    cdef intp_t* own
    cdef int threads
    cdef double x, w, scale, new_scale, coef, total, lr, xmu
    cdef floating f
    cdef floating* row
    cdef floating* srow
    cdef floating* intercept = &table[n_features, 0, 0] if fit_intercept else NULL

    for b in range(n_batches):
        if ws.steps == ws.max_steps:
            with nogil:
                _rescale(table, n_features, center, ws.scale, shift, mu_v, sums,
                         n_threads)
            ws.scale = 1.0
            ws.steps = 0
        scale = ws.scale
        start = starts[b]
        stop = stops[b]
        m = stop - start
        with nogil:
            nnz = 0
            for i in range(m):
                r = order[start + i]
                nnz = nnz + indptr[r + 1] - indptr[r]
            threads = n_threads if nnz * k > MIN_PARALLEL_WORK else 1
            # Score = scale (x . V) + (x . mu - |mu|^2) shift - scale mu_v + b.
            for c in range(k):
                bias[c] = (intercept[c] if fit_intercept else 0.0) - scale * mu_v[c]

            # 1. Scores, loss and score gradient of each row.
            for i in prange(m, num_threads=threads, schedule="static"):
                # Ahead of use: the entries of the row after next, and the
                # coefficients of the next row's first entries, every cache
                # line of their rows (against the first line alone: 0.84-0.97x
                # the epoch time on the 1M-column set, whose table is in
                # memory, and no slower on the others).
                if i + 2 < m:
                    r = order[start + i + 2]
                    nnz = indptr[r + 1] - indptr[r]
                    _prefetch_row(&indices[indptr[r]], nnz * sizeof(index_t))
                    _prefetch_row(&data[indptr[r]], nnz * sizeof(floating))
                if i + 1 < m:
                    r = order[start + i + 1]
                    for slot in range(indptr[r], min(indptr[r] + PREFETCH, indptr[r + 1])):
                        _prefetch_row(&table[indices[slot], 0, 0], row_bytes)
                r = order[start + i]
                srow = &G[i, 0]
                for c in range(k):
                    srow[c] = 0
                end = indptr[r + 1]
                for slot in range(indptr[r], end):
                    if slot + PREFETCH < end:
                        _prefetch_row(&table[indices[slot + PREFETCH], 0, 0],
                                      row_bytes)
                    x = data[slot]
                    row = &table[indices[slot], 0, 0]
                    for c in range(k):
                        srow[c] = srow[c] + <floating>x * row[c]
                xmu = row_mu[r] - center_sq if centred else 0.0
                for c in range(k):
                    srow[c] = <floating>(scale * srow[c] + bias[c] + xmu * shift[c])
                w = sample_weight[r] if weighted else 1.0
                row_loss[i] = _loss_gradient(srow, k, y[r], loss_kind, delta, w,
                                             scales[b])
                active[i] = _any_nonzero(srow, k)

            # Serially: the loss, 1^T G, mu^T g and the new factors.
            total = 0.0
            for c in range(k):
                grad_b[c] = 0.0
                grad_mu[c] = 0.0
            for i in range(m):
                total = total + row_loss[i]
                if active[i]:
                    xmu = row_mu[order[start + i]] if centred else 0.0
                    for c in range(k):
                        grad_b[c] = grad_b[c] + G[i, c]
                        grad_mu[c] = grad_mu[c] + xmu * G[i, c]
            batch_loss[b] = total
            new_scale = shrinks[b] * scale
            if centred:
                for c in range(k):
                    shift[c] = shrinks[b] * shift[c] + lr_c[b] * grad_b[c]
            if fabs(new_scale) < tiny:
                _rescale(table, n_features, center, new_scale, shift, mu_v, sums,
                         n_threads)
                new_scale = 1.0
            coef = -lr_c[b] / new_scale
            if centred:
                for c in range(k):
                    mu_v[c] = mu_v[c] + coef * grad_mu[c]

            # 2. The gradient, written into the touched rows: each part scans
            # the batch in row order and updates the features it owns. A row's
            # entries are filtered in chunks into the part's list first (no
            # branch on the owner, which is as good as random).
            for part in prange(threads, num_threads=threads, schedule="static",
                               chunksize=1):
                own = &own_slots[part * (FILTER_CHUNK + PAD)]
                for i in range(m):
                    if not active[i]:
                        continue
                    r = order[start + i]
                    srow = &G[i, 0]
                    lo = indptr[r]
                    end = indptr[r + 1]
                    while lo < end:
                        hi = min(lo + FILTER_CHUNK, end)
                        n_own = 0
                        for slot in range(lo, hi):
                            own[n_own] = slot
                            n_own = n_own + (_owner(indices[slot], threads) == part)
                        for e in range(n_own):
                            if e + PREFETCH < n_own:
                                __builtin_prefetch(
                                    &table[indices[own[e + PREFETCH]], 0, 0])
                            slot = own[e]
                            f = <floating>(coef * data[slot])
                            row = &table[indices[slot], 0, 0]
                            for c in range(k):
                                row[c] = row[c] + f * srow[c]
                        lo = hi

            if fit_intercept:
                lr = lrs[b] * intercept_step
                for c in range(k):
                    intercept[c] = <floating>(intercept[c] - lr * grad_b[c])
        ws.scale = new_scale
        ws.steps += 1
