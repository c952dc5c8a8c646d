"""Fit our estimators and their scikit-learn peers side by side.

``python -m benchmarks [--quick] [--datasets NAME ...] [--output-dir DIR]``

For every data set and estimator it records the fit time, epochs (``n_iter_``),
time per epoch, test accuracy, the value of *our* objective at the fitted
coefficients, and peak memory (``tracemalloc`` during a separate short fit, and
the growth of the resident set during the timed fit). A curve of test
accuracy against wall time comes from refitting with ``max_iter`` = 1, 2, 4, ...
from scratch: every point is a real fit with that budget, and with a fixed
``random_state`` it follows the same path as the full fit. It writes
``results.md``, ``results.json`` and ``accuracy_vs_time.png`` (``*_quick.*`` with
``--quick``) under the output directory.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_linclf._loss import SoftmaxCrossEntropy, WestonWatkinsHinge
from sklearn_linclf._objective import LinearObjective

from . import datasets as datasets_module
from .estimators import describe_settings, make_entries, n_iter
from .machine import OPENBLAS_VARIABLES, PeakRSS, describe

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent

# Our penalty per data set. alpha=1e-4 (the default) over-regularises the
# l2-normalised bag-of-words rows (test accuracy 0.25-0.3 instead of ~0.45 for
# SGDClassifier with the same penalty), so the sparse sets use 1e-6.
ALPHA = {"digits": 1e-4, "dense-float64": 1e-4, "dense-float32": 1e-4,
         "sparse-100k": 1e-6, "sparse-1000k": 1e-6}
AUTO_BATCH_SIZE = 256  # batch_size="auto" is min(256, n_samples)


def our_objective(loss, alpha, W, b, X, y_idx):
    """Our objective (unit weights) at ``(W, b)`` on ``(X, y_idx)``."""
    loss_obj = WestonWatkinsHinge() if loss == "hinge" else SoftmaxCrossEntropy()
    objective = LinearObjective(loss_obj, alpha, fit_intercept=True)
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    coef = np.hstack([W, b[:, None]])
    if coef.shape[0] == 1:  # binary, collapsed: scores (0, s)
        coef = np.vstack([np.zeros_like(coef), coef])
    return objective.value(coef, X, y_idx, np.ones(X.shape[0]))


def _fit(estimator, X, y):
    """Fit, returning (seconds, converged) with convergence warnings captured."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return seconds, converged


def _curve_budgets(n_done):
    m = 1
    while m < n_done:
        yield m
        m *= 2


def run_entry(entry, ds, alpha, curve_budget=0.5, memory=True):
    X, y = ds.X_train, ds.y_train
    if entry.rows is not None:
        X, y = X[: entry.rows], y[: entry.rows]
    est = entry.estimator
    template = clone(est)

    with PeakRSS() as rss:
        fit_time, converged = _fit(est, X, y)
    epochs = n_iter(est) if entry.iterations_known else None
    accuracy = float(est.score(ds.X_test, ds.y_test))
    W, b = entry.coef()
    y_idx = np.searchsorted(np.unique(ds.y_train), ds.y_train)
    objective = our_objective(entry.loss, alpha, W, b, ds.X_train, y_idx)

    # Accuracy against time: refits with a smaller max_iter, while their
    # predicted cost stays within curve_budget x the full fit.
    curve, spent = [], 0.0
    for m in _curve_budgets(epochs or 0):
        if spent + fit_time * m / epochs > curve_budget * fit_time:
            break
        partial = clone(template).set_params(max_iter=m)
        seconds, _ = _fit(partial, X, y)
        spent += seconds
        curve.append([seconds, float(partial.score(ds.X_test, ds.y_test)), m])
    curve.append([fit_time, accuracy, epochs])

    peak_traced = None
    if memory and entry.iterations_known:
        # A short fit under tracemalloc (which slows Python down): the working
        # set of an epoch is the same in every epoch.
        short = clone(template).set_params(max_iter=min(2, epochs))
        tracemalloc.start()
        tracemalloc.reset_peak()
        _fit(short, X, y)
        peak_traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()

    batch = None
    if entry.ours:
        bs = est.batch_size
        batch = min(AUTO_BATCH_SIZE if bs == "auto" else bs, X.shape[0])
    return {
        "name": entry.name,
        "ours": entry.ours,
        "loss": entry.loss,
        "objective_relation": entry.objective,
        "settings": describe_settings(entry),
        "rows": X.shape[0],
        "fit_time": fit_time,
        "n_iter": epochs,
        "time_per_epoch": fit_time / epochs if epochs else None,
        "converged": converged,
        "test_accuracy": accuracy,
        "our_objective": objective,
        "tracemalloc_peak_mib": peak_traced,
        "rss_peak_delta_mib": rss.delta_mib,
        "batch_size": batch,
        "curve": curve,
    }


def run_dataset(name, loader, machine, quick, curve_budget, memory, only=None,
                log=print):
    start = time.perf_counter()
    ds = loader()
    ds.name = name
    load_time = time.perf_counter() - start
    alpha = ALPHA[name]
    rate = machine["gemm_gflops"][np.dtype(ds.dtype).name]
    flops = 4.0 * ds.n_samples * ds.n_features * ds.n_classes
    info = {
        "name": name,
        "description": ds.description,
        "n_samples": ds.n_samples,
        "n_test": ds.X_test.shape[0],
        "n_features": ds.n_features,
        "n_classes": ds.n_classes,
        "dtype": np.dtype(ds.dtype).name,
        "sparse": ds.is_sparse,
        "nnz_per_row": ds.nnz_per_row,
        "X_mib": ds.nbytes / 2**20,
        "itemsize": np.dtype(ds.dtype).itemsize,
        "alpha": alpha,
        "load_time": load_time,
        "gemm_flops_per_epoch": None if ds.is_sparse else flops,
        "gemm_bound_s": None if ds.is_sparse else flops / (rate * 1e9),
        "loadavg_start": os.getloadavg()[0],
        "entries": [],
    }
    log(f"== {name}: {ds.description} (loaded in {load_time:.1f}s)")
    for entry in make_entries(ds, alpha, quick=quick):
        if only and entry.name not in only:
            continue
        t0 = time.perf_counter()
        res = run_entry(entry, ds, alpha, curve_budget=curve_budget, memory=memory)
        info["entries"].append(res)
        log(f"   {entry.name:<20} fit {res['fit_time']:8.2f}s  "
            f"{res['n_iter'] or 0:4d} it  {res['time_per_epoch'] or 0:8.4f}s/it  "
            f"acc {res['test_accuracy']:.4f}  obj {res['our_objective']:.5g}  "
            f"(all measurements {time.perf_counter() - t0:.1f}s)")
    info["loadavg_end"] = os.getloadavg()[0]
    return info


def machine_without_openblas_variables(gemm_size, threads=None):
    """The machine facts in a child process with the OpenBLAS variables unset."""
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARIABLES}
    if threads is not None:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.machine", str(gemm_size)],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true",
                        help="tiny data sets (a smoke test of every estimator)")
    names = list(ALPHA)
    parser.add_argument("--datasets", nargs="+", choices=names, default=names,
                        metavar="NAME", help=f"data sets to run, from {names}")
    parser.add_argument("--estimators", nargs="+", default=None, metavar="NAME",
                        help="run only these estimators (names as in the table)")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--curve-budget", type=float, default=0.5,
                        help="time for the accuracy curve's refits, as a "
                        "fraction of the full fit's (default 0.5)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the tracemalloc fits")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS and OpenMP to this many threads for the "
                        "whole run (default: 1 with --quick, else unchanged)")
    args = parser.parse_args(argv)
    threads = 1 if args.quick and args.threads is None else args.threads
    if threads is None:
        return _main(args, None)
    with threadpool_limits(limits=threads):
        return _main(args, threads)


def _main(args, threads):

    start = time.perf_counter()
    gemm_size = 1000 if args.quick else 2000
    machine = describe(gemm_size)
    machine["loadavg"] = os.getloadavg()
    machine["thread_limit"] = threads
    print(f"GEMM {gemm_size}: float64 {machine['gemm_gflops']['float64']:.1f} "
          f"GFLOP/s, float32 {machine['gemm_gflops']['float32']:.1f} GFLOP/s")
    try:
        unset = machine_without_openblas_variables(gemm_size, threads)
    except (subprocess.CalledProcessError, json.JSONDecodeError) as exc:
        unset = {"error": str(exc)}

    registry = datasets_module.registry(quick=args.quick)
    results = {
        "quick": args.quick,
        "machine": machine,
        "machine_openblas_variables_unset": unset,
        "datasets": [],
    }
    for name in args.datasets:
        results["datasets"].append(
            run_dataset(name, registry[name], machine, args.quick,
                        args.curve_budget, not args.no_memory, args.estimators)
        )
    results["total_time"] = time.perf_counter() - start

    from .report import markdown, plot

    suffix = "_quick" if args.quick else ""
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / f"results{suffix}.json").write_text(
        json.dumps(results, indent=1)
    )
    (args.output_dir / f"results{suffix}.md").write_text(markdown(results))
    if not args.no_plot:
        plot(results, args.output_dir / f"accuracy_vs_time{suffix}.png")
    print(f"Total {results['total_time']:.1f}s; wrote {args.output_dir}/"
          f"results{suffix}.md")
    return results
