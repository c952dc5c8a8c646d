"""Timings of the compiled dense epoch (``sklearn_linclf._solver._dense_kernel``).

Run as ``python -m benchmarks.bench_dense_kernel``; the output is also written
to ``benchmarks/results/dense_kernel.txt``. It prints, in one run:

1. the fixed cost of a dense minibatch: fits of 2-column data (100 000 rows,
   3 classes, ``batch_size=256``, ``tol=None``), epoch time over the number
   of batches (the difference of a long and a one-epoch fit, so setup costs
   cancel), next to the same epoch through the numpy ``DenseStepper`` loop
   that ``run_epoch`` used before the kernel;
2. epoch times (``run_epoch``) on larger data with 1 and 2 OpenMP threads,
   and through the numpy loop.

The machine may be shared: variants are interleaved and repeated, and the
median (and minimum) of the repeats is shown; compare ratios within a run.
"""

import io
import os
import platform
import sys
import time
from contextlib import nullcontext, redirect_stdout
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info

from sklearn_linclf import HingeClassifier, SoftmaxClassifier
from sklearn_linclf._loss import SoftmaxCrossEntropy, WestonWatkinsHinge
from sklearn_linclf._objective import LinearObjective
from sklearn_linclf._solver import MomentumUpdate, loop, make_state, threads
from sklearn_linclf._solver.dense import dense_epoch, kernel_supports, kernel_threads
from sklearn_linclf._solver.steps import ConstantSchedule

RESULTS = Path(__file__).parent / "results" / "dense_kernel.txt"
BATCH_SIZE = 256
REPEATS = 7


class numpy_loop:
    """Context in which ``run_epoch`` takes the numpy ``DenseStepper`` loop."""

    def __enter__(self):
        loop.kernel_supports = lambda *args: False

    def __exit__(self, *exc):
        loop.kernel_supports = kernel_supports


class forced_threads:
    """Context in which the kernel runs on the most threads it may, always.

    (By default it measures whether they beat one thread, see
    ``sklearn_linclf._solver.threads.ThreadChoice``.)
    """

    def __enter__(self):
        self.saved = threads.ThreadChoice.run
        threads.ThreadChoice.run = lambda choice, run, n_batches: run(
            0, n_batches, choice.n
        )

    def __exit__(self, *exc):
        threads.ThreadChoice.run = self.saved


def _stats(times):
    times = np.asarray(times)
    return float(np.median(times)), float(times.min())


def _timed(function):
    """A callable running ``function`` and returning its duration."""

    def run():
        start = time.perf_counter()
        function()
        return time.perf_counter() - start

    return run


def _interleaved(variants, repeats=REPEATS):
    """Run each variant (returning its duration) ``repeats`` times, alternating."""
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            times[name].append(run())
    return {name: _stats(t) for name, t in times.items()}


def _problem(X, loss, momentum=0.9):
    objective = LinearObjective(loss, 1e-4, True)
    rule = MomentumUpdate(momentum, nesterov=True)
    return objective, rule


def _epoch_runner(
    X, y, objective, rule, n_classes, *, numpy_path, n_threads=None, forced=False
):
    state = make_state(np.zeros((X.shape[1] + 1, n_classes), dtype=X.dtype), rule)
    state.center = X.mean(axis=0).astype(X.dtype)
    sample_weight = np.ones(X.shape[0], dtype=X.dtype)
    rng = np.random.default_rng(0)
    schedule = ConstantSchedule(1e-3)

    def run():
        # The limits as solve() sets them, outside the timed epoch (solve
        # sets them once per fit).
        openmp = loop._threadpool_controller().limit(
            limits=n_threads, user_api="openmp"
        )
        with (
            loop._blas_threads_for(X, BATCH_SIZE, n_classes),
            openmp if n_threads else nullcontext(),
            numpy_loop() if numpy_path else nullcontext(),
            forced_threads() if forced else nullcontext(),
        ):
            start = time.perf_counter()
            _epoch(objective, state, X, y, sample_weight, rng, rule, schedule)
            return time.perf_counter() - start

    return run


def _epoch(objective, state, X, y, sample_weight, rng, rule, schedule):
    loop.run_epoch(
        objective,
        state,
        X,
        y,
        sample_weight,
        batch_size=BATCH_SIZE,
        shuffle=True,
        rng=rng,
        update_rule=rule,
        schedule=schedule,
    )


def fixed_cost():
    print("== Fixed cost per dense minibatch: 100 000 x 2, 3 classes, batch 256 ==")
    rng = np.random.default_rng(0)
    n = 100_000
    X = rng.standard_normal((n, 2))
    y = rng.integers(0, 3, n)
    n_batches = -(-n // BATCH_SIZE)
    epochs = 5
    for Estimator, loss in (
        (SoftmaxClassifier, SoftmaxCrossEntropy()),
        (HingeClassifier, WestonWatkinsHinge()),
    ):

        def fit(n_epochs, Estimator=Estimator):
            Estimator(
                max_iter=n_epochs, tol=None, batch_size=BATCH_SIZE, random_state=0
            ).fit(X, y)

        def fit_numpy(n_epochs, Estimator=Estimator):
            with numpy_loop():
                fit(n_epochs, Estimator)

        times = _interleaved(
            {
                "fit, kernel, 1": _timed(lambda: fit(1)),
                "fit, kernel, long": _timed(lambda: fit(1 + epochs)),
                "fit, numpy, 1": _timed(lambda: fit_numpy(1)),
                "fit, numpy, long": _timed(lambda: fit_numpy(1 + epochs)),
            },
            repeats=5,
        )
        per_batch = {
            path: (times[f"fit, {path}, long"][0] - times[f"fit, {path}, 1"][0])
            / (epochs * n_batches)
            for path in ("kernel", "numpy")
        }
        # The kernel call alone, without the epoch's shuffle and bookkeeping.
        objective, rule = _problem(X, loss)
        state = make_state(np.zeros((3, 3)), rule)
        state.center = X.mean(axis=0)
        order = rng.permutation(n)
        starts = np.arange(0, n, BATCH_SIZE)
        stops = np.minimum(starts + BATCH_SIZE, n)
        lrs = np.full(starts.size, 1e-3)
        scales = 1.0 / (stops - starts)
        kernel_only = _interleaved(
            {
                "kernel": _timed(
                    partial(
                        dense_epoch,
                        objective,
                        rule,
                        state,
                        X,
                        y,
                        None,
                        order,
                        starts,
                        stops,
                        lrs,
                        scales,
                    )
                ),
                "row order": _timed(
                    lambda: loop.epoch_order(n, BATCH_SIZE, True, rng)
                ),
            }
        )
        name = Estimator.__name__
        print(
            f"{name:18s} us per minibatch (median of 5 fits): "
            f"kernel {per_batch['kernel'] * 1e6:6.2f}   "
            f"numpy DenseStepper loop {per_batch['numpy'] * 1e6:6.2f}   "
            f"ratio {per_batch['numpy'] / per_batch['kernel']:.1f}x"
        )
        print(
            f"{'':18s} of which the dense_epoch call "
            f"{kernel_only['kernel'][0] / n_batches * 1e6:6.2f}"
            f" and the epoch's row order (shuffle, sorted batches) "
            f"{kernel_only['row order'][0] / n_batches * 1e6:5.2f}"
        )
    print()


def _datasets():
    X, y = load_digits(return_X_y=True)
    yield "digits 1797x64, 10 classes, float64", StandardScaler().fit_transform(X), y
    X, y = make_classification(
        n_samples=200_000,
        n_features=200,
        n_informative=60,
        n_classes=10,
        n_clusters_per_class=1,
        random_state=0,
    )
    yield "make_classification 200000x200, 10 classes, float64", X, y
    yield "make_classification 200000x200, 10 classes, float32", X.astype(np.float32), y


def epoch_times():
    print("== Epoch time (run_epoch, batch 256, Nesterov momentum, centred) ==")
    print(
        "   median [min] of the repeats; 1T, 2T: the kernel forced to 1 or 2\n"
        "   threads; auto: the default (up to 2, 1 when it measured faster);\n"
        "   ratios: numpy loop / kernel, 1T / 2T"
    )
    for label, X, y in _datasets():
        n_classes = int(y.max()) + 1
        repeats = REPEATS if X.shape[0] < 10_000 else 5
        threads = kernel_threads(BATCH_SIZE, X.shape[1], n_classes)
        print(f"-- {label} (kernel picks {threads} thread(s) by default)")
        for loss in (SoftmaxCrossEntropy(), WestonWatkinsHinge()):
            objective, rule = _problem(X, loss)

            runner = partial(_epoch_runner, X, y, objective, rule, n_classes)

            times = _interleaved(
                {
                    "numpy": runner(numpy_path=True),
                    "1T": runner(numpy_path=False, n_threads=1),
                    "2T": runner(numpy_path=False, n_threads=2, forced=True),
                    "auto": runner(numpy_path=False, n_threads=2),
                },
                repeats=repeats,
            )
            ms = {k: v[0] * 1e3 for k, v in times.items()}
            low = {k: v[1] * 1e3 for k, v in times.items()}
            print(
                f"   {type(loss).__name__:20s} numpy {ms['numpy']:8.2f} "
                f"[{low['numpy']:.2f}] ms   kernel 1T {ms['1T']:8.2f} "
                f"[{low['1T']:.2f}] ms   2T {ms['2T']:8.2f} [{low['2T']:.2f}] ms   "
                f"auto {ms['auto']:8.2f} [{low['auto']:.2f}] ms   "
                f"numpy/1T {ms['numpy'] / ms['1T']:.2f}   "
                f"numpy/2T {ms['numpy'] / ms['2T']:.2f}   "
                f"numpy/auto {ms['numpy'] / ms['auto']:.2f}   "
                f"1T/2T {ms['1T'] / ms['2T']:.2f}"
            )
    print()


def _load():
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def main():
    buffer = io.StringIO()

    class Tee(io.TextIOBase):
        def write(self, text):
            sys.__stdout__.write(text)
            sys.__stdout__.flush()
            return buffer.write(text)

    with redirect_stdout(Tee()):
        print(f"python {platform.python_version()}, numpy {np.__version__}")
        for lib in threadpool_info():
            print(
                f"  {lib['user_api']}: {lib['internal_api']} "
                f"{lib.get('version')} ({lib['num_threads']} threads)"
            )
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs")
        # The kernel's threads wait for each other twice a batch: on a machine
        # whose cores are busy with other work, 2 threads can be much slower.
        print(f"load average at start: {_load()}\n")
        fixed_cost()
        epoch_times()
        print(f"load average at end: {_load()}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(buffer.getvalue())
    print(f"(written to {RESULTS})")


if __name__ == "__main__":
    main()
