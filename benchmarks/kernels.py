"""The compiled kernels against their targets, side by side with the peers.

``python -m benchmarks.kernels [--quick] [--datasets NAME ...]`` measures, in
one run:

- the machine's rate for the sparse step's inner loop (``s += x * W[j]`` over
  the classes, rows in cache, one thread), and from it the arithmetic bound of
  a sparse epoch, ``2 nnz k`` multiply-adds (scores and gradient) at that rate;
- per sparse data set, the time of one read of each entry's coefficient row
  with the whole table in memory (the same loop over the data's own entries,
  best read-ahead): the memory part no sparse epoch can avoid;
- the same two loops cut in two halves, one per thread, with no
  synchronisation at all: the speed-up the machine's cores and memory give
  this loop, the ceiling against which to read an epoch's two-thread
  speed-up;
- per sparse data set, the epoch time of our two estimators with one and two
  OpenMP threads (from the fit's own per-epoch time stamps, so validation and
  setup are left out), whether the two give bitwise equal models, and the
  marginal epoch time (``(t(1 + m epochs) - t(1 epoch)) / m``) of
  ``SGDClassifier(n_jobs=2)`` with the matching loss, the three taking turns;
- the cost of width: 1 000 000 against 100 000 columns at equal non-zeros
  (the two synthetic sets, taking turns);
- the fixed cost of a dense minibatch: 2-column data, marginal epoch time
  per batch (an epoch of ~4 ms is too short for the millisecond stamps).

It writes ``kernels.md`` / ``kernels.json`` (``*_quick.*`` with ``--quick``)
under ``benchmarks/results`` and prints the raw measurements as it goes.
"""

import argparse
import contextlib
import io
import json
import os
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from threadpoolctl import threadpool_info, threadpool_limits

from sklearn_linclf import HingeClassifier, SoftmaxClassifier
from sklearn_linclf._solver import _sparse_kernel

from . import datasets as datasets_module
from .machine import code_version, describe
from .profile_fit import _EPOCH_LINE
from .run import RESULTS_DIR
from .tta import ALPHA as TEXT_ALPHA

OURS = {"softmax": SoftmaxClassifier, "hinge": HingeClassifier}
PEER_LOSS = {"softmax": "log_loss", "hinge": "hinge"}
# The narrow and the wide synthetic set of the width comparison.
WIDTH_SETS = ("sparse-100k", "sparse-1000k")


def inner_loop_rates(
    n_classes, dtype, threads=(1, 2), n_entries=4_000_000, repeats=5, seed=0
):
    """Multiply-adds per second of the sparse step's inner loop, rows in cache.

    One rate per thread count of ``threads`` (the counts taking turns); the
    entries are shared out between the threads.
    """
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((256, n_classes)).astype(dtype)
    picks = rng.integers(0, 256, size=n_entries).astype(np.int32)
    best = dict.fromkeys(threads, np.inf)
    for _ in range(repeats):
        for n_threads in threads:
            seconds, _ = _sparse_kernel.gather_axpy_seconds(
                rows, picks, 0.5, 0, n_threads
            )
            best[n_threads] = min(best[n_threads], seconds)
    return {n_threads: n_entries * n_classes / seconds
            for n_threads, seconds in best.items()}


def read_inputs(X, n_classes, seed=0):
    """The input of :func:`read_floors` for ``X``: ``(picks, table)``.

    ``picks``: the column indices of ``X``'s entries, its rows in a random
    order (as an epoch meets them); ``table``: a random ``(n_features,
    n_classes)`` array of ``X``'s dtype.
    """
    rng = np.random.default_rng(seed)
    picks = X[rng.permutation(X.shape[0])].indices.astype(np.int32)
    table = rng.standard_normal((X.shape[1], n_classes)).astype(X.dtype)
    return picks, table


def read_floors(inputs, aheads=(0, 8, 16, 32), repeats=5, threads=None):
    """Seconds of one read of each entry's coefficient row, and the best read-ahead.

    For each ``(picks, table)`` of ``inputs`` (see :func:`read_inputs`):
    ``s += x * table[j]`` over the picks, the best over a few read-ahead
    distances (every cache line of the row that many entries on, 0: none)
    and the repeats, on ``threads[i]`` threads for input ``i`` (one thread
    each by default; the picks shared out). The inputs take turns, so that a
    ratio of two of them is measured in the same stretch of time. A sparse
    epoch reads each entry's row at least this once (its second touch, the
    update, finds the row in cache), so this is the memory part of an epoch
    without the arithmetic of the update or the loss.
    """
    threads = [1] * len(inputs) if threads is None else threads
    best = [{} for _ in inputs]
    for _ in range(repeats):
        for ahead in aheads:
            for seconds_by_ahead, (picks, table), n_threads in zip(
                best, inputs, threads, strict=True
            ):
                seconds, _ = _sparse_kernel.gather_axpy_seconds(
                    table, picks, 0.5, ahead, n_threads
                )
                seconds_by_ahead[ahead] = min(
                    seconds_by_ahead.get(ahead, np.inf), seconds
                )
    out = []
    for seconds_by_ahead in best:
        ahead = min(seconds_by_ahead, key=seconds_by_ahead.get)
        out.append((seconds_by_ahead[ahead], ahead))
    return out


def _fit_seconds(make, X, y, max_iter, threads=None):
    """Seconds of ``make(max_iter).fit(X, y)`` and the model, OpenMP at ``threads``."""
    est = make(max_iter)
    with warnings.catch_warnings(), threadpool_limits(threads, user_api="openmp"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - start, est


def _our_epochs(make, X, y, epochs, threads=None):
    """Seconds of each epoch after the first of one of our fits, and the model.

    From the time stamps of ``verbose=1`` (ms), so the fit's setup is left
    out; so is the first epoch, which first touches the coefficient table.
    """
    est = make(1 + epochs).set_params(verbose=1)
    out = io.StringIO()
    with (
        warnings.catch_warnings(),
        threadpool_limits(threads, user_api="openmp"),
        contextlib.redirect_stdout(out),
    ):
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    stamps = [float(t) for _, t in _EPOCH_LINE.findall(out.getvalue())]
    if len(stamps) != 1 + epochs:
        raise RuntimeError(f"expected {1 + epochs} epoch lines, got:\n{out.getvalue()}")
    return np.diff(stamps), est


def epoch_seconds(settings, repeats=3, stamps=True):
    """Seconds of an epoch of several fits, measured taking turns.

    ``settings`` maps a label to ``(make, X, y, threads, epochs)``: the
    estimator factory (``make(max_iter)``), its data, the OpenMP thread limit
    (None: no limit) and ``m``. Returns, per label, the seconds and the last
    model. The labels take turns within each repeat, so a ratio of two of them
    compares the same stretch of a shared machine's time: measured one after
    the other, two settings were minutes apart, and the load of the other
    guests changes on that scale (the same fit measured twice differed by
    2x).

    Our estimators (with ``stamps``): the median of the ``m`` epochs after
    the first of a fit (from its ``verbose`` time stamps, so setup is left
    out and one disturbed epoch does not count), the least over the repeats.
    Other estimators: the marginal epoch ``(min t(1 + m) - min t(1)) / m``
    over the repeats, each minimum taken on its own (noise only ever adds
    time, so the minimum of each is its best estimate; the best of the
    per-repeat differences, used before, was biased low: one slow 1-epoch fit
    made a difference small, once a quarter of the typical value).
    """
    best = dict.fromkeys(settings, np.inf)
    short = dict.fromkeys(settings, np.inf)
    models = {}
    stamped = {
        label for label, (make, *_) in settings.items()
        if stamps and isinstance(make(1), tuple(OURS.values()))
    }
    for _ in range(repeats):
        for label, (make, X, y, threads, epochs) in settings.items():
            if label in stamped:
                times, models[label] = _our_epochs(make, X, y, epochs, threads)
                best[label] = min(best[label], float(np.median(times)))
            else:
                one, _ = _fit_seconds(make, X, y, 1, threads)
                more, models[label] = _fit_seconds(make, X, y, 1 + epochs, threads)
                short[label] = min(short[label], one)
                best[label] = min(best[label], more)
    return {
        label: (
            best[label] if np.isinf(short[label])
            else _marginal(best[label], short[label], settings[label][4]),
            models[label],
        )
        for label in settings
    }


def _marginal(long_fit, short_fit, epochs):
    """``(long_fit - short_fit) / epochs``; NaN if not positive (a fit too short
    for the clock to tell its epochs from noise, as with ``--quick``)."""
    seconds = (long_fit - short_fit) / epochs
    return seconds if seconds > 0 else float("nan")


def marginal_epoch(make, X, y, epochs=3, repeats=3):
    """``(min t(1 + epochs) - min t(1)) / epochs`` over ``repeats``, and the last model.

    The marginal epoch of :func:`epoch_seconds`, for one fit, no thread limit.
    """
    return epoch_seconds({0: (make, X, y, None, epochs)}, repeats, stamps=False)[0]


def ours(name, alpha):
    return lambda max_iter: OURS[name](
        alpha=alpha, max_iter=max_iter, tol=None, random_state=0
    )


def peer(name, alpha):
    return lambda max_iter: SGDClassifier(
        loss=PEER_LOSS[name], alpha=alpha, max_iter=max_iter, tol=None,
        n_jobs=2, random_state=0,
    )


def sparse_entry(ds, alpha, epochs, repeats=3, log=print):
    X, y = ds.X_train, ds.y_train
    k = np.unique(y).size
    rates = inner_loop_rates(k, X.dtype)
    rate = rates[1]
    bound = 2 * X.nnz * k / rate
    inputs = read_inputs(X, k)
    (floor, ahead), (floor_2, ahead_2) = read_floors([inputs, inputs], threads=[1, 2])
    entry = {
        "dataset": ds.name, "description": ds.description, "n_samples": X.shape[0],
        "n_features": X.shape[1], "nnz": int(X.nnz), "n_classes": int(k),
        "alpha": alpha, "inner_loop_rate": rate, "bound_seconds": bound,
        "inner_loop_rate_2_threads": rates[2],
        "inner_loop_speedup": rates[2] / rate,
        "read_floor_seconds": floor, "read_floor_ahead": ahead,
        "read_floor_seconds_2_threads": floor_2, "read_floor_ahead_2_threads": ahead_2,
        "read_speedup": floor / floor_2,
        "estimators": {},
        # Kept for the width's paired measurement, not written out.
        "_read_inputs": inputs,
    }
    log(f"{ds.name}: {X.shape[0]} x {X.shape[1]}, nnz {X.nnz}, {k} classes; inner "
        f"loop {rate / 1e9:.2f} G multiply-adds/s, bound {bound:.3f} s/epoch; one "
        f"read of each entry's row {floor:.3f} s (read-ahead {ahead}); two "
        f"threads: the loop in cache x{rates[2] / rate:.2f}, the read "
        f"{floor_2:.3f} s (x{floor / floor_2:.2f}, read-ahead {ahead_2})")
    for name in OURS:
        # Our two thread limits and the peer take turns (see epoch_seconds).
        measured = epoch_seconds({
            1: (ours(name, alpha), X, y, 1, epochs),
            2: (ours(name, alpha), X, y, 2, epochs),
            "sgd": (peer(name, alpha), X, y, None, max(1, epochs // 2)),
        }, repeats)
        times = {n: measured[n][0] for n in (1, 2)}
        models = {n: measured[n][1] for n in (1, 2)}
        sgd = measured["sgd"][0]
        same = bool(
            np.array_equal(models[1].coef_, models[2].coef_)
            and np.array_equal(models[1].intercept_, models[2].intercept_)
        )
        entry["estimators"][name] = {
            "epoch_1_thread": times[1], "epoch_2_threads": times[2],
            "thread_speedup": times[1] / times[2], "same_model": same,
            "sgd_epoch_n_jobs_2": sgd, "ratio_to_sgd": times[2] / sgd,
            "ratio_to_bound": times[2] / bound,
        }
        log(f"  {name}: epoch {times[1]:.3f} s (1 thread), {times[2]:.3f} s "
            f"(2 threads; x{times[1] / times[2]:.2f}, same model: {same}); "
            f"SGDClassifier(n_jobs=2) {sgd:.3f} s -> ratio {times[2] / sgd:.2f}; "
            f"{times[2] / bound:.2f} x bound")
    return entry


def width_entry(narrow, wide, narrow_data, wide_data, epochs, repeats=3, log=print):
    """Epoch time of the wide set against the narrow one (equal non-zeros per row).

    ``narrow`` and ``wide`` are entries of :func:`sparse_entry` for the same
    synthetic rows with 100 000 and 1 000 000 columns (2 000 and 20 000 with
    ``--quick``), ``narrow_data`` and ``wide_data`` their ``(X, y)``. Both
    epochs are measured again, two OpenMP threads, the two sets taking turns:
    a ratio of two measurements made minutes apart varies by 2x on a busy
    host. So are the reads of each entry's row.
    """
    by_name = {}
    for name in OURS:
        make = ours(name, narrow["alpha"])
        measured = epoch_seconds({
            "narrow": (make, *narrow_data, 2, epochs),
            "wide": (make, *wide_data, 2, epochs),
        }, repeats)
        by_name[name] = [measured["narrow"][0], measured["wide"][0]]
    ratios = {name: wide_s / narrow_s
              for name, (narrow_s, wide_s) in by_name.items()}
    floors = [
        seconds
        for seconds, _ in read_floors([narrow["_read_inputs"], wide["_read_inputs"]])
    ]
    log(f"width {wide['n_features']} / {narrow['n_features']} columns, taking turns: "
        f"epochs {by_name}, ratios {ratios}; one read of each entry's row: "
        f"{floors[0]:.3f} s and {floors[1]:.3f} s, ratio {floors[1] / floors[0]:.2f}")
    return {
        "read_floor_seconds": floors,
        "read_floor_ratio": floors[1] / floors[0],
        "narrow": narrow["dataset"], "wide": wide["dataset"],
        "columns": [narrow["n_features"], wide["n_features"]],
        "nnz": [narrow["nnz"], wide["nnz"]],
        "epoch_seconds": by_name,
        "ratio": ratios,
    }


def dense_fixed_cost(
    n_samples=100_000, batch_size=256, epochs=10, repeats=5, log=print
):
    """Seconds per dense minibatch on 2-column data (the per-batch overhead).

    An epoch is ~4 ms here, so a descheduling of a few ms moves one
    measurement by half: the best of ``repeats`` is kept.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, 2))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    n_batches = -(-n_samples // batch_size)
    out = {}
    for name in OURS:
        make = lambda max_iter, cls=OURS[name]: cls(  # noqa: E731
            max_iter=max_iter, tol=None, batch_size=batch_size, random_state=0
        )
        seconds, _ = marginal_epoch(make, X, y, epochs, repeats)
        out[name] = seconds / n_batches
        log(f"dense fixed cost ({name}): {out[name] * 1e6:.1f} us per minibatch")
    return out


def sparse_datasets(names, quick):
    """``(name, loader, alpha)``: the synthetic sets, else a real text corpus."""
    registry = datasets_module.registry(quick=quick)
    for name in names:
        if name in registry:
            yield name, registry[name], 1e-6
        else:
            from .text_corpus import load_text_corpus

            kw = dict(max_train=5_000, max_test=100) if quick else {}
            loader = lambda name=name, kw=kw: load_text_corpus(name, **kw)  # noqa: E731
            yield name, loader, TEXT_ALPHA.get(name, 1e-6)


def markdown(results):
    lines = [
        "# Compiled kernels",
        "",
        "Generated by `python -m benchmarks.kernels"
        f"{' --quick' if results['quick'] else ''}` "
        f"(code {results['code_version']}). Our sparse epoch times: the median "
        "epoch of a fit after its first (from its verbose time stamps), the "
        "least over the repeats; SGD's and the dense ones are marginal "
        "(`(min t(1 + m) - min t(1)) / m` over the repeats). All measured in this "
        "one run; the fits compared in a row of a table take turns in each repeat.",
        "",
        "## Machine",
        "",
        f"- CPU: {results['machine']['cpu']}, {results['machine']['cores']} cores",
        f"- Compiled kernels: {results['kernels']}",
        f"- OpenMP threads available: {results['openmp_threads']}",
        f"- Thread pools: {results['threadpools']}",
        "- Load average (1 min, this run's own threads included; the host is shared): "
        f"{results['loadavg_start']:.2f} at the start, "
        f"{results['loadavg_end']:.2f} at the end",
        "",
        "## Sparse epochs",
        "",
        "\"1 thread\": OpenMP limited to one thread; \"2 threads\": limited to two,"
        " the default here, where the kernels run each chunk of batches on 1 or 2"
        " threads, whichever ran faster lately. Ratios to SGD and to the bound"
        " use the latter.",
        "",
        "\"read speed-up\": one read of each entry's row (see the data sets below)"
        " on two threads against one, the picks cut in two halves and nothing"
        " shared: what the cores and the memory give the loop itself, a ceiling"
        " for the epoch's speed-up.",
        "",
        "| data | estimator | 1 thread (s) | 2 threads (s) | speed-up | "
        "read speed-up | same model | "
        "SGD n_jobs=2 (s) | ratio to SGD | bound (s) | ratio to bound |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in results["sparse"]:
        for name, e in entry["estimators"].items():
            lines.append(
                f"| {entry['dataset']} | {name} | {e['epoch_1_thread']:.3f} | "
                f"{e['epoch_2_threads']:.3f} | {e['thread_speedup']:.2f} | "
                f"{entry['read_speedup']:.2f} | {e['same_model']} | "
                f"{e['sgd_epoch_n_jobs_2']:.3f} | "
                f"{e['ratio_to_sgd']:.2f} | {entry['bound_seconds']:.3f} | "
                f"{e['ratio_to_bound']:.2f} |"
            )
    lines += ["", "Data sets:", ""]
    for entry in results["sparse"]:
        lines.append(
            f"- {entry['dataset']}: {entry['description']}; inner loop rate "
            f"{entry['inner_loop_rate'] / 1e9:.2f} G multiply-adds/s (one thread, "
            f"{entry['n_classes']} classes); one read of each entry's coefficient "
            f"row, the table in memory: {entry['read_floor_seconds']:.3f} s (one "
            f"thread, read-ahead {entry['read_floor_ahead']} entries), "
            f"{entry['read_floor_seconds_2_threads']:.3f} s on two; the loop "
            f"in cache on two threads: x{entry['inner_loop_speedup']:.2f}; "
            f"load average {entry['loadavg'][0]:.2f} -> {entry['loadavg'][1]:.2f}"
        )
    width = results.get("width")
    if width:
        narrow, wide = width["columns"]
        lines += [
            "",
            "## Width",
            "",
            f"The synthetic bag of words at {narrow} and {wide} columns (the "
            f"same rows; {width['nnz'][0]} and {width['nnz'][1]} non-zeros), "
            "two OpenMP threads.",
            "",
            f"| estimator | {narrow} columns (s) | {wide} columns (s) | ratio |",
            "|---|---|---|---|",
        ]
        for name, ratio in width["ratio"].items():
            seconds = width["epoch_seconds"][name]
            lines.append(
                f"| {name} | {seconds[0]:.3f} | {seconds[1]:.3f} | {ratio:.2f} |"
            )
        floors = width["read_floor_seconds"]
        lines.append(
            f"| one read of each entry's row (1 thread, the two taking turns) | "
            f"{floors[0]:.3f} | "
            f"{floors[1]:.3f} | {width['read_floor_ratio']:.2f} |"
        )
    dense = results.get("dense_fixed_cost")
    if dense:
        lines += ["", "## Dense fixed cost", "",
                  f"2-column data, {results['dense_fixed_cost_rows']} rows, batch "
                  "256: epoch time per minibatch.",
                  ""]
        for name, seconds in dense.items():
            lines.append(
                f"- {name}: "
                + ("too short to time" if np.isnan(seconds)
                   else f"{seconds * 1e6:.1f} µs per minibatch")
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small data, for a smoke test")
    parser.add_argument("--datasets", nargs="+",
                        default=["sparse-100k", "sparse-1000k", "wordnet-glosses"])
    parser.add_argument("--output-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    epochs = 1 if args.quick else 3
    repeats = 2 if args.quick else 3
    width_data = {}
    results = {
        "quick": args.quick,
        "loadavg_start": os.getloadavg()[0],
        "code_version": code_version(),
        "machine": describe(gemm_size=500 if args.quick else 2000),
        "kernels": (
            "sklearn_linclf._solver._sparse_kernel and _dense_kernel (Cython, OpenMP)"
        ),
        "openmp_threads": _sparse_kernel.max_threads(),
        "threadpools": [
            f"{i['internal_api']} {os.path.basename(i['filepath'])} "
            f"({i['num_threads']} threads)"
            for i in threadpool_info()
        ],
        "sparse": [],
    }
    for name, load, alpha in sparse_datasets(args.datasets, args.quick):
        try:
            ds = load()
        except ImportError as exc:  # a corpus whose package is not installed
            print(f"skipped {name}: {exc}")
            continue
        load_start = os.getloadavg()[0]
        results["sparse"].append(sparse_entry(ds, alpha, epochs, repeats))
        results["sparse"][-1]["loadavg"] = [load_start, os.getloadavg()[0]]
        results["sparse"][-1]["dataset_key"] = name
        if name in WIDTH_SETS:
            width_data[name] = (ds.X_train, ds.y_train)
        del ds
    by_name = {entry["dataset_key"]: entry for entry in results["sparse"]}
    if all(name in by_name for name in WIDTH_SETS):
        results["width"] = width_entry(
            *(by_name[name] for name in WIDTH_SETS),
            *(width_data[name] for name in WIDTH_SETS),
            epochs, repeats,
        )
    del width_data
    for entry in results["sparse"]:
        del entry["_read_inputs"]
    results["dense_fixed_cost_rows"] = 5_000 if args.quick else 100_000
    results["dense_fixed_cost"] = dense_fixed_cost(
        n_samples=results["dense_fixed_cost_rows"],
        epochs=epochs if args.quick else 10,
    )
    results["loadavg_end"] = os.getloadavg()[0]
    suffix = "_quick" if args.quick else ""
    os.makedirs(args.output_dir, exist_ok=True)
    out = os.path.join(args.output_dir, f"kernels{suffix}")
    with open(out + ".json", "w") as f:
        json.dump(results, f, indent=1, default=str)
    with open(out + ".md", "w") as f:
        f.write(markdown(results))
    print(f"wrote {out}.md and {out}.json")


if __name__ == "__main__":
    main()
