"""Time to accuracy: how long each estimator takes to reach the peers' accuracy.

``python -m benchmarks.tta [--quick] [--datasets NAME ...] [--estimators NAME ...]
[--reuse-peers FILE.json] [--output-dir DIR]``

Before the first data set, every estimator is fitted once on small dense and
sparse data, untimed (:func:`warm_up`): the first fit in a process pays
one-time costs, and would otherwise always be ours.

Method, for every data set:

1. **Default fits.** Each estimator is built with only the penalty,
   ``random_state=0`` (and ``n_jobs=2`` for SGD) set, everything else left at
   its default, and fitted once; its fit time (``time.perf_counter`` around
   ``fit`` only), ``n_iter_`` and test accuracy are kept.
2. **Budget curves.** Each estimator is refitted *from scratch* at growing
   budgets with its own stopping rule disabled, so that the budget alone
   decides the work: ``max_iter`` in 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64
   epochs for ours (``tol=None, early_stopping=False``) and ``SGDClassifier``
   (``tol=None``); ours once more as "(ours, tol kept)" with only
   ``early_stopping=False``, because ours' ``tol=None`` also turns off the
   adaptive schedule's step decays (they are triggered by the same plateau
   test), so that only the "tol kept" curve follows the default fit's path
   (see :func:`make_specs`); ``max_iter`` in 1, 2, 4, ..., 512, 1000 L-BFGS
   iterations for ``LogisticRegression`` (its default ``tol``, so it may stop
   earlier; convergence warnings are silenced). The budgets stop growing once a fit
   takes longer than the set's time cap (``min(20 s, max(1 s, 3 x the slowest
   default fit))``, 1 s with ``--quick``), before a fit predicted to take more
   than twice the cap, and once a fit stops by itself (``n_iter_ < max_iter``:
   larger budgets would repeat the same fit). A fit that raises ends its
   curve; the error text is recorded.
3. **Target.** The best test accuracy any *peer* reaches at any budget or in
   its default fit, minus 0.005.
4. **Time to target.** For every estimator, the smallest fit time among its
   budget points whose accuracy reaches the target ("never" if none does
   within the budgets). The report gives ours' time to target over the
   fastest peer's (the *ratio*; above 1 means ours are slower), the default
   fits side by side, and our default fit's time over SGD-log's.

The penalty is the same objective term in each estimator's own units: ours
``alpha=a`` (``mean L_i + a ||W||^2``), ``SGDClassifier(alpha=2a)`` (it halves
its penalty) and ``LogisticRegression(C=1 / (2 n a))`` (a summed loss), with
``a`` per data set from :data:`ALPHA`.

Outputs ``tta.md`` (report) and ``tta.json`` (every raw point) in the output
directory (``tta_quick.*`` with ``--quick``). ``--reuse-peers FILE.json`` takes
the peers' default fits and curves from an earlier run's json and measures only
the other estimators (ours); its report (``tta_reuse.*`` / ``tta_reuse_quick.*``)
says so, since timing ratios are only strictly honest within one run on one
machine state.
"""

import argparse
import json
import os
import shlex
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, SGDClassifier
from threadpoolctl import threadpool_limits

from sklearn_linclf import HingeClassifier, SoftmaxClassifier

from . import datasets as datasets_module
from .estimators import n_iter
from .machine import describe
from .report import machine_section
from .run import _fit
from .text_corpus import CORPORA, CorpusNotInstalled, load_text_corpus

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Our penalty a per data set (SGD gets 2a, LogisticRegression C = 1/(2 n a)).
# For the text corpora, a is the value in {1e-4, 1e-5, 1e-6} at which SGD-log's
# default fit is most accurate on the full corpus (`--pick-alpha`, test
# accuracy of SGDClassifier(loss="log_loss", alpha=2a) with default stopping):
#   healthtweets     1e-4: 0.4819, 1e-5: 0.5776, 1e-6: 0.5761 -> 1e-5
#   wordnet-glosses  1e-4: 0.4808, 1e-5: 0.6548, 1e-6: 0.7228 -> 1e-6
ALPHA = {
    "digits": 1e-4,
    "dense-float64": 1e-4,
    "sparse-100k": 1e-6,
    "healthtweets": 1e-5,
    "wordnet-glosses": 1e-6,
}
ALPHA_CANDIDATES = (1e-4, 1e-5, 1e-6)

EPOCH_BUDGETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
LBFGS_BUDGETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)
TARGET_SLACK = 0.005
CAP_SECONDS, CAP_FLOOR, CAP_FACTOR = 20.0, 1.0, 3.0
QUICK_CAP_SECONDS = 1.0
PREDICTED_LIMIT = 2.0  # do not start a fit predicted to take > 2 x the cap
RANDOM_STATE = 0

# Rows of the full run's synthetic sets (the registry's defaults are 4x larger)
# and of the text corpora under --quick.
FULL_DENSE = dict(n_train=50_000, n_test=20_000, n_features=200)
FULL_SPARSE = dict(n_train=50_000, n_test=20_000, n_features=100_000)
QUICK_TEXT_ROWS = (3_000, 1_000)


# ---------------------------------------------------------------------------
# Estimators


class Spec:
    """One estimator: how to build its default fit and its budget fits."""

    def __init__(self, name, ours, default, budgets, no_stopping,
                 default_from=None):
        self.name = name
        self.ours = ours
        self.default = default  # unfitted estimator with default settings
        self.budgets = budgets
        self.no_stopping = no_stopping  # params that disable its stopping rule
        # Same default fit as this estimator's, which is then not refitted.
        self.default_from = default_from

    def at_budget(self, max_iter):
        return clone(self.default).set_params(max_iter=max_iter,
                                              **self.no_stopping)

    def settings(self):
        est = self.default
        key = "C" if isinstance(est, LogisticRegression) else "alpha"
        text = f"{key}={est.get_params()[key]:.3g}"
        if self.no_stopping:
            text += "; curve: " + ", ".join(f"{k}={v}" for k, v in
                                            self.no_stopping.items())
        return text


def make_specs(alpha, n_train, random_state=RANDOM_STATE):
    """The compared estimators, penalised alike (see the module docstring).

    The "tol kept" entries are ours again with a different curve: ``tol``
    stays at its default, because ours' ``tol=None`` also switches off the
    adaptive schedule's step decays (it is what detects the plateaus), so the
    ``tol=None`` curve runs at the initial step throughout and is not the path
    of the default fit. With ``tol`` kept, a fit of ``max_iter=m`` follows the
    default fit's path for its first ``m`` epochs (or stops where the default
    fit stops). Their default fit is ours' default fit.
    """
    no_tol = dict(tol=None, early_stopping=False)
    specs = []
    for name, cls in (("Hinge", HingeClassifier), ("Softmax", SoftmaxClassifier)):
        est = cls(alpha=alpha, random_state=random_state)
        specs.append(Spec(f"{name} (ours)", True, est, EPOCH_BUDGETS, no_tol))
        specs.append(Spec(f"{name} (ours, tol kept)", True, est, EPOCH_BUDGETS,
                          dict(early_stopping=False),
                          default_from=f"{name} (ours)"))
    specs += [
        Spec("SGD-log", False,
             SGDClassifier(loss="log_loss", alpha=2 * alpha, n_jobs=2,
                           random_state=random_state),
             EPOCH_BUDGETS, dict(tol=None)),
        Spec("SGD-hinge", False,
             SGDClassifier(loss="hinge", alpha=2 * alpha, n_jobs=2,
                           random_state=random_state),
             EPOCH_BUDGETS, dict(tol=None)),
        Spec("LogisticRegression", False,
             LogisticRegression(C=1 / (2 * n_train * alpha),
                                random_state=random_state),
             LBFGS_BUDGETS, {}),
    ]
    return specs


ESTIMATOR_NAMES = [s.name for s in make_specs(1e-4, 1)]
PEERS = [s.name for s in make_specs(1e-4, 1) if not s.ours]


# ---------------------------------------------------------------------------
# Data sets


def _text_loader(name, quick):
    def load():
        if quick:
            n_train, n_test = QUICK_TEXT_ROWS
            return load_text_corpus(name, max_train=n_train, max_test=n_test)
        return load_text_corpus(name)
    return load


def loaders(quick):
    """Name -> loader of every data set of this report."""
    registry = datasets_module.registry(quick=quick)
    sets = {"digits": registry["digits"]}
    if quick:
        sets["dense-float64"] = registry["dense-float64"]
        sets["sparse-100k"] = registry["sparse-100k"]
    else:
        sets["dense-float64"] = lambda: datasets_module.dense(**FULL_DENSE)
        sets["sparse-100k"] = lambda: datasets_module.sparse(**FULL_SPARSE)
    for name in CORPORA:
        sets[name] = _text_loader(name, quick)
    return sets


def dataset_info(ds, alpha, load_time):
    return {
        "name": ds.name,
        "description": ds.description,
        "notes": list(ds.notes),
        "n_train": ds.n_samples,
        "n_test": ds.X_test.shape[0],
        "n_features": ds.n_features,
        "n_classes": ds.n_classes,
        "dtype": np.dtype(ds.dtype).name,
        "sparse": ds.is_sparse,
        "nnz_per_row": ds.nnz_per_row,
        "alpha": alpha,
        "load_time": load_time,
    }


# ---------------------------------------------------------------------------
# Measuring


def measure(estimator, ds):
    """Fit once; a dict of fit time, test accuracy and n_iter_ (or the error)."""
    try:
        seconds, _ = _fit(estimator, ds.X_train, ds.y_train)
        return {"fit_time": seconds,
                "accuracy": float(estimator.score(ds.X_test, ds.y_test)),
                "n_iter": n_iter(estimator), "error": None}
    except Exception as exc:  # recorded, and the curve ends here
        return {"fit_time": None, "accuracy": None, "n_iter": None,
                "error": "".join(traceback.format_exception_only(exc)).strip()}


def measure_curve(spec, ds, cap, log=print):
    """Fits at growing budgets until the cap; (points, why the curve ended)."""
    points, stop = [], "all budgets run"
    for max_iter in spec.budgets:
        if points:
            last = points[-1]
            predicted = last["fit_time"] * max_iter / last["max_iter"]
            if predicted > PREDICTED_LIMIT * cap:
                stop = (f"next fit (max_iter={max_iter}) predicted "
                        f"{predicted:.1f}s > {PREDICTED_LIMIT:g} x cap")
                break
        point = {"max_iter": max_iter,
                 **measure(spec.at_budget(max_iter), ds)}
        points.append(point)
        if point["error"] is not None:
            stop = f"error at max_iter={max_iter}"
            log(f"      {spec.name} max_iter={max_iter}: {point['error']}")
            break
        if point["fit_time"] > cap:
            stop = f"fit at max_iter={max_iter} took longer than the cap"
            break
        if point["n_iter"] < max_iter:
            stop = f"stopped by itself at n_iter_={point['n_iter']}"
            break
    return points, stop


def time_to(points, target):
    """Smallest fit time among the points whose accuracy reaches target."""
    if target is None:
        return None
    times = [p["fit_time"] for p in points
             if p["accuracy"] is not None and p["accuracy"] >= target]
    return min(times) if times else None


def peer_target(entries):
    """Best accuracy of any peer point or default fit, minus the slack."""
    accs = []
    for e in entries:
        if e["ours"]:
            continue
        accs += [p["accuracy"] for p in e["points"] + [e["default"]]
                 if p["accuracy"] is not None]
    if not accs:
        return None, None
    best = max(accs)
    return best - TARGET_SLACK, best


def summarise(info):
    """Adds the target, each time to target and the ratios to ``info``."""
    entries = info["estimators"]
    info["target"], info["best_peer_accuracy"] = peer_target(entries)
    for e in entries:
        e["time_to_target"] = time_to(e["points"], info["target"])
    peer_times = [(e["time_to_target"], e["name"]) for e in entries
                  if not e["ours"] and e["time_to_target"] is not None]
    fastest = min(peer_times) if peer_times else (None, None)
    info["fastest_peer"] = fastest[1]
    info["fastest_peer_time"] = fastest[0]
    sgd_log = next((e for e in entries if e["name"] == "SGD-log"), None)
    sgd_default = sgd_log["default"]["fit_time"] if sgd_log else None
    for e in entries:
        ttt, fd = e["time_to_target"], e["default"]["fit_time"]
        e["ratio_to_fastest_peer"] = (ttt / fastest[0] if ttt is not None
                                      and fastest[0] else None)
        e["default_time_vs_sgd_log"] = (fd / sgd_default if fd is not None
                                        and sgd_default else None)
    return info


def reused_entries(reuse, name, info):
    """The peers' entries of set ``name`` from an earlier run, checked."""
    if reuse is None:
        return []
    old = next((d for d in reuse["datasets"] if d["name"] == name), None)
    if old is None:
        return []
    for key in ("n_train", "n_test", "n_features", "n_classes", "alpha"):
        if old[key] != info[key]:
            raise SystemExit(f"--reuse-peers: {name} differs in {key} "
                             f"({old[key]} there, {info[key]} here)")
    entries = [dict(e, reused=True) for e in old["estimators"] if not e["ours"]]
    return entries


def run_dataset(name, loader, quick, estimators, reuse, log=print):
    start = time.perf_counter()
    ds = loader()
    ds.name = name
    info = dataset_info(ds, ALPHA[name], time.perf_counter() - start)
    info["loadavg_start"] = os.getloadavg()[0]
    log(f"== {name}: {ds.description} (loaded in {info['load_time']:.1f}s)")

    specs = [s for s in make_specs(info["alpha"], ds.n_samples)
             if s.name in estimators]
    reused = reused_entries(reuse, name, info)
    reused_names = {e["name"] for e in reused}
    specs = [s for s in specs if s.name not in reused_names]
    entries, defaults_by_name = [], {}
    for spec in specs:
        shared = spec.default_from in defaults_by_name
        if shared:
            default = dict(defaults_by_name[spec.default_from])
        else:
            default = measure(clone(spec.default), ds)
            defaults_by_name[spec.name] = default
        entries.append({"name": spec.name, "ours": spec.ours, "reused": False,
                        "settings": spec.settings(), "default": default,
                        "default_shared_with": spec.default_from if shared
                        else None})
        if not shared:
            log(f"   {spec.name:<25} default: " + _point_text(default))

    defaults = [e["default"]["fit_time"] for e in entries + reused
                if e["default"]["fit_time"] is not None
                and not e.get("default_shared_with")]
    cap = (QUICK_CAP_SECONDS if quick else
           min(CAP_SECONDS, max(CAP_FLOOR, CAP_FACTOR * max(defaults, default=0))))
    info["cap_seconds"] = cap
    log(f"   time cap for the curves: {cap:.1f}s")
    for spec, entry in zip(specs, entries, strict=True):
        t0 = time.perf_counter()
        entry["points"], entry["curve_end"] = measure_curve(spec, ds, cap, log)
        best = max((p["accuracy"] for p in entry["points"]
                    if p["accuracy"] is not None), default=float("nan"))
        log(f"   {spec.name:<25} curve: {len(entry['points'])} fits in "
            f"{time.perf_counter() - t0:.1f}s, best acc {best:.4f} "
            f"({entry['curve_end']})")
    order = {n: i for i, n in enumerate(ESTIMATOR_NAMES)}
    info["estimators"] = sorted(entries + reused, key=lambda e: order[e["name"]])
    info["loadavg_end"] = os.getloadavg()[0]
    summarise(info)
    if info["target"] is None:
        log("   no peer measured: no target")
        return info
    log(f"   target {info['target']:.4f} (best peer accuracy "
        f"{info['best_peer_accuracy']:.4f} - {TARGET_SLACK})")
    for e in info["estimators"]:
        ttt = _tt(e) + ("" if e["time_to_target"] is None else " s")
        log(f"   {e['name']:<25} time to target {ttt}  ratio "
            f"{_fmt(e['ratio_to_fastest_peer'], '.2f')}")
    return info


def _point_text(p):
    if p["error"] is not None:
        return "error: " + p["error"]
    return (f"{p['fit_time']:.3f}s, n_iter_ {p['n_iter']}, "
            f"acc {p['accuracy']:.4f}")


# ---------------------------------------------------------------------------
# Choosing a text corpus's alpha


def pick_alpha(name, loader, log=print):
    """SGD-log's default-fit accuracy at each candidate alpha."""
    ds = loader()
    accs = {}
    for alpha in ALPHA_CANDIDATES:
        spec = next(s for s in make_specs(alpha, ds.n_samples)
                    if s.name == "SGD-log")
        point = measure(clone(spec.default), ds)
        accs[alpha] = point["accuracy"]
        log(f"{name}: alpha={alpha:g}: SGD-log default {_point_text(point)}")
    best = max(accs, key=lambda a: -1 if accs[a] is None else accs[a])
    log(f"{name}: best alpha {best:g}")
    return best


# ---------------------------------------------------------------------------
# Report


def _fmt(value, spec):
    return "–" if value is None else format(value, spec)


def _tt(e):
    if e["time_to_target"] is not None:
        return f"{e['time_to_target']:.3f}"
    return "never"


def _best(e):
    accs = [p["accuracy"] for p in e["points"] if p["accuracy"] is not None]
    return max(accs) if accs else None


def summary_table(info):
    lines = [
        "| estimator | time to target (s) | ratio to fastest peer "
        "| default fit (s) | default epochs / iters | default test acc "
        "| default time / SGD-log's | best curve acc | curve ended |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for e in info["estimators"]:
        d = e["default"]
        name = f"**{e['name']}**" if e["ours"] else e["name"]
        if e.get("reused"):
            name += " (reused)"
        if info["target"] is None:
            ttt = "–"
        elif e["time_to_target"] is None:
            ttt = f"never (best {_fmt(_best(e), '.4f')})"
        else:
            ttt = f"{e['time_to_target']:.3f}"
        default = ("error: " + d["error"].splitlines()[-1], "", "") \
            if d["error"] else (f"{d['fit_time']:.3f}", str(d["n_iter"]),
                                f"{d['accuracy']:.4f}")
        ratio = e["ratio_to_fastest_peer"]
        lines.append(
            f"| {name} | {ttt} | {_fmt(ratio, '.2f')} | {default[0]} "
            f"| {default[1]} | {default[2]} "
            f"| {_fmt(e['default_time_vs_sgd_log'], '.2f')} "
            f"| {_fmt(_best(e), '.4f')} | {e.get('curve_end', '–')} |"
        )
    return lines


def curve_table(info, budgets, names):
    """One row per estimator, one column per budget: accuracy (seconds)."""
    lines = ["| estimator | " + " | ".join(f"{m}" for m in budgets) + " |",
             "|---|" + "---:|" * len(budgets)]
    for e in info["estimators"]:
        if e["name"] not in names:
            continue
        by_budget = {p["max_iter"]: p for p in e["points"]}
        cells = []
        for m in budgets:
            p = by_budget.get(m)
            if p is None:
                cells.append("")
            elif p["error"] is not None:
                cells.append("error")
            else:
                cell = f"{p['accuracy']:.4f} ({p['fit_time']:.3g}s"
                if p["n_iter"] != m:
                    cell += f", {p['n_iter']} it"
                cells.append(cell + ")")
        lines.append(f"| {e['name']} | " + " | ".join(cells) + " |")
    return lines


def dataset_section(info):
    reused = [e["name"] for e in info["estimators"] if e.get("reused")]
    lines = [
        f"## {info['name']}",
        "",
        f"{info['description']}. Training {info['n_train']} × "
        f"{info['n_features']} ({info['dtype']}"
        + (f", {info['nnz_per_row']:.1f} non-zeros/row" if info["sparse"] else "")
        + f"), {info['n_classes']} classes; test {info['n_test']} rows. "
        f"Our alpha = {info['alpha']:g}. Curve time cap "
        f"{info['cap_seconds']:.1f} s. Load average {info['loadavg_start']:.2f}"
        f" → {info['loadavg_end']:.2f}.",
        "",
    ]
    if info["target"] is None:
        lines += ["No peer measured: no target.", ""]
    else:
        lines += [f"Target: **{info['target']:.4f}** (best peer accuracy "
                  f"{info['best_peer_accuracy']:.4f} − {TARGET_SLACK}); fastest "
                  f"peer to reach it: {info['fastest_peer'] or 'none'}"
                  + (f" in {info['fastest_peer_time']:.3f} s"
                     if info["fastest_peer_time"] is not None else "") + ".", ""]
    if reused:
        lines += [f"**Reused from an earlier run (not re-measured): "
                  f"{', '.join(reused)}.**", ""]
    lines += ["Settings: " + "; ".join(
        f"{e['name']}: {e['settings']}"
        + (f" (default fit = {e['default_shared_with']}'s)"
           if e.get("default_shared_with") else "")
        for e in info["estimators"]) + ".", ""]
    lines += summary_table(info)
    lines += ["", "Curves, test accuracy (fit seconds) per `max_iter`; epochs "
              "for ours and SGD:", ""]
    lines += curve_table(info, EPOCH_BUDGETS,
                         [n for n in ESTIMATOR_NAMES if n != "LogisticRegression"])
    lines += ["", "L-BFGS iterations for LogisticRegression (`it` = `n_iter_` "
              "where it stopped earlier):", ""]
    lines += curve_table(info, LBFGS_BUDGETS, ["LogisticRegression"])
    return lines


def _default_text(entry):
    d = entry["default"]
    if d["error"]:
        return "error"
    return f"{d['fit_time']:.2f} s, {d['n_iter']} it, {d['accuracy']:.4f}"


def headline_table(results):
    """One row per (data set, estimator of ours)."""
    lines = ["| data set | target | fastest peer: time to target | estimator "
             "| time to target | ratio to fastest peer | default fit "
             "(time, epochs, acc) | SGD-log default fit | default time / "
             "SGD-log's |",
             "|---|---:|---|---|---:|---:|---|---|---:|"]
    for info in results["datasets"]:
        by = {e["name"]: e for e in info["estimators"]}
        fastest = (f"{info['fastest_peer']} {info['fastest_peer_time']:.3f} s"
                   if info["fastest_peer"] else "–")
        sgd = _default_text(by["SGD-log"]) if "SGD-log" in by else "–"
        for e in info["estimators"]:
            if not e["ours"]:
                continue
            ttt = "–" if info["target"] is None else _tt(e)
            if ttt == "never":
                ttt += f" (best {_fmt(_best(e), '.4f')})"
            lines.append(
                f"| {info['name']} | {_fmt(info['target'], '.4f')} | {fastest} "
                f"| {e['name']} | {ttt} "
                f"| {_fmt(e['ratio_to_fastest_peer'], '.2f')} "
                f"| {_default_text(e)} | {sgd} "
                f"| {_fmt(e['default_time_vs_sgd_log'], '.2f')} |"
            )
    return lines


def markdown(results):
    quick = " --quick" if results["quick"] else ""
    lines = [f"# Time to accuracy{' (--quick)' if quick else ''}", "",
             f"Written by `{results['command']}` in "
             f"{results['total_time']:.0f} s, started {results['started']}. "
             "Method: see the docstring of `benchmarks/tta.py`. Every number is "
             "from one fit on a shared 2-core machine.", ""]
    if results.get("reused_peers"):
        lines += [f"**Peers reused from `{results['reused_peers']}` (run started "
                  f"{results.get('reused_peers_started', '?')}, sklearn_linclf "
                  f"sources `{results.get('reused_peers_sources', '?')}`); only the "
                  "estimators marked otherwise were measured in this run, so "
                  "their timing ratios compare two runs.**", ""]
    for note in results.get("skipped", []):
        lines.append(f"- Skipped: {note}")
    if results.get("skipped"):
        lines.append("")
    lines += machine_section(results) + [""]
    lines += ["## Summary", "",
              "Time to target = the fastest budget fit reaching the target "
              "(best peer accuracy − 0.005); ratio = ours' time to target / the "
              "fastest peer's (> 1: ours slower).", ""]
    lines += headline_table(results) + [""]
    for info in results["datasets"]:
        lines += dataset_section(info) + [""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Command line


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tta",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny data sets and a 1 s cap (a smoke test)")
    names = list(ALPHA)
    parser.add_argument("--datasets", nargs="+", choices=names, default=names,
                        metavar="NAME", help=f"from {names}")
    parser.add_argument("--estimators", nargs="+", choices=ESTIMATOR_NAMES,
                        default=ESTIMATOR_NAMES, metavar="NAME",
                        help=f"from {ESTIMATOR_NAMES}")
    parser.add_argument("--reuse-peers", type=Path, metavar="FILE.json",
                        help="take the peers' points from an earlier tta json "
                        "and measure only the other estimators")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS and OpenMP to this many threads "
                        "(default: 1 with --quick, else unchanged)")
    parser.add_argument("--pick-alpha", action="store_true",
                        help="only print SGD-log's default accuracy at each "
                        f"alpha in {ALPHA_CANDIDATES} for the chosen sets")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.quick and args.threads is None:
        # Two BLAS threads on a busy 2-core machine can make a small fit 100x
        # slower (spinning threads); a smoke test should not depend on that.
        args.threads = 1
    if args.threads is None:
        return _main(args)
    with threadpool_limits(limits=args.threads):
        return _main(args)


def warm_up(estimators):
    """Fit every estimator once on small dense and sparse data, untimed.

    The first fit in a process pays one-time costs (thread pools started,
    lazy imports), and the first estimator of the run is always ours.
    (Our hinge's default fit on digits took 0.11 s in earlier runs against
    0.02 s alone; the cause was not this but BLAS threads still spinning
    after the previous fit, see ``MIN_WORK_PER_THREAD`` in
    ``sklearn_linclf/_solver/dense.py``.)
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 20))
    y = X[:, :3].argmax(axis=1)
    for data in (X, sp.csr_matrix(np.where(np.abs(X) > 1, X, 0.0))):
        for spec in make_specs(1e-4, X.shape[0]):
            if spec.name in estimators:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    clone(spec.default).fit(data, y)


def _main(args):
    start = time.perf_counter()
    all_loaders = loaders(args.quick)
    if args.pick_alpha:
        for name in args.datasets:
            try:
                pick_alpha(name, all_loaders[name])
            except CorpusNotInstalled as exc:
                print(f"{name}: skipped, {exc}")
        return None

    reuse = json.loads(args.reuse_peers.read_text()) if args.reuse_peers else None
    if reuse is not None and reuse["quick"] != args.quick:
        raise SystemExit("--reuse-peers: that run's --quick differs from this one")
    estimators = list(args.estimators)
    if reuse is not None:
        estimators = [n for n in estimators if n not in PEERS] or estimators
    machine = describe(1000 if args.quick else 2000)
    machine["loadavg"] = os.getloadavg()
    warm_up(estimators)
    machine["thread_limit"] = args.threads
    results = {
        "quick": args.quick,
        "command": "python -m benchmarks.tta " + shlex.join(sys.argv[1:]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine,
        "alpha": ALPHA,
        "epoch_budgets": EPOCH_BUDGETS,
        "lbfgs_budgets": LBFGS_BUDGETS,
        "target_slack": TARGET_SLACK,
        "reused_peers": str(args.reuse_peers) if reuse else None,
        "reused_peers_started": reuse.get("started") if reuse else None,
        "reused_peers_sources": (reuse["machine"].get("sklearn_linclf_sources")
                                 if reuse else None),
        "skipped": [],
        "datasets": [],
    }
    for name in args.datasets:
        try:
            info = run_dataset(name, all_loaders[name], args.quick, estimators,
                               reuse)
        except CorpusNotInstalled as exc:
            note = f"{name}: {exc}"
            print(f"== skipped {note}")
            results["skipped"].append(note)
            continue
        results["datasets"].append(info)
    results["total_time"] = time.perf_counter() - start
    write(results, args.output_dir, args.quick, reused=reuse is not None)
    return results


def write(results, output_dir, quick, reused=False):
    # A run on reused peers never overwrites the run it took them from.
    suffix = ("_reuse" if reused else "") + ("_quick" if quick else "")
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"tta{suffix}.json").write_text(
        json.dumps(results, indent=1, default=_json_default))
    (output_dir / f"tta{suffix}.md").write_text(markdown(results))
    print(f"Total {results['total_time']:.1f}s; wrote {output_dir}/tta{suffix}.md")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


if __name__ == "__main__":
    main()
