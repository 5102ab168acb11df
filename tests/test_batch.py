import numpy as np
import pytest

from tis_transformer.batch import length_batches


def test_batches_respect_budget_and_keep_every_sequence():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 5000, size=500)
    batches = length_batches(lengths, max_tokens=20_000, max_per_batch=16)
    flat = np.sort(np.concatenate(batches))
    assert flat.tolist() == list(range(500))
    for b in batches:
        assert len(b) <= 16
        assert len(b) == 1 or len(b) * lengths[b].max() <= 20_000


def test_sequence_longer_than_budget_gets_its_own_batch():
    batches = length_batches(np.array([10, 50_000, 20]), max_tokens=1000)
    assert [b.tolist() for b in batches] == [[0, 2], [1]]


def test_shuffle_is_seeded_and_changes_order():
    lengths = np.full(100, 10)
    a = length_batches(lengths, 50, shuffle=True, seed=3)
    b = length_batches(lengths, 50, shuffle=True, seed=3)
    c = length_batches(lengths, 50, shuffle=True, seed=4)
    assert all((x == y).all() for x, y in zip(a, b))
    assert any((x != y).any() for x, y in zip(a, c))


def test_invalid_budget():
    with pytest.raises(ValueError):
        length_batches(np.array([1]), 0)
