"""Length-bucketed batches under a token budget (used for training and prediction)."""

from __future__ import annotations

from typing import Callable

import numpy as np


def length_batches(
    lengths: np.ndarray,
    max_tokens: int,
    max_per_batch: int = 256,
    shuffle: bool = False,
    seed: int | None = None,
) -> list[np.ndarray]:
    """Group sequences of similar length so that each padded batch fits a token budget.

    Sequences are sorted by length and packed greedily: a batch grows while
    ``count * longest <= max_tokens`` and ``count <= max_per_batch``.  A
    sequence longer than ``max_tokens`` is never dropped: it gets a batch of
    its own.

    Parameters
    ----------
    lengths : numpy.ndarray
        Length of every sequence.
    max_tokens : int
        Budget of padded tokens per batch.
    max_per_batch : int
        Cap on the number of sequences per batch.
    shuffle : bool
        Shuffle within runs of equal length before packing, then shuffle the
        order of the batches (for training).
    seed : int, optional
        Seed for the shuffles.

    Returns
    -------
    list of numpy.ndarray
        Indices into ``lengths``, one array per batch.
    """
    lengths = np.asarray(lengths)
    if max_tokens < 1 or max_per_batch < 1:
        raise ValueError("max_tokens and max_per_batch must be positive")
    rng = np.random.default_rng(seed)
    # A random secondary key shuffles sequences of equal length between epochs.
    tiebreak = rng.random(len(lengths)) if shuffle else np.arange(len(lengths))
    order = np.lexsort((tiebreak, lengths))
    batches = []
    start = 0
    while start < len(order):
        # lengths are ascending, so the last member is the longest
        stop = start + 1
        while (
            stop < len(order)
            and stop - start < max_per_batch
            and (stop - start + 1) * lengths[order[stop]] <= max_tokens
        ):
            stop += 1
        batches.append(order[start:stop])
        start = stop
    if shuffle:
        rng.shuffle(batches)
    return batches


def batched_predictions(
    tokens: list,
    predict_batch: Callable[[list], list],
    max_tokens: int,
    max_per_batch: int = 256,
) -> list:
    """Run ``predict_batch`` on length-bucketed batches of ``tokens``; results in input order.

    Parameters
    ----------
    tokens : list
        One token array per transcript.
    predict_batch : callable
        Takes a list of token arrays, returns one result per array, in order.
    max_tokens, max_per_batch : int
        Batch limits, as in ``length_batches``.

    Returns
    -------
    list
        ``predict_batch``'s result for every transcript, in the order of ``tokens``.
    """
    out: list = [None] * len(tokens)
    for batch in length_batches(np.array([len(t) for t in tokens]), max_tokens, max_per_batch):
        for index, result in zip(batch, predict_batch([tokens[i] for i in batch])):
            out[index] = result
    return out
