"""
Learning from a stream with ``partial_fit``
===========================================

``partial_fit`` makes one pass of minibatch updates over the chunk it is
given; the step schedule, the momentum and the update count ``t_`` carry over
from call to call, so a model can learn from data that arrives over time and
is never stored. The first call must name every class.

This example simulates such a stream: chunks of 200 labelled rows from five
classes, whose class centres jump to new places halfway through (a sudden
*concept drift*). Each chunk is first used to test the current model and only
then to train it (*prequential* or test-then-train evaluation), which gives a
learning curve without a separate test set. ``SGDClassifier.partial_fit``
(one-vs-rest hinge) is shown for comparison.
"""

# %%
# The stream
# ----------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import SGDClassifier

from sklearn_linclf import HingeClassifier, SoftmaxClassifier

n_classes, n_features, chunk_size, n_chunks, drift_at = 5, 20, 200, 60, 30
rng = np.random.default_rng(0)
centres_before = rng.normal(scale=0.7, size=(n_classes, n_features))
centres_after = rng.normal(scale=0.7, size=(n_classes, n_features))


def stream():
    """Yield (X, y) chunks; the features are already on a unit scale."""
    for i in range(n_chunks):
        centres = centres_before if i < drift_at else centres_after
        y = rng.integers(n_classes, size=chunk_size)
        yield centres[y] + rng.normal(size=(chunk_size, n_features)), y


# %%
# Test, then train, chunk by chunk
# --------------------------------
# The models start empty; a model that has seen nothing is scored as chance.
models = {
    "HingeClassifier": HingeClassifier(batch_size=32, random_state=0),
    "SoftmaxClassifier": SoftmaxClassifier(batch_size=32, random_state=0),
    "SGDClassifier (hinge, one-vs-rest)": SGDClassifier(random_state=0),
}
classes = np.arange(n_classes)
accuracy = {name: [] for name in models}
for i, (X, y) in enumerate(stream()):
    for name, model in models.items():
        seen = i > 0
        accuracy[name].append(model.score(X, y) if seen else 1 / n_classes)
        model.partial_fit(X, y, classes=classes)

for name in models:
    acc = np.asarray(accuracy[name])
    print(
        f"{name:36s} accuracy on chunks {drift_at - 5}-{drift_at - 1}: "
        f"{acc[drift_at - 5 : drift_at].mean():.3f}, "
        f"on the last 5: {acc[-5:].mean():.3f}"
    )
print(
    f"HingeClassifier made {models['HingeClassifier'].t_} updates "
    f"in {models['HingeClassifier'].n_iter_} partial_fit calls"
)

# %%
# Learning curves
# ---------------
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
seen = np.arange(n_chunks) * chunk_size
for name, acc in accuracy.items():
    ax.plot(seen, acc, marker=".", label=name)
ax.axvline(drift_at * chunk_size, color="k", ls="--", lw=1)
ax.text(drift_at * chunk_size, 0.25, "  the class centres move", va="bottom")
ax.set_xlabel("samples seen before the chunk")
ax.set_ylabel("accuracy on the next chunk")
ax.set_ylim(0, 1)
ax.legend(loc="lower right")
ax.set_title("Prequential accuracy of a drifting stream")
plt.show()

# %%
# Both of our classifiers learn the first concept within a few chunks and,
# after the drift, relearn the new one at the same pace: in ``partial_fit``
# the default ``"adaptive"`` schedule never shrinks its step (a single chunk
# says nothing about a plateau), so the model keeps tracking the stream.
# ``SGDClassifier``'s default ``"optimal"`` schedule decreases its step with
# every sample seen, which suits a stationary stream but slows its recovery
# from a drift. For a stationary stream in which late chunks should count
# less, use ``learning_rate="invscaling"`` instead.
