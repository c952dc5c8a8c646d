"""The shuffled row order of an epoch (compiled Fisher–Yates shuffle)."""

import itertools

import numpy as np
import pytest
from scipy.stats import chisquare

from sklearn_linclf._solver import _order
from sklearn_linclf._solver.loop import epoch_order


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000, 100_003])
def test_permutation_is_a_permutation(n):
    order = _order.permutation(n, 12345)
    assert order.dtype == np.intp
    assert np.array_equal(np.sort(order), np.arange(n))


def test_permutation_is_a_function_of_the_seed():
    assert np.array_equal(_order.permutation(500, 7), _order.permutation(500, 7))
    assert not np.array_equal(_order.permutation(500, 7), _order.permutation(500, 8))
    # The whole 64-bit range is accepted.
    assert np.array_equal(
        np.sort(_order.permutation(50, 2**64 - 1)), np.arange(50)
    )


def test_permutation_rejects_negative_length():
    with pytest.raises(ValueError, match="n must be >= 0"):
        _order.permutation(-1, 0)


def test_permutations_are_uniform():
    # All 24 orders of 4 items, over 48 000 consecutive seeds (the seeds are
    # fixed, so this test is deterministic); a biased shuffle (e.g. swapping
    # with any position instead of one not yet placed) fails it by far.
    index = {p: i for i, p in enumerate(itertools.permutations(range(4)))}
    counts = np.zeros(len(index))
    for seed in range(48_000):
        counts[index[tuple(_order.permutation(4, seed))]] += 1
    assert chisquare(counts).pvalue > 1e-3


def test_each_position_is_uniform_for_a_long_permutation():
    # Where item 0 lands, over many seeds: uniform over the 1 000 positions.
    positions = np.array(
        [np.flatnonzero(_order.permutation(1000, s) == 0)[0] for s in range(20_000)]
    )
    counts = np.bincount(positions // 100, minlength=10)
    assert chisquare(counts).pvalue > 1e-3


def test_epoch_order_batches_sorted_and_repeatable():
    order = epoch_order(1003, 100, True, np.random.RandomState(0))
    assert np.array_equal(np.sort(order), np.arange(1003))
    for start in range(0, 1003, 100):
        batch = order[start:start + 100]
        assert np.all(np.diff(batch) > 0)
    again = epoch_order(1003, 100, True, np.random.RandomState(0))
    assert np.array_equal(order, again)
    other = epoch_order(1003, 100, True, np.random.RandomState(1))
    assert not np.array_equal(order, other)


def test_epoch_order_in_order_without_shuffle_or_for_one_batch():
    rng = np.random.RandomState(0)
    assert np.array_equal(epoch_order(10, 3, False, rng), np.arange(10))
    assert np.array_equal(epoch_order(10, 10, True, rng), np.arange(10))


def test_epoch_order_takes_a_generator_too():
    first = epoch_order(100, 10, True, np.random.default_rng(3))
    assert np.array_equal(first, epoch_order(100, 10, True, np.random.default_rng(3)))
    assert np.array_equal(np.sort(first), np.arange(100))
