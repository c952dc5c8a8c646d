"""Command-line tool: ``python -m sklearn_linclf`` (installed as ``sklearn-linclf``).

Without arguments it tunes :class:`~sklearn_linclf.HingeClassifier` and
:class:`~sklearn_linclf.SoftmaxClassifier` on scikit-learn's bundled digits
(no download) and prints them in one table next to ``SGDClassifier`` and
``LogisticRegression``. ``--data`` trains on a svmlight/libsvm or CSV file
instead, ``--save`` stores the tuned pipeline with joblib and ``--predict``
applies a stored one to new rows.

Output conventions: results (the table, predictions without ``--output``) go
to stdout, progress and notes to stderr. Wrong options exit with status 2
(argparse), unusable data or model files with status 1 and a one-line
message.
"""

import argparse
import bz2
import csv
import gzip
import os
import sys
import time
import warnings
from dataclasses import dataclass

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits, load_svmlight_file
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

from . import HingeClassifier, SoftmaxClassifier, __version__

PROG = "sklearn-linclf"
SVMLIGHT_EXTENSIONS = (".svm", ".svmlight", ".libsvm")
CSV_EXTENSIONS = (".csv", ".tsv")
COMPRESSION_EXTENSIONS = (".gz", ".bz2")

# Grids sized so the default run (5 searches, 3-fold CV, n_jobs=1) takes
# seconds on digits. Our alpha and SGDClassifier's alpha differ by a factor 2
# (see the estimators' docstrings); a grid spanning decades covers both.
# For the hinge, (delta, alpha) predicts like (1, alpha * delta) (see
# HingeClassifier), so the delta values also refine the alpha decades.
ALPHAS = (1e-5, 1e-4, 1e-3, 1e-2)
DELTAS = (0.5, 1.0, 2.0)
CS = (0.01, 0.1, 1.0, 10.0)
QUICK_ALPHAS = (1e-4, 1e-3)
QUICK_DELTAS = (1.0,)
QUICK_CS = (0.1, 1.0)


class CLIError(Exception):
    """A problem with the user's data or files, reported in one line."""


@dataclass
class Dataset:
    X: object  # ndarray or CSR matrix
    y: object  # ndarray, or None for unlabelled prediction input
    name: str
    notes: str = ""


@dataclass
class SearchResult:
    name: str
    search: GridSearchCV
    wall_time: float
    test_accuracy: float
    n_convergence_warnings: int


# --------------------------------------------------------------------- parser


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def build_parser():
    """The argument parser of the command-line tool."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Tune HingeClassifier (Weston-Watkins multiclass SVM) and "
            "SoftmaxClassifier (multinomial logistic regression) with GridSearchCV "
            "inside a scaler Pipeline and compare them with SGDClassifier and "
            "LogisticRegression. Without --data it uses scikit-learn's bundled "
            "digits data set."
        ),
        epilog=(
            "Scaling: dense data uses StandardScaler (unit variance whatever a "
            "column's range; MinMaxScaler would let one outlier squash a column); "
            "sparse svmlight data uses MaxAbsScaler, which keeps it sparse and "
            "maps it into [-1, 1]. Results go to stdout, progress to stderr."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )

    data = parser.add_argument_group("input data")
    data.add_argument(
        "--data",
        metavar="PATH",
        help="train on this file (svmlight/libsvm or CSV) instead of the bundled "
        "digits",
    )
    data.add_argument(
        "--format",
        choices=("auto", "svmlight", "csv"),
        default="auto",
        help="file format of --data and --predict; auto: svmlight for "
        ".svm/.svmlight/.libsvm, CSV for .csv/.tsv (optionally .gz/.bz2) "
        "(default: %(default)s)",
    )
    data.add_argument(
        "--label-column",
        metavar="COL",
        default="last",
        help="CSV label column: a header name, a 0-based index (negative counts "
        "from the end), 'last', or 'none' (only with --predict: the file has no "
        "labels) (default: %(default)s)",
    )
    header = data.add_mutually_exclusive_group()
    header.add_argument(
        "--header",
        dest="header",
        action="store_true",
        default=None,
        help="the CSV file's first row is a header (default: detected: a header "
        "row has text where the next row has a number)",
    )
    header.add_argument(
        "--no-header",
        dest="header",
        action="store_false",
        help="the CSV file has no header row",
    )
    data.add_argument(
        "--delimiter",
        metavar="CHAR",
        default=None,
        help="CSV field delimiter (default: tab for .tsv files, comma otherwise)",
    )
    data.add_argument(
        "--zero-based",
        choices=("auto", "yes", "no"),
        default="auto",
        help="whether svmlight feature indices start at 0; auto: zero-based if "
        "the file uses index 0, else one-based, as load_svmlight_file decides "
        "(default: %(default)s)",
    )

    train = parser.add_argument_group("training")
    train.add_argument(
        "--model",
        choices=("hinge", "softmax", "both"),
        default="both",
        help="which of our estimators to tune (default: %(default)s)",
    )
    train.add_argument(
        "--test-size",
        metavar="FRACTION",
        type=_fraction,
        default=0.25,
        help="fraction held out, stratified, for the test accuracy; 0 trains on "
        "everything and reports no test accuracy (default: %(default)s)",
    )
    train.add_argument(
        "--random-state",
        metavar="SEED",
        type=int,
        default=0,
        help="seed of the split and of the estimators (default: %(default)s)",
    )
    train.add_argument(
        "--cv",
        metavar="K",
        type=_int_at_least(2),
        default=3,
        help="cross-validation folds of the grid search (default: %(default)s)",
    )
    train.add_argument(
        "--scaler",
        choices=("auto", "standard", "minmax", "maxabs", "none"),
        default="auto",
        help="first step of the pipeline; auto: standard for dense data, maxabs "
        "for sparse data (default: %(default)s)",
    )
    train.add_argument(
        "--quick",
        action="store_true",
        help="tiny grids (2 alphas, delta=1, 2 values of C), for smoke tests",
    )
    train.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip SGDClassifier and LogisticRegression",
    )
    train.add_argument(
        "--n-jobs",
        metavar="N",
        type=int,
        default=1,
        help="parallel jobs of each grid search (default: %(default)s)",
    )
    train.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="GridSearchCV's own messages (-v: a summary per search, -vv: a line "
        "per fit)",
    )
    train.add_argument(
        "--save",
        metavar="PATH",
        help="save the tuned pipeline (scaler + classifier, fitted on the "
        "training split) with joblib; needs --model hinge or --model softmax",
    )

    predict = parser.add_argument_group("prediction")
    predict.add_argument(
        "--predict",
        metavar="PATH",
        help="predict the rows of this file (same formats as --data) with "
        "--model-file instead of training",
    )
    predict.add_argument(
        "--model-file",
        metavar="SAVED",
        help="a model written by --save (any fitted scikit-learn classifier "
        "saved with joblib works); only load files you trust",
    )
    predict.add_argument(
        "--output",
        metavar="FILE",
        help="write the predictions here, one per line (default: stdout)",
    )
    return parser


def _check_option_combinations(parser, args):
    if args.predict is not None:
        if args.model_file is None:
            parser.error("--predict needs --model-file SAVED")
        if args.data is not None or args.save is not None:
            parser.error("--predict cannot be combined with --data or --save")
    else:
        if args.model_file is not None or args.output is not None:
            parser.error("--model-file and --output are only used with --predict")
        if args.label_column.strip().lower() == "none":
            parser.error("--label-column none is only allowed with --predict")
        if args.save is not None and args.model == "both":
            parser.error(
                "--save stores one model: add --model hinge or --model softmax"
            )


# ---------------------------------------------------------------- data input


def _info(message):
    print(message, file=sys.stderr, flush=True)


def _check_file(path):
    if not os.path.exists(path):
        raise CLIError(f"file not found: {path}")
    if os.path.isdir(path):
        raise CLIError(f"{path} is a directory, not a file")


def _strip_compression(path):
    name = path.lower()
    for ext in COMPRESSION_EXTENSIONS:
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def _resolve_format(path, fmt):
    if fmt != "auto":
        return fmt
    ext = os.path.splitext(_strip_compression(path))[1]
    if ext in SVMLIGHT_EXTENSIONS:
        return "svmlight"
    if ext in CSV_EXTENSIONS:
        return "csv"
    raise CLIError(
        f"cannot tell the format of {path} from its extension; "
        "pass --format svmlight or --format csv"
    )


def _normalise_labels(y):
    """Numbers stay numbers (integral ones become int), anything else text.

    Labels read from CSV arrive as text and those from svmlight as floats;
    normalising both the same way lets a model trained on one format be
    scored on the other, and prints label ``3`` as ``3`` rather than ``3.0``.
    """
    y = np.asarray(y)
    if y.dtype.kind in "OUS":
        try:
            numbers = y.astype(np.float64)
        except ValueError:
            return y.astype(str)
        if not np.isfinite(numbers).all():
            return y.astype(str)
        y = numbers
    if y.dtype.kind == "f" and np.isfinite(y).all() and np.all(y == np.round(y)):
        return y.astype(np.int64)
    return y


def _load_svmlight(path, zero_based, n_features=None, with_labels=True):
    try:
        # Read with the indices as written, then decide the base ourselves so
        # it can be reported (load_svmlight_file's "auto" decides silently).
        X, y = load_svmlight_file(path, zero_based=True, dtype=np.float64)
    except (ValueError, OSError, EOFError) as exc:
        raise CLIError(f"could not read {path} as svmlight/libsvm: {exc}") from None
    if X.shape[0] == 0:
        raise CLIError(f"{path} contains no data rows")
    uses_index_0 = X.nnz > 0 and X.indices.min() == 0
    if zero_based == "no" and uses_index_0:
        raise CLIError(f"{path} uses feature index 0 but --zero-based no was given")
    one_based = zero_based == "no" or (zero_based == "auto" and not uses_index_0)
    if one_based:
        X = X[:, 1:]
    if n_features is not None:
        if X.shape[1] > n_features:
            raise CLIError(
                f"{path} has feature indices up to {X.shape[1]} "
                f"({'one' if one_based else 'zero'}-based), but the model "
                f"expects {n_features} features"
            )
        X = sp.csr_matrix((X.data, X.indices, X.indptr), shape=(X.shape[0], n_features))
    if not np.isfinite(X.data).all():
        raise CLIError(f"{path} contains non-finite feature values (nan or inf)")
    notes = f"svmlight, {'one' if one_based else 'zero'}-based indices"
    return Dataset(X, _normalise_labels(y) if with_labels else None, path, notes)


def _open_text(path):
    name = path.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    if name.endswith(".bz2"):
        return bz2.open(path, "rt", newline="", encoding="utf-8")
    return open(path, newline="", encoding="utf-8")


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _detect_header(rows):
    """A first row with text where the second row has a number is a header."""
    if len(rows) < 2 or len(rows[0]) != len(rows[1]):
        return False
    return any(
        not _is_number(first) and _is_number(second)
        for first, second in zip(rows[0], rows[1], strict=True)
    )


def _resolve_label_column(spec, names, n_columns, path):
    """Index of the label column, or None for 'none'."""
    text = spec.strip()
    if text.lower() == "none":
        return None
    if text.lower() == "last":
        return n_columns - 1
    if names is not None and text in names:
        return names.index(text)
    try:
        index = int(text)
    except ValueError:
        if names is None:
            known = "the file has no header row, so give an index"
        elif len(names) <= 12:
            known = "columns are: " + ", ".join(names)
        else:
            shown = ", ".join([*names[:5], "...", *names[-5:]])
            known = f"its {len(names)} columns are: {shown}"
        raise CLIError(
            f"label column {text!r} does not exist in {path}; {known}"
        ) from None
    if not -n_columns <= index < n_columns:
        raise CLIError(
            f"label column {index} does not exist in {path}, which has "
            f"{n_columns} columns (indices 0 to {n_columns - 1})"
        )
    return index % n_columns


def _load_csv(path, label_column, header, delimiter):
    if delimiter is None:
        delimiter = "\t" if _strip_compression(path).endswith(".tsv") else ","
    rows, line_numbers = [], []
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            for row in reader:
                row = [field.strip() for field in row]
                if any(row):
                    rows.append(row)
                    line_numbers.append(reader.line_num)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise CLIError(f"could not read {path} as CSV: {exc}") from None

    if header is None:
        header = _detect_header(rows)
    names = rows[0] if header and rows else None
    if header:
        rows, line_numbers = rows[1:], line_numbers[1:]
    if not rows:
        raise CLIError(f"{path} contains no data rows")
    n_columns = len(names) if names is not None else len(rows[0])
    for row, line in zip(rows, line_numbers, strict=True):
        if len(row) != n_columns:
            raise CLIError(
                f"{path} line {line} has {len(row)} fields, expected {n_columns} "
                f"(delimiter {delimiter!r})"
            )

    label_index = _resolve_label_column(label_column, names, n_columns, path)
    feature_columns = [j for j in range(n_columns) if j != label_index]
    if not feature_columns:
        raise CLIError(f"{path} has no feature columns besides the label")
    try:
        X = np.array([[row[j] for j in feature_columns] for row in rows], dtype=float)
    except ValueError:
        X = None
    if X is None or not np.isfinite(X).all():
        for row, line in zip(rows, line_numbers, strict=True):
            for j in feature_columns:
                if not _is_number(row[j]) or not np.isfinite(float(row[j])):
                    column = repr(names[j]) if names is not None else j
                    raise CLIError(
                        f"{path} line {line}, column {column}: {row[j]!r} is not a "
                        "finite number (missing values are not supported)"
                    )
    y = None
    if label_index is not None:
        labels = [row[label_index] for row in rows]
        for label, line in zip(labels, line_numbers, strict=True):
            if label == "":
                raise CLIError(f"{path} line {line}: the label is empty")
        y = _normalise_labels(np.array(labels, dtype=object))
    notes = "CSV, " + ("header row" if header else "no header row")
    if label_index is not None:
        label_name = names[label_index] if names is not None else str(label_index)
        notes += f", label column {label_name}"
    return Dataset(X, y, path, notes)


def load_data(path, args, *, n_features=None):
    """Read ``path`` as svmlight or CSV, as the options say.

    In svmlight files the label is always the first field of a line;
    ``--label-column none`` there only means "ignore the labels".
    """
    _check_file(path)
    fmt = _resolve_format(path, args.format)
    if fmt == "svmlight":
        with_labels = args.label_column.strip().lower() != "none"
        return _load_svmlight(path, args.zero_based, n_features, with_labels)
    return _load_csv(path, args.label_column, args.header, args.delimiter)


def _load_training_data(args):
    if args.data is None:
        X, y = load_digits(return_X_y=True)
        return Dataset(X, y, "digits", "bundled with scikit-learn, 8x8 pixels 0-16")
    data = load_data(args.data, args)
    classes = np.unique(data.y)
    if classes.size < 2:
        raise CLIError(
            f"{args.data} needs at least 2 classes to train, but every row has "
            f"the label {classes[0]}"
        )
    return data


# ------------------------------------------------------------------ training


def _make_scaler(choice, sparse):
    if choice == "auto":
        choice = "maxabs" if sparse else "standard"
    if choice == "standard":
        # Centring would densify sparse data; scaling alone keeps it sparse.
        return StandardScaler(with_mean=not sparse)
    if choice == "minmax":
        if sparse:
            raise CLIError(
                "MinMaxScaler does not accept sparse data; use --scaler maxabs or "
                "--scaler standard"
            )
        return MinMaxScaler()
    if choice == "maxabs":
        return MaxAbsScaler()
    return "passthrough"


def _searches(args):
    """(name, estimator, grid) for each estimator to tune, ours first."""
    alphas = list(QUICK_ALPHAS if args.quick else ALPHAS)
    deltas = list(QUICK_DELTAS if args.quick else DELTAS)
    cs = list(QUICK_CS if args.quick else CS)
    seed = args.random_state
    searches = []
    if args.model in ("hinge", "both"):
        searches.append(
            (
                "HingeClassifier",
                HingeClassifier(random_state=seed),
                {"clf__alpha": alphas, "clf__delta": deltas},
            )
        )
    if args.model in ("softmax", "both"):
        searches.append(
            (
                "SoftmaxClassifier",
                SoftmaxClassifier(random_state=seed),
                {"clf__alpha": alphas},
            )
        )
    if not args.no_baselines:
        for loss in ("hinge", "log_loss"):
            searches.append(
                (
                    f"SGDClassifier({loss})",
                    SGDClassifier(loss=loss, random_state=seed),
                    {"clf__alpha": alphas},
                )
            )
        searches.append(
            (
                "LogisticRegression",
                LogisticRegression(max_iter=1000),
                {"clf__C": cs},
            )
        )
    return searches


def _one_line(exc):
    """First line of an error message, plus its last line when they differ.

    GridSearchCV reports failed fits as a summary line followed by the
    tracebacks; their last line names the actual error.
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) == 1:
        return lines[0]
    return f"{lines[0]} (last error: {lines[-1]})"


def _run_search(name, estimator, grid, scaler, data_split, args):
    X_train, X_test, y_train, y_test = data_split
    pipeline = Pipeline([("scale", scaler), ("clf", estimator)])
    search = GridSearchCV(
        pipeline, grid, cv=args.cv, n_jobs=args.n_jobs, verbose=max(0, args.verbose)
    )
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        # Fits that stop at max_iter are counted and reported in one line
        # instead of one warning each; other warnings are passed on below.
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            search.fit(X_train, y_train)
        except (ValueError, FloatingPointError) as exc:
            raise CLIError(f"{name} could not be trained: {_one_line(exc)}") from None
    wall_time = time.perf_counter() - start
    n_convergence = 0
    for record in caught:
        if issubclass(record.category, ConvergenceWarning):
            n_convergence += 1
        else:
            warnings.warn_explicit(
                record.message, record.category, record.filename, record.lineno
            )
    test_accuracy = search.score(X_test, y_test) if y_test is not None else np.nan
    return SearchResult(name, search, wall_time, test_accuracy, n_convergence)


def _format_params(params):
    return ", ".join(
        f"{key.removeprefix('clf__')}={value:g}"
        if isinstance(value, float)
        else f"{key.removeprefix('clf__')}={value}"
        for key, value in sorted(params.items())
    )


def format_table(results):
    """Aligned text table of the search results, one row per estimator."""
    headers = (
        "estimator",
        "best parameters",
        "CV acc",
        "test acc",
        "search s",
        "refit s",
    )
    rows = [
        (
            result.name,
            _format_params(result.search.best_params_),
            f"{result.search.best_score_:.4f}",
            "-" if np.isnan(result.test_accuracy) else f"{result.test_accuracy:.4f}",
            f"{result.wall_time:.2f}",
            f"{result.search.refit_time_:.2f}",
        )
        for result in results
    ]
    widths = [max(len(row[j]) for row in (headers, *rows)) for j in range(len(headers))]

    def line(cells):
        text = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
        text += [
            cell.rjust(width) for cell, width in zip(cells[2:], widths[2:], strict=True)
        ]
        return "  ".join(text).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def _train(args):
    data = _load_training_data(args)
    X, y = data.X, data.y
    sparse = sp.issparse(X)
    classes = np.unique(y)
    try:
        if args.test_size > 0:
            data_split = train_test_split(
                X,
                y,
                test_size=args.test_size,
                stratify=y,
                random_state=args.random_state,
            )
        else:
            data_split = (X, None, y, None)
    except ValueError as exc:
        raise CLIError(f"cannot split {data.name} into train and test: {exc}") from None
    scaler = _make_scaler(args.scaler, sparse)
    scaler_name = "none" if scaler == "passthrough" else type(scaler).__name__
    if data_split[1] is None:
        split = f"all {X.shape[0]} samples for training, no test split"
    else:
        split = (
            f"{data_split[0].shape[0]} train / {data_split[1].shape[0]} test "
            f"(stratified, random_state={args.random_state})"
        )
    summary = (
        f"data: {data.name} ({data.notes}): {X.shape[0]} samples x {X.shape[1]} "
        f"features, {classes.size} classes, {'sparse' if sparse else 'dense'}\n"
        f"split: {split}; scaler: {scaler_name}; {args.cv}-fold CV"
        f"{'; quick grids' if args.quick else ''}"
    )
    print(summary, flush=True)

    searches = _searches(args)
    results = []
    for i, (name, estimator, grid) in enumerate(searches, start=1):
        n_candidates = int(np.prod([len(values) for values in grid.values()]))
        _info(
            f"[{i}/{len(searches)}] {name}: {n_candidates} candidates x "
            f"{args.cv} folds ..."
        )
        result = _run_search(name, estimator, grid, scaler, data_split, args)
        n_stopped = result.n_convergence_warnings
        note = ""
        if n_stopped:
            note = (
                f" ({n_stopped} fit{'s' if n_stopped > 1 else ''} stopped at max_iter)"
            )
        _info(f"      done in {result.wall_time:.1f} s{note}")
        results.append(result)

    print()
    print(format_table(results))
    print()
    print("CV acc:   mean accuracy of the best parameters over the CV folds")
    print("test acc: accuracy of the refitted best pipeline on the test split")
    print("search s: wall time of the whole grid search (all candidates and folds)")
    print("refit s:  one fit of the best parameters on the training split")

    if args.save is not None:
        pipeline = results[0].search.best_estimator_
        try:
            joblib.dump(pipeline, args.save)
        except OSError as exc:
            raise CLIError(f"could not save the model to {args.save}: {exc}") from None
        _info(
            f"saved the tuned {results[0].name} pipeline to {args.save} "
            "(load with joblib.load)"
        )
    return 0


# ---------------------------------------------------------------- prediction


def _load_model(path):
    _check_file(path)
    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling can fail in many ways
        raise CLIError(
            f"could not load a model from {path}: {type(exc).__name__}: {exc}"
        ) from None
    if not hasattr(model, "predict"):
        raise CLIError(f"{path} holds a {type(model).__name__}, not a fitted model")
    return model


def _predict(args):
    model = _load_model(args.model_file)
    n_features = getattr(model, "n_features_in_", None)
    data = load_data(args.predict, args, n_features=n_features)
    if n_features is not None and data.X.shape[1] != n_features:
        hint = ""
        if data.y is not None:
            hint = " (if the file has no label column, pass --label-column none)"
        raise CLIError(
            f"{args.predict} has {data.X.shape[1]} feature columns but the model "
            f"expects {n_features}{hint}"
        )
    _info(
        f"read {data.name} ({data.notes}): {data.X.shape[0]} rows x "
        f"{data.X.shape[1]} features"
    )
    try:
        y_pred = model.predict(data.X)
    except ValueError as exc:
        raise CLIError(f"prediction failed: {_one_line(exc)}") from None

    lines = "".join(f"{label}\n" for label in y_pred)
    if args.output is None:
        sys.stdout.write(lines)
        sys.stdout.flush()
        destination = "stdout"
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(lines)
        except OSError as exc:
            raise CLIError(f"could not write {args.output}: {exc}") from None
        destination = args.output
    message = f"wrote {len(y_pred)} predictions to {destination}"
    if data.y is not None:
        # Compare as text: labels read back from a file carry no dtype.
        y_pred_text = _normalise_labels(np.asarray(y_pred)).astype(str)
        accuracy = float(np.mean(y_pred_text == np.asarray(data.y).astype(str)))
        message += f"; accuracy {accuracy:.4f} on {len(y_pred)} labelled rows"
    _info(message)
    return 0


# ---------------------------------------------------------------------- main


def main(argv=None):
    """Run the command-line tool.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 for unusable data or model files, 2 for wrong options,
        130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _check_option_combinations(parser, args)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _predict(args) if args.predict is not None else _train(args)
    except CLIError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
