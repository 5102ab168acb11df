"""Reading-frame features of many transcripts at once: a padded batch for the network, and blocks of
same-length transcripts computed in one set of array operations (libraries of short records), bit-identical to
``tis_transformer.predictor.features.orf_features`` per transcript."""

from __future__ import annotations

import numpy as np

from tis_transformer.predictor.codons import ATG as _ATG, NEAR_COGNATE as _NEAR_COGNATE
from tis_transformer.predictor.features import CODING_CONTEXT, TRANSCRIPT_ENDS
from tis_transformer.predictor.features import (_AFTER_STOP, _END_CODONS, _NO_SIGNAL_DISTANCE,
                                                _POLYA_SIGNALS, _POSITION_SCALE, _UNKNOWN_HEXAMER, FEATURE_NAMES,
                                                FEATURE_SET, FEATURE_SETS, LOG_SCALE, NEAR_COGNATE_COLUMN,
                                                START_CONTEXT, FeatureTables, _signed_log, orf_features,
                                                start_context)
from tis_transformer.predictor.codons import STOP as _STOP, UNKNOWN_CODON as _UNKNOWN_CODON, next_in_frame_stop
from tis_transformer.predictor.tokens import A, C, G, T

__all__ = ["orf_features_many", "padded_features"]


def padded_features(tokens: list, length: int, tables: FeatureTables | None = None,
                    feature_set: str = FEATURE_SET, trees=None, isoforms=None) -> np.ndarray:
    """Features of several transcripts in one ``(batch, length, columns)`` array, zero past each end.

    ``trees`` (a ``tis_transformer.predictor.trees.TreeScorer``) appends their logit as a last column; trees that read
    isoform columns take them from ``isoforms`` (a ``tis_transformer.predictor.isoforms.IsoformIndex`` of the whole input),
    or score each transcript as if alone when it is None.
    """
    columns = FEATURE_SETS[feature_set]
    out = np.zeros((len(tokens), length, columns + (trees is not None)), dtype=np.float32)
    for row, (t, features) in enumerate(zip(tokens, orf_features_many(tokens, tables, feature_set))):
        out[row, : len(t), :columns] = features
    if trees is not None:
        alike = None
        if trees.isoform_columns and isoforms is not None:
            alike = np.zeros((len(tokens), length, isoforms.width), dtype=np.float32)
            for row, (t, columns_of_t) in enumerate(zip(tokens, isoforms.columns_many(tokens))):
                alike[row, : len(t)] = columns_of_t
        out[..., columns] = trees(out[..., :columns], alike)
    return out


# nucleotides per block of same-length transcripts that ``orf_features_many`` computes in one set of array operations
_MANY_BLOCK_NT = 1 << 17
# longer transcripts cost far more in arithmetic than in per-call overhead: they go one by one
_MANY_MAX_LENGTH = 4096


def orf_features_many(tokens: list, tables: FeatureTables | None = None, feature_set: str = FEATURE_SET) -> list:
    """``orf_features`` of many transcripts, the same arrays, computed together where that saves time.

    ``orf_features`` costs about a millisecond of numpy call overhead per
    transcript, which dominates for libraries of short sequences.  Here the
    transcripts of each length (up to ``_MANY_MAX_LENGTH``) are stacked into
    ``(count, length)`` blocks and every operation runs along the rows, in the
    same order of floating-point operations as ``orf_features``, so that each
    transcript's features are bit-identical to those it computes alone
    (tests/test_features.py).  Returns one array per transcript, in order.
    """
    out: list = [None] * len(tokens)
    by_length: dict = {}
    for i, t in enumerate(tokens):
        by_length.setdefault(len(t), []).append(i)
    for n, members in by_length.items():
        if n == 0 or n > _MANY_MAX_LENGTH or len(members) < 2:
            for i in members:
                out[i] = orf_features(tokens[i], tables, feature_set)
            continue
        step = max(1, _MANY_BLOCK_NT // n)
        for start in range(0, len(members), step):
            block = members[start:start + step]
            features = _orf_features_rows(np.stack([np.asarray(tokens[i]) for i in block]), tables, feature_set)
            for row, i in enumerate(block):
                out[i] = features[row]
    return out


def _orf_features_rows(tokens: np.ndarray, tables: FeatureTables | None, feature_set: str) -> np.ndarray:
    """``orf_features`` of the rows of ``(count, length)`` tokens, every step along the rows (length >= 1)."""
    rows, n = tokens.shape
    columns = FEATURE_SETS[feature_set]
    out = np.zeros((rows, n, len(FEATURE_NAMES)), dtype=np.float32)
    t = tokens.astype(np.int64)
    codes = np.full((rows, n), _UNKNOWN_CODON, dtype=np.int64)
    if n >= 3:
        first, second, third = t[:, :n - 2], t[:, 1:n - 1], t[:, 2:]
        known_codes = 16 * first + 4 * second + third
        known_codes[(first > 3) | (second > 3) | (third > 3)] = _UNKNOWN_CODON
        codes[:, :n - 2] = known_codes
    hexamers = np.full((rows, n), _UNKNOWN_HEXAMER, dtype=np.int64)
    if n >= 6:
        head, tail = codes[:, :-3], codes[:, 3:]
        known = (head != _UNKNOWN_CODON) & (tail != _UNKNOWN_CODON)
        hexamers[:, :-3] = np.where(known, head * 64 + tail, _UNKNOWN_HEXAMER)
    tables = tables or FeatureTables()
    log_odds = (np.zeros((rows, n), dtype=np.float64) if tables.hexamers is None
                else tables.hexamers.astype(np.float64)[hexamers])
    hexamer_sum = np.zeros((rows, n), dtype=np.float64)
    stop = _STOP[codes]
    atg = codes == _ATG
    codons = np.zeros((rows, n), dtype=np.int64)
    stop_found = np.zeros((rows, n), dtype=bool)
    first_atg = np.zeros((rows, n), dtype=bool)
    previous_stop = np.full((rows, n), -1, dtype=np.int64)
    for frame in range(3):
        index = np.arange(frame, n, 3)
        if not len(index):
            continue
        is_stop = stop[:, index]
        next_stop = next_in_frame_stop(is_stop, index, n)
        before = np.maximum.accumulate(np.where(is_stop, index, -1), axis=1)
        previous_stop[:, index[1:]] = before[:, :-1]
        found = next_stop < n
        codons[:, index] = np.where(found, next_stop - index, n - index) // 3
        stop_found[:, index] = found
        from_here = np.cumsum(log_odds[:, index][:, ::-1], axis=1)[:, ::-1]
        # the stop's own slot in this frame (one past the last when none): searchsorted(index, next_stop)
        slot = np.where(found, (next_stop - frame) // 3, len(index))
        at_stop = np.take_along_axis(np.concatenate([from_here, np.zeros((rows, 1))], axis=1), slot, axis=1)
        hexamer_sum[:, index] = from_here - at_stop
        is_atg = atg[:, index]
        atg_before = np.cumsum(is_atg, axis=1) - is_atg
        # a frame segment starts at the frame's first position and after each stop; atg_before never decreases,
        # so a running maximum carries each segment's first value forward
        segment_start = np.ones_like(is_stop)
        segment_start[:, 1:] = is_stop[:, :-1]
        at_start = np.maximum.accumulate(np.where(segment_start, atg_before, -1), axis=1)
        first_atg[:, index] = is_atg & (atg_before == at_start)
    complete = atg & stop_found
    longest = np.where(complete, codons, 0).max(axis=1)
    log_codons = np.log1p(codons)
    out[..., 0] = atg
    out[..., 1] = log_codons / LOG_SCALE
    out[..., 2] = stop_found
    out[..., 3] = first_atg
    out[..., 4] = complete & first_atg & (codons == longest[:, None]) & (longest[:, None] > 0)
    ratio = np.clip(log_codons - np.log1p(longest)[:, None], -5.0, 0.0)
    out[..., 5] = np.where(stop_found & (longest[:, None] > 0), 1.0 + ratio / 5.0, 0.0)
    positions = np.arange(n)
    out[..., 6] = np.log1p(positions) / _POSITION_SCALE
    out[..., 7] = np.log1p(n - positions) / _POSITION_SCALE
    out[..., 8] = np.minimum(3.0 * codons / n, 1.0)
    out[..., 9] = (np.log1p(longest) / LOG_SCALE)[:, None]
    out[..., 10] = np.clip(hexamer_sum / np.maximum(codons, 1), -2.0, 2.0) / 2.0
    out[..., 11] = _signed_log(hexamer_sum) / LOG_SCALE
    any_atg = atg.any(axis=1)
    best = np.where(any_atg, np.where(atg, hexamer_sum, -np.inf).max(axis=1), 0.0)[:, None]
    out[..., 12] = np.where(atg, np.clip(_signed_log(hexamer_sum) - _signed_log(best), -LOG_SCALE, 0.0)
                            / LOG_SCALE + 1.0, 0.0)
    out[..., 13] = atg & (hexamer_sum == best) & (best > 0)
    out[..., 14] = np.where(any_atg[:, None], _signed_log(best) / LOG_SCALE, 0.0)
    out[..., CODING_CONTEXT] = _coding_context_rows(t, log_odds, codons, stop_found, previous_stop, hexamer_sum, atg)
    out[..., TRANSCRIPT_ENDS] = _transcript_ends_rows(t, hexamers)[:, None, :]
    out[..., NEAR_COGNATE_COLUMN] = np.isin(codes, _NEAR_COGNATE)
    if columns > START_CONTEXT.start:
        out[..., START_CONTEXT] = start_context(t, tables.start_context)
    return out[..., :columns]


def _coding_context_rows(tokens, log_odds, codons, stop_found, previous_stop, hexamer_sum, atg) -> np.ndarray:
    """``_coding_context`` of the rows of ``(count, length)`` arrays."""
    rows, n = tokens.shape
    out = np.zeros((rows, n, CODING_CONTEXT.stop - CODING_CONTEXT.start))
    position = np.broadcast_to(np.arange(n), (rows, n))
    frame = position % 3
    sums = np.zeros((rows, 3, n + 1))
    for g in range(3):
        in_frame = np.zeros((rows, n))
        in_frame[:, g::3] = log_odds[:, g::3]
        sums[:, g, 1:] = np.cumsum(in_frame, axis=1)
    flat = sums.reshape(rows, 3 * (n + 1))

    def at(g, index):
        return np.take_along_axis(flat, g * (n + 1) + index, axis=1)

    def in_frame_sum(start, stop):
        return at(frame, stop) - at(frame, start)

    def mean_score(total, count):
        return np.clip(total / np.maximum(count, 1), -2.0, 2.0) / 2.0

    end = position + 3 * codons
    head_end = np.minimum(end, position + 3 * _END_CODONS)
    tail_start = np.maximum(position, end - 3 * _END_CODONS)
    ends_codons = np.minimum(codons, _END_CODONS)
    out[..., 0] = mean_score(in_frame_sum(position, head_end), ends_codons)
    out[..., 1] = mean_score(in_frame_sum(tail_start, end), ends_codons)
    other = np.maximum(at((frame + 1) % 3, end) - at((frame + 1) % 3, position),
                       at((frame + 2) % 3, end) - at((frame + 2) % 3, position))
    out[..., 2] = mean_score(other, codons)
    out[..., 3] = mean_score(hexamer_sum - other, codons)
    upstream_start = np.where(previous_stop >= 0, previous_stop + 3, frame)
    upstream_codons = (position - upstream_start) // 3
    upstream = in_frame_sum(upstream_start, position)
    out[..., 4] = np.log1p(upstream_codons) / LOG_SCALE
    out[..., 5] = previous_stop < 0
    out[..., 6] = mean_score(upstream, upstream_codons)
    out[..., 7] = _signed_log(upstream) / LOG_SCALE
    after_start = np.minimum(end + 3 * stop_found, n)
    after_end = np.minimum(after_start + _AFTER_STOP, n)
    after = np.max([at(g, after_end) - at(g, after_start) for g in range(3)], axis=0)
    out[..., 8] = mean_score(after, (after_end - after_start) // 3)
    out[..., 9] = np.log1p(n - after_start) / _POSITION_SCALE
    downstream = np.zeros((rows, n))
    upstream_best = np.zeros((rows, n))
    for g in range(3):
        frame_sums = sums[:, g]
        highest_after = np.maximum.accumulate(frame_sums[:, ::-1], axis=1)[:, ::-1]
        after_g = np.maximum.accumulate((highest_after - frame_sums)[:, ::-1], axis=1)[:, ::-1]
        before_g = np.maximum.accumulate(frame_sums - np.minimum.accumulate(frame_sums, axis=1), axis=1)
        downstream = np.maximum(downstream, np.take_along_axis(after_g, after_start, axis=1))
        upstream_best = np.maximum(upstream_best, before_g[:, :n])
    orf_score = _signed_log(hexamer_sum)
    out[..., 10] = _signed_log(downstream) / LOG_SCALE
    out[..., 11] = _signed_log(upstream_best) / LOG_SCALE
    out[..., 12] = (_signed_log(downstream) - orf_score) / LOG_SCALE
    out[..., 13] = (_signed_log(upstream_best) - orf_score) / LOG_SCALE
    # ATGs before each position (searchsorted over the ATG positions)
    out[..., 14] = np.log1p(np.cumsum(atg, axis=1) - atg) / LOG_SCALE
    out[..., 15] = np.log1p(n) / _POSITION_SCALE
    gc = np.zeros((rows, n + 1), dtype=np.int64)
    gc[:, 1:] = np.cumsum((tokens == G) | (tokens == C), axis=1)
    out[..., 16] = (gc[:, -1] / n)[:, None]
    out[..., 17] = gc[:, :n] / np.maximum(position, 1)
    out[..., 18] = (np.take_along_axis(gc, end, axis=1) - gc[:, :n]) / np.maximum(end - position, 1)
    # each position's rank among its row's ATGs: ATG scores above its own (the searchsorted of _coding_context),
    # found by sorting scores and queries of all rows together, scores first among equals
    count = atg.sum(axis=1)
    row = np.broadcast_to(np.arange(rows)[:, None], (rows, n))
    values = np.concatenate([hexamer_sum[atg], hexamer_sum.ravel()])
    owner = np.concatenate([row[atg], row.ravel()])
    is_query = np.concatenate([np.zeros(int(count.sum()), dtype=np.int8), np.ones(rows * n, dtype=np.int8)])
    order = np.lexsort((is_query, values, owner))
    scores_so_far = np.cumsum(is_query[order] == 0)
    queries = order[is_query[order] == 1] - int(count.sum())
    not_above = np.empty(rows * n, dtype=np.int64)
    not_above[queries] = scores_so_far[is_query[order] == 1]
    not_above = not_above.reshape(rows, n) - (np.cumsum(count) - count)[:, None]
    out[..., 19] = np.log1p(count[:, None] - not_above) / LOG_SCALE
    ranked = np.sort(np.where(atg, hexamer_sum, np.inf), axis=1)
    best = np.where(count > 0, np.take_along_axis(ranked, np.maximum(count - 1, 0)[:, None], axis=1)[:, 0], 0.0)
    second = np.where(count > 1, np.take_along_axis(ranked, np.maximum(count - 2, 0)[:, None], axis=1)[:, 0], 0.0)
    out[..., 20] = (_signed_log(best - second) / LOG_SCALE)[:, None]
    out[..., 21] = _signed_log(hexamer_sum - second[:, None]) / LOG_SCALE
    return out


def _transcript_ends_rows(tokens: np.ndarray, hexamers: np.ndarray) -> np.ndarray:
    """``_transcript_ends`` of the rows of ``(count, length)`` arrays: ``(count, 17)``."""
    rows, n = tokens.shape
    gc = (tokens == G) | (tokens == C)
    cpg = np.zeros((rows, n), dtype=bool)
    cpg[:, :-1] = (tokens[:, :-1] == C) & (tokens[:, 1:] == G)
    out = []
    for window in (50, 200, 500):
        out += [gc[:, :window].mean(axis=1), cpg[:, :window].mean(axis=1)]
    out += [gc[:, -200:].mean(axis=1), cpg[:, -200:].mean(axis=1)]
    out.append(((tokens[:, :10] == C) | (tokens[:, :10] == T)).mean(axis=1))
    for codes in _POLYA_SIGNALS:
        hits = np.isin(hexamers, codes)
        last = n - 1 - np.argmax(hits[:, ::-1], axis=1)
        distance = np.where(hits.any(axis=1), n - last, _NO_SIGNAL_DISTANCE)
        out += [np.log1p(distance) / _POSITION_SCALE, (10 <= distance) & (distance <= 40)]
    out += [(tokens[:, -30:] == A).mean(axis=1), (tokens[:, -30:] == T).mean(axis=1)]
    return np.stack(out, axis=1).astype(np.float64)
