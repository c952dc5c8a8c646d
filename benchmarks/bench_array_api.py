"""Cost of a dense epoch with Array API input against NumPy input.

``python -m benchmarks.bench_array_api [--quick] [--repeats R]`` fits each
estimator on the same dense data as a NumPy array and, under
``sklearn.config_context(array_api_dispatch=True)``, as a PyTorch CPU tensor
(array-api-strict when torch is not installed), and prints the time of an
epoch in each and their ratio. The time of an epoch is the marginal one, as in
:mod:`benchmarks.profile_fit`: ``(t(1 + m epochs) - t(1 epoch)) / m`` of
uninstrumented fits with ``tol=None``, so that validation and set-up are left
out; each is the median of ``R`` repeats, NumPy and the namespace alternating
so that a busy machine slows both alike.

The target of the Array API work is a ratio of at most 1.5 on PyTorch CPU: the
namespace-generic path must not make the CPU slower than the NumPy one it
replaces (on a GPU the products are what gets faster).
"""

import argparse
import os
import statistics
import time
import warnings

# scikit-learn's Array API dispatch needs SciPy's, set before SciPy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
from sklearn import clone, config_context  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from sklearn_linclf import HingeClassifier, SoftmaxClassifier  # noqa: E402


def namespace():
    """``(name, xp, device)`` of the namespace to compare with NumPy."""
    try:
        import torch

        # As the NumPy path, which runs minibatch-sized products on one BLAS
        # thread.
        torch.set_num_threads(1)
        return f"torch {torch.__version__} (cpu)", torch, "cpu"
    except ImportError:
        import array_api_strict as xp

        return "array-api-strict (no torch installed)", xp, None


def fit_seconds(estimator, X, y, max_iter, dispatch):
    estimator = clone(estimator).set_params(max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with config_context(array_api_dispatch=dispatch):
            start = time.perf_counter()
            estimator.fit(X, y)
            return time.perf_counter() - start


def epoch_seconds(estimator, X, y, n_epochs, dispatch):
    long = fit_seconds(estimator, X, y, 1 + n_epochs, dispatch)
    short = fit_seconds(estimator, X, y, 1, dispatch)
    return max(long - short, 0.0) / n_epochs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    n_samples, n_features, n_epochs = (4_000, 64, 3) if args.quick else (40_000, 256, 5)
    repeats = args.repeats or (3 if args.quick else 7)
    name, xp, device = namespace()
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_features // 2,
        n_classes=10,
        random_state=0,
    )
    print(
        f"{n_samples} x {n_features} dense, 10 classes, batch_size=256 "
        f"({-(-n_samples // 256)} minibatches per epoch); NumPy against {name}; "
        f"median of {repeats} repeats of {n_epochs} marginal epochs"
    )
    print(f"{'estimator':<20} {'dtype':<8} {'numpy (ms)':>11} {'xp (ms)':>9} ratio")
    for Estimator in (SoftmaxClassifier, HingeClassifier):
        for dtype in (np.float64, np.float32):
            estimator = Estimator(random_state=0, tol=None, batch_size=256)
            X_np = X.astype(dtype)
            X_xp = xp.asarray(X_np, device=device)
            y_xp = xp.asarray(y, device=device)
            fit_seconds(estimator, X_xp, y_xp, 1, True)  # warm-up
            times_np, times_xp = [], []
            for _ in range(repeats):
                times_np.append(epoch_seconds(estimator, X_np, y, n_epochs, False))
                times_xp.append(epoch_seconds(estimator, X_xp, y_xp, n_epochs, True))
            t_np, t_xp = statistics.median(times_np), statistics.median(times_xp)
            ratio = t_xp / t_np if t_np > 0 else float("nan")
            print(
                f"{Estimator.__name__:<20} {np.dtype(dtype).name:<8} "
                f"{1e3 * t_np:>11.2f} {1e3 * t_xp:>9.2f} {ratio:5.2f}"
            )


if __name__ == "__main__":
    main()
