"""Where the time of a ``HingeClassifier`` / ``SoftmaxClassifier`` epoch goes.

``python -m benchmarks.profile_fit [--datasets ...] [--quick]`` writes
``benchmarks/results/profile.md`` (and ``profile.json``) with, for each data
set and estimator:

- the marginal time per epoch of an uninstrumented fit: ``(t(1 + m epochs) -
  t(1 epoch)) / m``, so that input validation and setup are left out;
- a line-level split of an epoch (``line_profiler`` over every function of
  ``sklearn_linclf._solver``, ``._objective`` and ``._loss``): gathering the
  minibatch, ``X @ W.T``, ``G.T @ X``, the loss, the update, and the rest;
  line times are exclusive (lines that call another profiled function are
  left to the callee) and are shown as shares of the instrumented epoch.
  Since the minibatch loops are compiled (``_dense_kernel``,
  ``_sparse_kernel``), a whole epoch of a numpy or CSR ``X`` is one line
  here ("other lines"); the split is informative for the inputs that still
  take the Python step (``DenseStepper``), and ``python -m
  benchmarks.kernels`` measures the kernels;
- the top functions of ``cProfile`` by own time;
- the marginal time per epoch against ``batch_size`` (64 ... 4096) and the
  number of BLAS threads (1 and 2, through ``threadpoolctl``).
"""

import argparse
import contextlib
import cProfile
import importlib
import inspect
import io
import json
import pkgutil
import pstats
import re
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_linclf import (
    HingeClassifier,
    SoftmaxClassifier,
    _loss,
    _objective,
    _solver,
)

from . import datasets as datasets_module
from .machine import code_version, describe
from .run import ALPHA, RESULTS_DIR

ESTIMATORS = {"Hinge (ours)": HingeClassifier, "Softmax (ours)": SoftmaxClassifier}
BATCH_SIZES = (64, 128, 256, 512, 1024, 2048, 4096)
CATEGORIES = ("gather batch", "X @ W.T", "G.T @ X", "loss", "update",
              "sparse bookkeeping", "other lines")


def _fit(cls, X, y, alpha, **params):
    est = cls(alpha=alpha, random_state=0, tol=None, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(X, y)
    return time.perf_counter() - start


def marginal_epoch_time(cls, X, y, alpha, epochs=2, **params):
    """Seconds per epoch beyond the first, setup excluded."""
    one = _fit(cls, X, y, alpha, max_iter=1, **params)
    more = _fit(cls, X, y, alpha, max_iter=1 + epochs, **params)
    return max(more - one, 0.0) / epochs


_EPOCH_LINE = re.compile(r"^Epoch (\d+),.*time = ([0-9.]+)s$", re.MULTILINE)


def epoch_time(cls, X, y, alpha, epochs=3, **params):
    """Median seconds per epoch, from the cumulative times of ``verbose=1``.

    Setup (validation, label encoding, row norms) is left out and a single
    disturbed epoch does not move the median. Falls back to
    :func:`marginal_epoch_time` if the verbose format is not recognised.
    """
    est = cls(alpha=alpha, random_state=0, tol=None, max_iter=epochs, verbose=1,
              **params)
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    stamps = [float(t) for _, t in _EPOCH_LINE.findall(out.getvalue())]
    if len(stamps) != epochs:
        return marginal_epoch_time(cls, X, y, alpha, epochs=epochs - 1, **params)
    return float(np.median(np.diff([0.0] + stamps)))


# ---------------------------------------------------------------------------
# Line-level split


def _profiled_functions():
    """Every function and method defined in the solver, objective and loss."""
    funcs = []
    solver_modules = [
        importlib.import_module(f"{_solver.__name__}.{info.name}")
        for info in pkgutil.iter_modules(_solver.__path__)
    ]
    for module in (*solver_modules, _objective, _loss):
        for _, obj in inspect.getmembers(module):
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                funcs.append(obj)
            elif inspect.isclass(obj) and obj.__module__ == module.__name__:
                for _, meth in inspect.getmembers(obj, inspect.isfunction):
                    if meth.__module__ == module.__name__:
                        funcs.append(meth)
    return funcs


_RULES = [
    # (category, function-name pattern, line pattern); first match wins.
    ("gather batch", r"(^|\.)_take_rows$", None),
    ("gather batch", None,
     r"X\[idx\]|_take_rows\(|order\[batch\]|permutation\(|\.sort\(|np\.sort\("),
    ("sparse bookkeeping",
     r"(^|\.)(_update_maps|_safely_invertible|interleave)$", None),
    ("sparse bookkeeping", None,
     r"type\(X\)\(|np\.take\(table|table\[cols\]|\[cols\]|self\.Q|"
     r"np\.matmul\(A|np\.eye|self\.pending|np\.linalg\.solve"),
    ("loss", r"(^|\.)loss_gradient$", None),  # only the score-space losses' lines
    ("X @ W.T", None, r"^\s*raw\s*(=|\+=)"),
    ("G.T @ X", None, r"grad_Wt\s*=|out\[\.\.\.\]\s*=|G\.sum\(|X\.T, G"),
    ("loss", None, r"G \*= scale|loss\.sum\(\)"),
    ("update", r"(^|\.)(apply|affine_form)$", None),
    ("update", None,
     r"grad_Wt \+=|grad \+=|\(2 \* (self\.|objective\.)?alpha\)|"
     r"change|rows \+="),
]


def _categorise(func_name, path, text):
    for category, func_pat, line_pat in _RULES:
        if category == "loss" and func_pat is not None:
            if path.endswith("_loss.py") and re.search(func_pat, func_name):
                return category
            continue
        if func_pat is not None and not re.search(func_pat, func_name):
            continue
        if line_pat is not None and not re.search(line_pat, text):
            continue
        return category
    return "other lines"


def line_split(cls, X, y, alpha, epochs=2):
    """Exclusive line times of a fit, in categories and as a top-lines list."""
    from line_profiler import LineProfiler

    funcs = _profiled_functions()
    names = {f.__name__ for f in funcs if not f.__name__.startswith("__")}
    call_pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\(")
    profiler = LineProfiler()
    for f in funcs:
        if not hasattr(f, "__wrapped__"):  # reprlib-wrapped dataclass __repr__
            profiler.add_function(f)
    est = cls(alpha=alpha, random_state=0, tol=None, max_iter=epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        profiler.runcall(est.fit, X, y)
        wall = time.perf_counter() - start
    stats = profiler.get_stats()
    per_category = dict.fromkeys(CATEGORIES, 0.0)
    lines = []
    for (path, _, func_name), timings in stats.timings.items():
        if not timings or not Path(path).is_file():
            continue  # e.g. methods that dataclasses generate
        source = Path(path).read_text().splitlines()
        for lineno, hits, t in timings:
            seconds = t * stats.unit
            text = source[lineno - 1].strip()
            defs = {m for m in call_pattern.findall(text)} - {func_name}
            if defs and not text.startswith(("def ", "class ")):
                continue  # time spent in a profiled callee is counted there
            category = _categorise(func_name, path, text)
            per_category[category] += seconds
            lines.append({
                "where": f"{Path(path).name}:{lineno} {func_name}",
                "code": text[:70],
                "hits": hits,
                "seconds": seconds,
                "category": category,
            })
    lines.sort(key=lambda r: -r["seconds"])
    attributed = sum(per_category.values())
    return {
        "wall_s": wall,
        "attributed_s": attributed,
        "per_category_s": per_category,
        "top_lines": lines[:25],
    }


def cprofile_top(cls, X, y, alpha, epochs=2, n=15):
    est = cls(alpha=alpha, random_state=0, tol=None, max_iter=epochs)
    profiler = cProfile.Profile()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        profiler.runcall(est.fit, X, y)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(n)
    text = out.getvalue()
    # Keep the table only, paths shortened.
    start = text.find("ncalls")
    text = text[start:] if start >= 0 else text
    return re.sub(r"/\S*/(site-packages|lib/python3\.\d+)/", "", text).rstrip()


# ---------------------------------------------------------------------------
# Sweeps


@contextlib.contextmanager
def _library_thread_rule_disabled():
    """Let minibatch products use every BLAS thread.

    The solver runs products below ``_THREADED_PRODUCT_SIZE`` multiply-adds
    (and all sparse ones) on one BLAS thread, whatever the caller allows; this
    sets the threshold to 0 for dense data, to show what two threads would do.
    """
    name = "_THREADED_PRODUCT_SIZE"
    old = getattr(_solver.loop, name, None)
    if old is None:
        yield False
        return
    setattr(_solver.loop, name, 0)
    try:
        yield True
    finally:
        setattr(_solver.loop, name, old)


SWEEP_ROWS = {"1": "1 thread", "2": "2 threads (library rule in force)",
              "2!": "2 threads, library's one-thread rule disabled"}


def sweep(cls, X, y, alpha, batch_sizes, epochs=3, sparse=False):
    """Median seconds per epoch for each (threads, batch_size)."""
    table = {}
    # Sparse products run in scipy's single-threaded kernels: one row only.
    rows = ("2",) if sparse else ("1", "2", "2!")
    for row in rows:
        n_threads = int(row[0])
        with contextlib.ExitStack() as stack:
            stack.enter_context(threadpool_limits(limits=n_threads, user_api="blas"))
            if row.endswith("!") and not stack.enter_context(
                _library_thread_rule_disabled()
            ):
                continue
            for batch in batch_sizes:
                if batch > X.shape[0]:
                    continue
                table[f"{row}:{batch}"] = epoch_time(
                    cls, X, y, alpha, epochs=epochs, batch_size=batch
                )
    return table


def streaming_bounds(X, n_classes, batch_size=256, repeats=3):
    """Seconds for whole-data passes an epoch cannot avoid (dense ``X``).

    ``X @ W^T`` and ``X^T @ G`` as single products over all rows (the
    minibatch products can at best match them), and gathering every row in
    shuffled, sorted minibatches of ``batch_size`` (what ``X[idx]`` costs per
    epoch), each the best of ``repeats``.
    """
    rng = np.random.default_rng(0)
    Wt = rng.standard_normal((X.shape[1], n_classes)).astype(X.dtype)
    G = rng.standard_normal((X.shape[0], n_classes)).astype(X.dtype)
    order = rng.permutation(X.shape[0])
    batches = [np.sort(order[i:i + batch_size])
               for i in range(0, X.shape[0], batch_size)]

    def best(fn):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    def gather():
        for idx in batches:
            X[idx]

    return {
        "X @ W.T (one product)": best(lambda: X @ Wt),
        "X.T @ G (one product)": best(lambda: X.T @ G),
        f"gather all rows in batches of {batch_size}": best(gather),
        "read X once (X.sum(axis=0))": best(lambda: X.sum(axis=0)),
    }


# ---------------------------------------------------------------------------
# Report


def _markdown(report):
    m = report["machine"]
    g = m["gemm_gflops"]
    out = [
        "# Profile of our fits",
        "",
        f"Written by `python -m benchmarks.profile_fit` in "
        f"{report['total_time']:.0f} s; library sources hash "
        f"`{report['code_version']}`. {m['cpu']}, {m['cores']} cores; "
        f"GEMM float64 {g['float64']:.1f}, float32 {g['float32']:.1f} GFLOP/s; "
        f"load average at start {report['loadavg_start']:.2f}, end "
        f"{report['loadavg_end']:.2f} (other work shares this machine).",
        "",
        "Line split: exclusive `line_profiler` time of every line of "
        "`_solver`, `_objective` and `_loss` during a fit of "
        f"{report['epochs']} epochs (the instrumentation inflates Python-level "
        "lines; shares, not seconds, are the useful part). *other lines* is "
        "the loop's own bookkeeping; *not in profiled lines* is the rest of "
        "the wall time (input validation, the estimator wrapper, profiler "
        "overhead).",
        "",
    ]
    for ds in report["datasets"]:
        out += [f"## {ds['name']}", "", ds["description"] + ".", ""]
        if ds.get("streaming"):
            out += ["Whole-data passes (best of 3), the floor under an epoch "
                    "that gathers its batches and makes both products:", "",
                    "| pass | 1 BLAS thread (s) | default threads (s) |",
                    "|---|---:|---:|"]
            for key, sec in ds["streaming"].items():
                out.append(f"| {key} | {ds['streaming_1_thread'][key]:.4f} "
                           f"| {sec:.4f} |")
            out.append("")
        for est in ds["estimators"]:
            split = est["line_split"]
            out += [
                f"### {est['name']}",
                "",
                f"Uninstrumented time per epoch (median over 3 epochs, "
                f"batch_size=auto, default threads): **{est['epoch_s']:.4f} s**"
                + (f"; GEMM bound {ds['gemm_bound_s'] * 1e3:.1f} ms "
                   f"({est['epoch_s'] / ds['gemm_bound_s']:.1f}×)"
                   if ds["gemm_bound_s"] else "")
                + ".",
                "",
                "| part | seconds (instrumented) | share of wall |",
                "|---|---:|---:|",
            ]
            wall = split["wall_s"]
            for cat, sec in split["per_category_s"].items():
                out.append(f"| {cat} | {sec:.3f} | {100 * sec / wall:.1f}% |")
            rest = wall - split["attributed_s"]
            out.append(f"| not in profiled lines | {rest:.3f} | "
                       f"{100 * rest / wall:.1f}% |")
            out += ["", "<details><summary>top lines</summary>", "",
                    "| line | code | hits | s | part |", "|---|---|---:|---:|---|"]
            for r in split["top_lines"][:15]:
                code = r["code"].replace("|", "\\|")
                out.append(f"| {r['where']} | `{code}` | {r['hits']} "
                           f"| {r['seconds']:.3f} | {r['category']} |")
            out += ["", "cProfile, own time:", "", "```", est["cprofile"], "```",
                    "", "</details>", ""]
            if est.get("sweep"):
                sizes = sorted({int(k.split(":")[1]) for k in est["sweep"]})
                out += [f"Seconds per epoch (median of 3) by batch_size and BLAS "
                        f"threads, {est['sweep_rows']} rows:",
                        "", "| BLAS threads | " + " | ".join(map(str, sizes)) + " |",
                        "|---|" + "---:|" * len(sizes)]
                for row, label in SWEEP_ROWS.items():
                    cells = [est["sweep"].get(f"{row}:{b}") for b in sizes]
                    if all(c is None for c in cells):
                        continue
                    out.append(f"| {label} | " + " | ".join(
                        "–" if c is None else f"{c:.4f}" for c in cells) + " |")
                out.append("")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_fit")
    default = ["dense-float64", "dense-float32", "sparse-100k", "sparse-1000k"]
    parser.add_argument("--datasets", nargs="+", default=default,
                        choices=list(ALPHA))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=2,
                        help="epochs of the line-profiled and cProfiled fits")
    parser.add_argument("--sweep-rows", type=int, default=None,
                        help="fit the sweeps on the first N rows only")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)

    import os

    start = time.perf_counter()
    machine = describe(1000 if args.quick else 2000)
    report = {"code_version": code_version(), "machine": machine,
              "epochs": args.epochs, "loadavg_start": os.getloadavg()[0],
              "datasets": []}
    registry = datasets_module.registry(quick=args.quick)
    for name in args.datasets:
        ds = registry[name]()
        alpha = ALPHA[name]
        X, y = ds.X_train, ds.y_train
        rate = machine["gemm_gflops"][np.dtype(ds.dtype).name]
        bound = (None if ds.is_sparse
                 else 4.0 * ds.n_samples * ds.n_features * ds.n_classes / rate / 1e9)
        entry = {"name": name, "description": ds.description,
                 "gemm_bound_s": bound, "estimators": []}
        if not ds.is_sparse:
            with threadpool_limits(limits=1, user_api="blas"):
                entry["streaming_1_thread"] = streaming_bounds(X, ds.n_classes)
            entry["streaming"] = streaming_bounds(X, ds.n_classes)
        for est_name, cls in ESTIMATORS.items():
            print(f"{name} {est_name}", flush=True)
            res = {"name": est_name,
                   "epoch_s": epoch_time(cls, X, y, alpha),
                   "line_split": line_split(cls, X, y, alpha, args.epochs),
                   "cprofile": cprofile_top(cls, X, y, alpha, args.epochs)}
            if not args.no_sweep:
                rows = args.sweep_rows
                Xs, ys = (X, y) if rows is None else (X[:rows], y[:rows])
                res["sweep"] = sweep(cls, Xs, ys, alpha, BATCH_SIZES,
                                     sparse=ds.is_sparse)
                res["sweep_rows"] = Xs.shape[0]
            print(f"   {res['epoch_s']:.4f} s/epoch", flush=True)
            entry["estimators"].append(res)
        report["datasets"].append(entry)
    report["loadavg_end"] = os.getloadavg()[0]
    report["total_time"] = time.perf_counter() - start
    suffix = "_quick" if args.quick else ""
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / f"profile{suffix}.json").write_text(json.dumps(report, indent=1))
    (args.output_dir / f"profile{suffix}.md").write_text(_markdown(report))
    print(f"wrote {args.output_dir}/profile{suffix}.md in {report['total_time']:.0f} s")


if __name__ == "__main__":
    main()
