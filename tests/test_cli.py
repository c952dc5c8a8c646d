"""The command-line tool ``python -m sklearn_linclf``, run in-process via ``main``.

Each training run is checked against a pipeline fitted here, independently of
the tool, on the same split with the parameters the tool reports.
"""

import re
import subprocess
import sys

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file, load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

from sklearn_linclf import HingeClassifier, SoftmaxClassifier, __version__
from sklearn_linclf.__main__ import build_parser, main

OPTIONS = [
    "--data",
    "--format",
    "--label-column",
    "--header",
    "--no-header",
    "--delimiter",
    "--zero-based",
    "--model",
    "--test-size",
    "--random-state",
    "--cv",
    "--scaler",
    "--quick",
    "--no-baselines",
    "--n-jobs",
    "--verbose",
    "--save",
    "--predict",
    "--model-file",
    "--output",
]
OUR_ESTIMATORS = ["HingeClassifier", "SoftmaxClassifier"]
PEERS = ["SGDClassifier(hinge)", "SGDClassifier(log_loss)", "LogisticRegression"]


def parse_table(out):
    """Rows of the results table as {estimator: {column: text}}."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("estimator "))
    headers = re.split(r"\s{2,}", lines[start].strip())
    assert set(lines[start + 1].replace(" ", "")) == {"-"}
    table = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        assert len(cells) == len(headers), line
        table[cells[0]] = dict(zip(headers, cells, strict=True))
    return table


def parse_params(text):
    """'alpha=0.001, delta=1' -> {'alpha': 0.001, 'delta': 1.0}."""
    pairs = (item.split("=") for item in text.split(", "))
    return {key: float(value) for key, value in pairs}


def assert_one_line_error(err, fragment):
    """The error is the last line of stderr; only progress lines precede it."""
    assert "Traceback" not in err
    *progress, error = err.strip().splitlines()
    assert all(line.startswith("[") for line in progress), err
    assert error.startswith("sklearn-linclf: error: ")
    assert fragment in error


@pytest.fixture
def sparse_svmlight(tmp_path):
    """A sparse 3-class problem with a linear truth, written one-based."""
    rng = np.random.RandomState(0)
    X = sp.random(240, 30, density=0.3, random_state=rng, format="csr")
    y = np.argmax(X @ rng.randn(30, 3), axis=1) + 1
    path = tmp_path / "train.libsvm"
    dump_svmlight_file(X, y, str(path), zero_based=False)
    return path, X, y


@pytest.fixture
def string_label_csv(tmp_path):
    """Header row, string labels, label column in the middle."""
    rng = np.random.RandomState(1)
    centers = rng.randn(3, 4) * 3
    y_idx = np.repeat(np.arange(3), 40)
    X = centers[y_idx] + rng.randn(120, 4)
    names = np.array(["setosa", "versicolor", "virginica"])
    y = names[y_idx]
    path = tmp_path / "flowers.csv"
    with open(path, "w") as handle:
        handle.write("f0,f1,species,f2,f3\n")
        for row, label in zip(X, y, strict=True):
            cells = [f"{value:.17g}" for value in row]
            handle.write(",".join([*cells[:2], label, *cells[2:]]) + "\n")
    return path, X, y


def test_help_lists_every_option(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for option in OPTIONS:
        assert option in out
    for action in build_parser()._actions:
        assert action.help, action.option_strings


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_linclf", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: sklearn-linclf" in result.stdout
    assert "--predict" in result.stdout


def test_default_run_on_digits(capsys):
    assert main(["--quick", "--cv", "2"]) == 0
    captured = capsys.readouterr()
    table = parse_table(captured.out)
    assert list(table) == OUR_ESTIMATORS + PEERS
    for name, row in table.items():
        assert float(row["CV acc"]) >= 0.9, name
        assert float(row["test acc"]) >= 0.9, name
        assert float(row["search s"]) >= float(row["refit s"]) >= 0
    assert "1797 samples x 64 features, 10 classes, dense" in captured.out
    # progress goes to stderr, one start line per estimator
    assert captured.err.count("candidates x 2 folds") == 5

    # The reported test accuracy is that of the reported parameters, refitted
    # here on the same stratified split.
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    for name, cls in [("HingeClassifier", HingeClassifier)]:
        params = parse_params(table[name]["best parameters"])
        assert params["alpha"] in (1e-4, 1e-3) and params["delta"] == 1.0
        reference = make_pipeline(StandardScaler(), cls(random_state=0, **params))
        accuracy = reference.fit(X_train, y_train).score(X_test, y_test)
        assert table[name]["test acc"] == f"{accuracy:.4f}"


def test_svmlight_training_stays_sparse_and_round_trips(
    sparse_svmlight, tmp_path, capsys, monkeypatch
):
    path, X, y = sparse_svmlight
    model_path = tmp_path / "hinge.joblib"

    seen_sparse = []
    original_fit = HingeClassifier.fit

    def spy_fit(self, X, y, sample_weight=None):
        seen_sparse.append(sp.issparse(X))
        return original_fit(self, X, y, sample_weight)

    monkeypatch.setattr(HingeClassifier, "fit", spy_fit)
    argv = ["--data", str(path), "--quick", "--model", "hinge", "--no-baselines"]
    assert main([*argv, "--cv", "2", "--save", str(model_path)]) == 0
    monkeypatch.undo()
    out = capsys.readouterr().out
    assert seen_sparse and all(seen_sparse)
    assert "one-based indices" in out and "sparse" in out
    table = parse_table(out)
    assert list(table) == ["HingeClassifier"]

    model = joblib.load(model_path)
    assert isinstance(model[0], MaxAbsScaler)
    assert model.n_features_in_ == X.shape[1]
    assert set(model.classes_) == {1, 2, 3}

    # independent refit with the saved parameters on the same split
    params = model[-1].get_params()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    reference = make_pipeline(
        MaxAbsScaler(),
        HingeClassifier(alpha=params["alpha"], delta=params["delta"], random_state=0),
    ).fit(X_train, y_train)
    accuracy = reference.score(X_test, y_test)
    assert table["HingeClassifier"]["test acc"] == f"{accuracy:.4f}"
    assert accuracy >= 0.6  # chance is 1/3

    # predict: labels in an svmlight file are optional with --label-column none
    assert main(["--predict", str(path), "--model-file", str(model_path)]) == 0
    captured = capsys.readouterr()
    predictions = np.array(captured.out.split(), dtype=int)
    np.testing.assert_array_equal(predictions, reference.predict(X))
    expected = f"accuracy {np.mean(predictions == y):.4f} on {len(y)} labelled rows"
    assert expected in captured.err

    argv = ["--predict", str(path), "--model-file", str(model_path)]
    assert main([*argv, "--label-column", "none"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.split()) == len(y)
    assert "accuracy" not in captured.err


def test_csv_string_labels_save_and_predict(string_label_csv, tmp_path, capsys):
    path, X, y = string_label_csv
    model_path = tmp_path / "softmax.joblib"
    argv = ["--data", str(path), "--label-column", "species", "--quick", "--cv", "2"]
    assert main([*argv, "--model", "softmax", "--save", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "120 samples x 4 features, 3 classes, dense" in out
    assert "header row, label column species" in out
    table = parse_table(out)
    assert list(table) == ["SoftmaxClassifier", *PEERS]

    model = joblib.load(model_path)
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    alpha = model[-1].alpha
    reference = make_pipeline(
        StandardScaler(), SoftmaxClassifier(alpha=alpha, random_state=0)
    ).fit(X_train, y_train)
    assert (
        table["SoftmaxClassifier"]["test acc"]
        == f"{reference.score(X_test, y_test):.4f}"
    )

    output = tmp_path / "predictions.txt"
    argv = ["--predict", str(path), "--model-file", str(model_path)]
    assert main([*argv, "--label-column", "2", "--output", str(output)]) == 0
    captured = capsys.readouterr()
    predictions = output.read_text().splitlines()
    assert predictions == list(reference.predict(X))
    assert predictions == list(model.predict(X))
    accuracy = np.mean(np.array(predictions) == y)
    assert accuracy >= 0.9
    assert f"accuracy {accuracy:.4f} on 120 labelled rows" in captured.err

    # the same rows without the label column
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text(
        "".join(",".join(f"{v:.17g}" for v in row) + "\n" for row in X[:7])
    )
    argv = ["--predict", str(unlabelled), "--model-file", str(model_path)]
    assert main([*argv, "--label-column", "none"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == predictions[:7]
    assert "accuracy" not in captured.err


@pytest.mark.parametrize("header_option", [[], ["--no-header"]])
def test_csv_without_header(tmp_path, capsys, header_option):
    rng = np.random.RandomState(2)
    y = np.repeat([0, 1], 30)
    X = rng.randn(60, 3) + 2.5 * y[:, None]
    path = tmp_path / "numbers.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt="%.10g")
    argv = ["--data", str(path), "--quick", "--cv", "2", "--no-baselines"]
    assert main([*argv, "--test-size", "0", *header_option]) == 0
    out = capsys.readouterr().out
    assert "no header row" in out
    assert "all 60 samples for training, no test split" in out
    assert "60 samples x 3 features, 2 classes" in out
    table = parse_table(out)
    assert list(table) == OUR_ESTIMATORS
    for row in table.values():
        assert row["test acc"] == "-"
        assert float(row["CV acc"]) >= 0.9


@pytest.fixture
def error_files(tmp_path, sparse_svmlight, string_label_csv):
    files = {
        "svm": sparse_svmlight[0],
        "csv": string_label_csv[0],
        "bad_svm": tmp_path / "bad.svm",
        "bad_csv": tmp_path / "bad.csv",
        "ragged": tmp_path / "ragged.csv",
        "one_class": tmp_path / "one_class.csv",
        "empty": tmp_path / "empty.csv",
        "tiny": tmp_path / "tiny.csv",
        "unknown": tmp_path / "data.dat",
        "not_a_model": tmp_path / "model.joblib",
        "model": tmp_path / "good.joblib",
    }
    files["bad_svm"].write_text("1 1:0.5 2:1\nnot svmlight at all\n")
    files["bad_csv"].write_text("1,2,0\n3,4,1\n5,oops,0\n")
    files["ragged"].write_text("1,2,0\n3,4,1,7\n")
    files["one_class"].write_text("a,b,label\n1,2,x\n3,4,x\n5,6,x\n")
    files["empty"].write_text("\n\n")
    files["tiny"].write_text("".join(f"{i},{i % 2}\n" for i in range(8)))
    files["unknown"].write_text("1,2,0\n3,4,1\n")
    files["not_a_model"].write_text("this is not a pickle\n")
    X, y = sparse_svmlight[1][:, :3].toarray(), sparse_svmlight[2]
    joblib.dump(
        make_pipeline(StandardScaler(), HingeClassifier()).fit(X, y), files["model"]
    )
    return {key: str(value) for key, value in files.items()}


ERROR_CASES = [
    ("missing_file", ["--data", "{missing}"], 1, "file not found"),
    ("unparsable_svmlight", ["--data", "{bad_svm}"], 1, "could not read"),
    ("unparsable_csv", ["--data", "{bad_csv}"], 1, "line 3, column 1: 'oops'"),
    ("ragged_csv", ["--data", "{ragged}"], 1, "line 2 has 4 fields, expected 3"),
    ("empty_csv", ["--data", "{empty}"], 1, "contains no data rows"),
    ("unknown_extension", ["--data", "{unknown}"], 1, "cannot tell the format"),
    (
        "label_name",
        ["--data", "{csv}", "--label-column", "colour"],
        1,
        "label column 'colour' does not exist",
    ),
    (
        "label_index",
        ["--data", "{csv}", "--label-column", "7"],
        1,
        "label column 7 does not exist",
    ),
    ("one_class", ["--data", "{one_class}"], 1, "needs at least 2 classes"),
    (
        "too_few_rows_for_cv",
        ["--data", "{tiny}", "--cv", "5"],
        1,
        "HingeClassifier could not be trained: n_splits=5 cannot be greater",
    ),
    (
        "minmax_on_sparse",
        ["--data", "{svm}", "--scaler", "minmax"],
        1,
        "MinMaxScaler does not accept sparse data",
    ),
    (
        "corrupt_model",
        ["--predict", "{csv}", "--model-file", "{not_a_model}"],
        1,
        "could not load a model",
    ),
    (
        "feature_count_csv",
        ["--predict", "{unknown}", "--format", "csv", "--model-file", "{model}"],
        1,
        "has 2 feature columns but the model expects 3",
    ),
    (
        "feature_count_svmlight",
        ["--predict", "{svm}", "--model-file", "{model}"],
        1,
        "but the model expects 3 features",
    ),
    ("save_needs_one_model", ["--save", "{missing}"], 2, "--save stores one model"),
    ("predict_needs_model", ["--predict", "{csv}"], 2, "needs --model-file"),
    (
        "no_labels_for_training",
        ["--data", "{csv}", "--label-column", "none"],
        2,
        "only allowed with --predict",
    ),
    ("test_size_range", ["--test-size", "1.5"], 2, "must be in [0, 1)"),
    ("cv_range", ["--cv", "1"], 2, "must be >= 2"),
]


@pytest.mark.parametrize(
    "argv, status, message",
    [case[1:] for case in ERROR_CASES],
    ids=[c[0] for c in ERROR_CASES],
)
def test_errors(error_files, tmp_path, capsys, argv, status, message):
    files = {**error_files, "missing": str(tmp_path / "missing.csv")}
    argv = [arg.format(**files) for arg in argv]
    assert main([*argv, "--quick"]) == status
    err = capsys.readouterr().err
    if status == 1:
        assert_one_line_error(err, message)
    else:
        assert "usage: sklearn-linclf" in err
        assert message in err
