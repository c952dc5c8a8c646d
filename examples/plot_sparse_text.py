"""
Sparse text classification
==========================

Both classifiers accept ``scipy.sparse`` input and never densify it: the only
operations that touch ``X`` are the products :math:`X W^\\top` and
:math:`G^\\top X`, and for sparse batches the solver updates only the
coefficients of the features that occur. This example builds a small corpus
of generated "documents" about four topics (no download needed), turns it
into a sparse term matrix with a scikit-learn vectorizer, and trains both
classifiers in a pipeline:

- ``TfidfVectorizer`` followed by :class:`~sklearn_linclf.SoftmaxClassifier`,
  whose weights can be read back as the most indicative words of each topic;
- ``HashingVectorizer`` (no vocabulary kept in memory, as for a stream)
  followed by ``TfidfTransformer`` and
  :class:`~sklearn_linclf.HingeClassifier`.

TF-IDF rows have unit norm, so the features are already on a common scale and
no scaler is needed (``MaxAbsScaler`` is the one to use otherwise: it keeps
the matrix sparse).
"""

# %%
# A generated corpus
# ------------------
# Each document mixes words of its topic, common words, rare words from a long
# Zipf-distributed tail, and a few words of another topic, so that the topics
# overlap a little and the term matrix is as sparse as real text.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import (
    HashingVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_linclf import HingeClassifier, SoftmaxClassifier

topics = {
    "astronomy": "star planet orbit telescope galaxy comet moon solar nebula "
    "gravity rocket launch crater eclipse asteroid",
    "cooking": "recipe oven flour butter garlic simmer sauce bake onion salt "
    "pepper dough roast knife kitchen",
    "football": "goal match striker referee league penalty coach pitch "
    "defender season score keeper tackle stadium transfer",
    "music": "guitar chord melody concert drum album singer rhythm piano "
    "tempo band lyrics tune chorus stage",
}
function_words = (
    "the a of and to in is it that was for on with as by at this from "
    "new time year people good first last long great little own other"
).split()
shared_words = "night score launch stage pitch season".split()  # in two topics
rng = np.random.default_rng(0)
# A long tail of rare made-up words with Zipf-like frequencies, as in real
# text: most of the vocabulary occurs in only a few documents.
syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
rare_words = np.unique(
    ["".join(rng.choice(syllables, size=rng.integers(2, 4))) for _ in range(6000)]
)
rare_p = 1.0 / np.arange(1, len(rare_words) + 1)
rare_p /= rare_p.sum()
names = list(topics)


def make_document(topic):
    other = rng.choice([t for t in names if t != topic])
    n_words = rng.integers(20, 80)
    counts = rng.multinomial(n_words, [0.25, 0.35, 0.3, 0.1])
    words = np.concatenate(
        [
            rng.choice(topics[topic].split(), counts[0]),
            rng.choice(function_words + shared_words, counts[1]),
            rng.choice(rare_words, counts[2], p=rare_p),
            rng.choice(topics[other].split(), counts[3]),
        ]
    )
    return " ".join(rng.permutation(words))


labels = rng.choice(names, size=2000)
documents = [make_document(topic) for topic in labels]
print(documents[0][:120], "...")
docs_train, docs_test, y_train, y_test = train_test_split(
    documents, labels, test_size=0.3, stratify=labels, random_state=0
)

# %%
# TF-IDF and softmax
# ------------------
softmax = make_pipeline(TfidfVectorizer(), SoftmaxClassifier(random_state=0))
softmax.fit(docs_train, y_train)
X_train = softmax[0].transform(docs_train)
print(
    f"term matrix: {X_train.shape[0]} x {X_train.shape[1]}, "
    f"{X_train.nnz / np.prod(X_train.shape):.1%} non-zero ({type(X_train).__name__})"
)
print(f"softmax test accuracy: {softmax.score(docs_test, y_test):.3f}")

# %%
# Hashing and the hinge
# ---------------------
hinge = make_pipeline(
    HashingVectorizer(n_features=2**14, alternate_sign=False, norm=None),
    TfidfTransformer(),
    HingeClassifier(random_state=0),
)
hinge.fit(docs_train, y_train)
print(f"hinge test accuracy:   {hinge.score(docs_test, y_test):.3f}")
print(f"hinge coef_ shape: {hinge[-1].coef_.shape} (one weight per hashed feature)")

# %%
# What the softmax model learned
# ------------------------------
# Row :math:`k` of ``coef_`` scores the evidence for topic :math:`k`; its
# largest entries are the topic's most indicative words, and the words shared
# between topics get small weights. The confusion matrix of the hinge model
# shows where the topics overlap.
vocabulary = softmax[0].get_feature_names_out()
coef = softmax[-1].coef_
fig = plt.figure(figsize=(12, 6.5), layout="constrained")
grid = fig.add_gridspec(2, 4)
for k, topic in enumerate(softmax[-1].classes_):
    ax = fig.add_subplot(grid[0, k])
    top = np.argsort(coef[k])[-8:]
    ax.barh(vocabulary[top], coef[k, top], color=f"C{k}")
    ax.set_title(topic)
    ax.tick_params(axis="y", labelsize=9)
ax = fig.add_subplot(grid[1, 1:3])
ConfusionMatrixDisplay.from_estimator(
    hinge, docs_test, y_test, ax=ax, colorbar=False, cmap="Blues"
)
ax.set_title("HingeClassifier on hashed features: test confusion matrix")
fig.suptitle("SoftmaxClassifier on TF-IDF: largest weights per topic")
plt.show()
