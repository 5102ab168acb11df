import numpy as np
import pytest

from tis_transformer.predictor.batch import batched_predictions, length_batches


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


def test_batched_predictions_keep_input_order_and_respect_the_budget():
    tokens = [np.full(n, n) for n in (50, 7, 300, 7, 120, 1)]
    seen = []

    def predict_batch(batch):
        seen.append([len(t) for t in batch])
        return [int(t[0]) for t in batch]

    assert batched_predictions(tokens, predict_batch, max_tokens=300, max_per_batch=3) == [50, 7, 300, 7, 120, 1]
    assert sorted(n for batch in seen for n in batch) == sorted(len(t) for t in tokens)
    assert all(len(b) <= 3 and len(b) * max(b) <= 300 for b in seen if len(b) > 1)
    assert batched_predictions([], predict_batch, max_tokens=300) == []
