"""Wall time of a grid search run by a Dask cluster: 1 worker versus 2.

A grid over ``alpha`` and ``delta`` of :class:`~sklearn_linclf.HingeClassifier`
is searched three ways on the same data and the same cross-validation splits:

- ``in-process``: scikit-learn's ``GridSearchCV(n_jobs=1)`` in this process,
  with BLAS limited to one thread (the one-core baseline);
- ``joblib-dask``: scikit-learn's ``GridSearchCV(n_jobs=-1)`` inside
  ``joblib.parallel_config(backend="dask")``;
- ``dask-ml``: ``dask_ml.model_selection.GridSearchCV``.

The two Dask variants run on a ``LocalCluster`` of 1 and one of 2
single-threaded workers, as separate processes (the default) or as threads of
this process (``--threads``). Each round runs the five configurations once, in
turn, on freshly started clusters whose start and warm-up (a tiny search) are
not timed. The table gives the fastest and the median of the rounds' wall
times, and the median CPU seconds used meanwhile by this process ("here") and
by the worker processes. Note that joblib runs a search sequentially in the
calling process when the cluster has a single core (its effective ``n_jobs``
is 1): its one-worker row measures this process, not the worker. Every run
must give the same ``cv_results_`` scores as the first; the script stops if one
does not.

On a shared machine the cores are not all ours: before and after, the script
times a pure-Python loop in one process and in two at once and prints how many
cores that leaves ("free cores", 2.00 on an idle two-core machine). No
speed-up can exceed it, so read the timings against it.

Run from the repository root (two to three minutes each on two idle cores)::

    python benchmarks/bench_dask_gridsearch.py
    python benchmarks/bench_dask_gridsearch.py --threads
"""

import argparse
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import dask
import dask_ml
import distributed
import joblib
import numpy as np
import sklearn
from dask_ml.model_selection import GridSearchCV as DaskGridSearchCV
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from threadpoolctl import threadpool_limits

import sklearn_linclf
from sklearn_linclf import HingeClassifier

GRID = {"alpha": [1e-5, 1e-4, 1e-3, 1e-2], "delta": [0.5, 1.0, 2.0]}


def make_search_problem(n_samples, n_features, seed=0):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_features // 2,
        n_classes=5,
        random_state=seed,
    )
    return X, y


def run_search(kind, estimator, X, y, cv, client=None):
    if kind == "in-process":
        with threadpool_limits(limits=1):
            return GridSearchCV(estimator, GRID, cv=cv, n_jobs=1).fit(X, y)
    if kind == "joblib-dask":
        with joblib.parallel_config(backend="dask", client=client):
            return GridSearchCV(estimator, GRID, cv=cv, n_jobs=-1).fit(X, y)
    if kind == "dask-ml":
        # iid=False: the plain mean over folds, as scikit-learn computes it.
        search = DaskGridSearchCV(estimator, GRID, cv=cv, iid=False, scheduler=client)
        return search.fit(X, y)
    raise ValueError(kind)


def cpu_seconds(client=None, threads=False):
    """CPU seconds used so far by this process, and by the client's workers.

    Worker threads (``threads=True``) are counted in this process's time.
    """
    workers = 0.0
    if client is not None and not threads:
        workers = sum(client.run(time.process_time).values())
    return np.array([time.process_time(), workers])


def _spin(n):
    """Pure-Python busy loop: CPU-bound, no memory traffic, no BLAS."""
    total = 0
    for i in range(n):
        total += i
    return total


def free_cores(n=10_000_000):
    """How many cores this script really gets: 2.0 on an idle 2-core machine.

    The same busy loop runs in one process, then in two at once; the ratio of
    work done per second tells how much of the second core other programs
    left free.
    """
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(_spin, [1000, 1000]))  # start both processes first
        start = time.perf_counter()
        list(pool.map(_spin, [n]))
        one = time.perf_counter() - start
        start = time.perf_counter()
        list(pool.map(_spin, [n, n]))
        two = time.perf_counter() - start
    return 2 * one / two


def check_same(search, reference, label):
    for key in reference.cv_results_:
        if key.startswith("split") and key.endswith("_test_score"):
            if not np.array_equal(search.cv_results_[key], reference.cv_results_[key]):
                raise AssertionError(f"{label}: {key} differs from the in-process run")
    if search.best_params_ != reference.best_params_:
        raise AssertionError(f"{label}: best_params_ differs from the in-process run")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument("--n-splits", type=int, default=4)
    parser.add_argument("--max-iter", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads",
        action="store_true",
        help="workers are threads of this process instead of separate processes",
    )
    args = parser.parse_args()

    X, y = make_search_problem(args.n_samples, args.n_features)
    cv = StratifiedKFold(n_splits=args.n_splits, shuffle=True, random_state=0)
    # A fixed number of epochs, so that every run does exactly the same work.
    estimator = HingeClassifier(max_iter=args.max_iter, tol=None, random_state=0)
    n_fits = len(GRID["alpha"]) * len(GRID["delta"]) * args.n_splits
    warm_up = (X[:500], y[:500], StratifiedKFold(2))

    print(
        f"sklearn_linclf {sklearn_linclf.__version__}, scikit-learn "
        f"{sklearn.__version__}, joblib {joblib.__version__}, dask "
        f"{dask.__version__}, distributed {distributed.__version__}, dask-ml "
        f"{dask_ml.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"HingeClassifier(max_iter={args.max_iter}, tol=None), X {X.shape}, "
        f"{len(np.unique(y))} classes, {n_fits} fits "
        f"({len(GRID['alpha'])}x{len(GRID['delta'])} grid, "
        f"{args.n_splits} folds), {args.repeats} runs each, workers as "
        f"{'threads' if args.threads else 'processes'}"
    )

    # Other programs competing for the cores distort every number below.
    print(
        f"at start: load average {os.getloadavg()[0]:.2f}, "
        f"free cores {free_cores():.2f} of {os.cpu_count()}"
    )
    configs = [("in-process", "-")] + [
        (kind, n_workers) for n_workers in (1, 2) for kind in ("joblib-dask", "dask-ml")
    ]
    walls = {config: [] for config in configs}
    cpus = {config: [] for config in configs}

    def timed(kind, n_workers, client=None):
        cpu_start = cpu_seconds(client, args.threads)
        start = time.perf_counter()
        search = run_search(kind, estimator, X, y, cv, client=client)
        walls[kind, n_workers].append(time.perf_counter() - start)
        cpus[kind, n_workers].append(cpu_seconds(client, args.threads) - cpu_start)
        return search

    # Rounds interleave the configurations, so that a burst of load from other
    # programs slows one run of each rather than all the runs of one. A fresh
    # cluster per round and size; its start and warm-up are not timed.
    reference = None
    for _ in range(args.repeats):
        search = timed("in-process", "-")
        reference = reference or search
        check_same(search, reference, "in-process")
        for n_workers in (1, 2):
            with (
                distributed.LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=1,
                    processes=not args.threads,
                    dashboard_address="127.0.0.1:0",
                ) as cluster,
                distributed.Client(cluster) as client,
            ):
                for kind in ("joblib-dask", "dask-ml"):
                    run_search(kind, estimator, *warm_up, client=client)
                for kind in ("joblib-dask", "dask-ml"):
                    search = timed(kind, n_workers, client)
                    check_same(search, reference, f"{kind}, {n_workers} worker(s)")

    print()
    print(
        f"{'search':<12} {'workers':>7} {'min s':>7} {'median s':>9} "
        f"{'CPU here':>8} {'CPU workers':>11}  wall time of each run (s)"
    )
    best = {}
    for kind, n_workers in configs:
        runs = walls[kind, n_workers]
        best[kind, n_workers] = min(runs)
        here, workers = np.median(cpus[kind, n_workers], axis=0)
        workers = "-" if args.threads or n_workers == "-" else f"{workers:.2f}"
        print(
            f"{kind:<12} {n_workers!s:>7} {min(runs):>7.2f} "
            f"{statistics.median(runs):>9.2f} {here:>8.2f} {workers:>11}  "
            + ", ".join(f"{t:.2f}" for t in runs)
        )
    print()
    baseline = best["in-process", "-"]
    for kind in ("joblib-dask", "dask-ml"):
        one, two = best[kind, 1], best[kind, 2]
        print(
            f"{kind}: speed-up 2 workers vs 1 = {one / two:.2f}x, "
            f"2 workers vs in-process = {baseline / two:.2f}x (fastest runs)"
        )
    print(
        "joblib-dask with 1 worker: a cluster of one single-threaded worker "
        "gives joblib an effective n_jobs of 1, and joblib then runs the search "
        "sequentially in this process, not on the worker."
    )
    print("cv_results_ scores and best_params_ identical in every run: yes")
    print(
        f"at end: load average {os.getloadavg()[0]:.2f}, "
        f"free cores {free_cores():.2f} of {os.cpu_count()}"
    )


if __name__ == "__main__":
    main()
