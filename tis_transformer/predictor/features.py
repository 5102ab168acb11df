"""Reading-frame features computed from a transcript's sequence (the feature set ``orf-v6``, 80 columns).

Next to each nucleotide a model reads numbers about the open reading frame that would start there: whether an
ATG or a near-cognate codon starts it, how long it runs to the next in-frame stop, whether it is the first ATG of
its frame segment, and how it compares with the transcript's longest ATG-initiated ORF; how coding-like it reads
(the in-frame hexamer log-odds of annotated coding sequence against all sequence, from a table fitted on the
training transcripts by ``tis_transformer.training.hexamers`` that travels inside the model), summed and averaged
up to its stop and over its first and last 30 codons, against the other two frames; where the coding signal lies
around it (the in-frame stretch back to the previous stop, the best coding stretch of any frame after its stop and
before its start: a premature stop followed by coding sequence marks a retained intron or a fragment); how it
ranks among the transcript's ATGs; and what the transcript's two ends look like (a CpG-rich 5' end, a
polyadenylation signal just before the 3' end mark a complete transcript); and (``orf-v6``) the nucleotides around
it, each scored by how much likelier it is around an annotated TIS than around any ATG (a second table fitted on the
training transcripts, ``tis_transformer.training.start_context``), and their sum. What each set added on held-out
chromosomes is in MODEL_CARD.md. Computed in numpy they cost milliseconds per transcript and are shared, unchanged,
by training and the lean predictor.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tis_transformer.predictor.codons import ATG as _ATG, NEAR_COGNATE as _NEAR_COGNATE, STOP as _STOP
from tis_transformer.predictor.codons import UNKNOWN_CODON as _UNKNOWN_CODON, codon_codes as _codon_codes
from tis_transformer.predictor.codons import next_in_frame_stop
from tis_transformer.predictor.tokens import A, C, G, T, encode

__all__ = ["FEATURE_SET", "FEATURE_SETS", "FEATURE_NAMES", "HEXAMERS", "LOG_SCALE", "START_CONTEXT_OFFSETS",
           "FeatureTables", "feature_set_of", "orf_features", "start_context"]

FEATURE_SET = "orf-v6"

FEATURE_NAMES = (
    "is_atg",
    "log_orf_codons",
    "stop_found",
    "first_atg_in_frame_segment",
    "starts_longest_orf",
    "orf_vs_longest",
    "log_distance_from_5prime",
    "log_distance_to_3prime",
    "orf_fraction_of_transcript",
    "log_longest_orf_codons",
    "orf_hexamer_mean",
    "orf_hexamer_sum",
    "orf_hexamer_sum_vs_best_atg",
    "best_hexamer_atg",
    "transcript_best_hexamer_sum",
    # where the coding signal lies around the ORF
    "orf_head_hexamer_mean",
    "orf_tail_hexamer_mean",
    "other_frames_best_hexamer_mean",
    "frame_hexamer_margin",
    "log_upstream_frame_codons",
    "open_to_5prime",
    "upstream_frame_hexamer_mean",
    "upstream_frame_hexamer_sum",
    "after_stop_best_frame_hexamer_mean",
    "log_3prime_utr",
    "downstream_best_coding_stretch",
    "upstream_best_coding_stretch",
    "downstream_stretch_vs_orf",
    "upstream_stretch_vs_orf",
    "log_upstream_atgs",
    "log_transcript_length",
    "gc_transcript",
    "gc_upstream",
    "gc_orf",
    "log_hexamer_rank_among_atgs",
    "best_minus_second_atg_hexamer_sum",
    "orf_hexamer_sum_vs_second_atg",
    # the transcript's two ends
    "gc_first_50",
    "cpg_first_50",
    "gc_first_200",
    "cpg_first_200",
    "gc_first_500",
    "cpg_first_500",
    "gc_last_200",
    "cpg_last_200",
    "pyrimidines_first_10",
    "log_aataaa_from_3prime",
    "aataaa_10_to_40_from_3prime",
    "log_attaaa_from_3prime",
    "attaaa_10_to_40_from_3prime",
    "log_other_pas_from_3prime",
    "other_pas_10_to_40_from_3prime",
    "a_last_30",
    "t_last_30",
    # a near-cognate start codon
    "is_near_cognate",
)
# Nucleotides around a start codon, as offsets from its first letter: 12 upstream to 11 downstream of the codon (the
# Kozak context, -3 A/G and +4 G at its core, and the wider window where a scanning ribosome sits on the start)
START_CONTEXT_OFFSETS = tuple(range(-12, 0)) + tuple(range(3, 15))
# the orf-v6 columns, named in the usual numbering (the start codon's A is +1, no position 0): each nucleotide's
# log-odds of lying there around an annotated TIS against around any ATG, then their sum
FEATURE_NAMES += tuple(f"start_context_{o if o < 0 else f'+{o + 1}'}" for o in START_CONTEXT_OFFSETS)
FEATURE_NAMES += ("start_context_score",)

# Each set is a prefix of the next: a model declares its set and reads that many leading columns.
FEATURE_SETS = {"orf-v5": FEATURE_NAMES.index("is_near_cognate") + 1, "orf-v6": len(FEATURE_NAMES)}
# the column groups that helpers fill: the coding context around each ORF, and the transcript's two ends
CODING_CONTEXT = slice(FEATURE_NAMES.index("orf_head_hexamer_mean"), FEATURE_NAMES.index("gc_first_50"))
TRANSCRIPT_ENDS = slice(FEATURE_NAMES.index("gc_first_50"), FEATURE_NAMES.index("is_near_cognate"))
# the column that says whether an ATG starts at a position: the feature head and the trees treat those apart
IS_ATG_COLUMN = FEATURE_NAMES.index("is_atg")
# codons one letter from ATG, where translation also starts now and then (Ensembl 102's non-ATG TISs on our
# chromosomes are all CTG but one TTG): a network's non-start shift lowers every other non-ATG position
NEAR_COGNATE_COLUMN = FEATURE_NAMES.index("is_near_cognate")
START_CONTEXT = slice(NEAR_COGNATE_COLUMN + 1, len(FEATURE_NAMES))
# the start-context table: one row per offset, one column per token (A, T, C, G, N; N also past either end)
START_CONTEXT_SHAPE = (len(START_CONTEXT_OFFSETS), 5)

# two consecutive codons, 64 * 64, plus one code for an incomplete or N-holding hexamer
HEXAMERS = 64 * 64 + 1
_UNKNOWN_HEXAMER = HEXAMERS - 1


@dataclasses.dataclass(frozen=True)
class FeatureTables:
    """The two tables the features read, fitted on a model's training transcripts and stored in the model.

    Parameters
    ----------
    hexamers : np.ndarray, optional
        ``(HEXAMERS,)`` in-frame hexamer log-odds (``fit_hexamer_log_odds``);
        None scores every hexamer 0, so that the hexamer columns carry no
        information.
    start_context : np.ndarray, optional
        ``START_CONTEXT_SHAPE`` log-odds of the nucleotides around annotated
        TISs (``fit_start_context_log_odds``, ``orf-v6``); None scores every
        nucleotide 0.

    Both are kept as float32, the precision a model stores them in, so that
    training, export and the predictor compute the same features.
    """

    hexamers: np.ndarray | None = None
    start_context: np.ndarray | None = None

    def __post_init__(self):
        if self.hexamers is not None:
            hexamers = np.asarray(self.hexamers, dtype=np.float32)
            if hexamers.shape != (HEXAMERS,):
                raise ValueError(f"a hexamer table has {HEXAMERS} values, not {hexamers.size}")
            object.__setattr__(self, "hexamers", hexamers)
        if self.start_context is not None:
            object.__setattr__(self, "start_context",
                               np.asarray(self.start_context, dtype=np.float32).reshape(START_CONTEXT_SHAPE))


# log1p(codons) / LOG_SCALE is about 1 for a 1,100-codon ORF
LOG_SCALE = 7.0
_POSITION_SCALE = 10.0
# codons at each end of an ORF read for its head and tail scores; nucleotides read past its stop
_END_CODONS = 30
_AFTER_STOP = 300
# where no polyadenylation signal occurs: farther than any cleavage site lies from its signal
_NO_SIGNAL_DISTANCE = 10_000


def _codons_and_hexamers(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codon code (0-63, or unknown) and hexamer code starting at every position."""
    n = len(tokens)
    codes = np.full(n, _UNKNOWN_CODON, dtype=np.int64)
    codes[: max(n - 2, 0)] = _codon_codes(np.asarray(tokens))
    hexamers = np.full(n, _UNKNOWN_HEXAMER, dtype=np.int64)
    if n >= 6:
        first, second = codes[:-3], codes[3:]
        known = (first != _UNKNOWN_CODON) & (second != _UNKNOWN_CODON)
        hexamers[:-3] = np.where(known, first * 64 + second, _UNKNOWN_HEXAMER)
    return codes, hexamers


def _hexamer_codes(*hexamers: str) -> list:
    return [int(_codons_and_hexamers(encode(h))[1][0]) for h in hexamers]


# the canonical polyadenylation signals, then the common variants of Beaudoing et al. 2000, Genome Res 10:1001
_POLYA_SIGNALS = (_hexamer_codes("AATAAA"), _hexamer_codes("ATTAAA"),
                  _hexamer_codes("AGTAAA", "TATAAA", "CATAAA", "GATAAA", "AATATA", "AATACA", "AATAGA", "AAAAAG",
                                 "ACTAAA"))


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def orf_features(tokens: np.ndarray, tables: FeatureTables | None = None,
                 feature_set: str = FEATURE_SET) -> np.ndarray:
    """Reading-frame features of every position of one transcript.

    Parameters
    ----------
    tokens : np.ndarray
        ``(length,)`` nucleotide tokens (A 0, T 1, C 2, G 3, N 4).
    tables : FeatureTables, optional
        A trained model's tables; None scores every hexamer and context
        nucleotide 0.
    feature_set : str
        A key of ``FEATURE_SETS``: an earlier set gives its leading columns
        only, for models trained on it.

    Returns
    -------
    np.ndarray
        ``(length, FEATURE_SETS[feature_set])`` float32, each column roughly
        in [-1, 1] (differences of two hexamer scores in [-2, 2]); see
        ``FEATURE_NAMES`` for their order.
    """
    n = len(tokens)
    columns = FEATURE_SETS[feature_set]
    out = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32)
    if n == 0:
        return out[:, :columns]
    codes, hexamers = _codons_and_hexamers(tokens)
    tables = tables or FeatureTables()
    log_odds = (np.zeros(n, dtype=np.float64) if tables.hexamers is None
                else tables.hexamers.astype(np.float64)[hexamers])
    hexamer_sum = np.zeros(n, dtype=np.float64)
    stop = _STOP[codes]
    atg = codes == _ATG
    codons = np.zeros(n, dtype=np.int64)
    stop_found = np.zeros(n, dtype=bool)
    first_atg = np.zeros(n, dtype=bool)
    previous_stop = np.full(n, -1, dtype=np.int64)
    for frame in range(3):
        index = np.arange(frame, n, 3)
        if not len(index):
            continue
        is_stop = stop[index]
        # the next in-frame stop at or after each position (n when none), and the last one before it (-1)
        next_stop = next_in_frame_stop(is_stop, index, n)
        previous_stop[index] = np.r_[-1, np.maximum.accumulate(np.where(is_stop, index, -1))[:-1]]
        found = next_stop < n
        codons[index] = np.where(found, next_stop - index, n - index) // 3
        stop_found[index] = found
        # hexamer log-odds summed from each position up to (not into) its stop
        from_here = np.cumsum(log_odds[index][::-1])[::-1]
        at_stop = np.append(from_here, 0.0)[np.searchsorted(index, next_stop)]
        hexamer_sum[index] = from_here - at_stop
        # frame segments end at a stop; an ATG is first when no ATG precedes it in its segment
        is_atg = atg[index]
        segment = np.concatenate([[0], np.cumsum(is_stop)[:-1]])
        atg_before = np.cumsum(is_atg) - is_atg
        segment_start = np.searchsorted(segment, segment, side="left")
        first_atg[index] = is_atg & (atg_before == atg_before[segment_start])
    complete = atg & stop_found
    longest = int(codons[complete].max()) if complete.any() else 0
    log_codons = np.log1p(codons)
    out[:, 0] = atg
    out[:, 1] = log_codons / LOG_SCALE
    out[:, 2] = stop_found
    out[:, 3] = first_atg
    out[:, 4] = complete & first_atg & (codons == longest) & (longest > 0)
    if longest > 0:
        ratio = np.clip(log_codons - np.log1p(longest), -5.0, 0.0)
        out[:, 5] = np.where(stop_found, 1.0 + ratio / 5.0, 0.0)
    positions = np.arange(n)
    out[:, 6] = np.log1p(positions) / _POSITION_SCALE
    out[:, 7] = np.log1p(n - positions) / _POSITION_SCALE
    out[:, 8] = np.minimum(3.0 * codons / n, 1.0)
    out[:, 9] = np.log1p(longest) / LOG_SCALE
    out[:, 10] = np.clip(hexamer_sum / np.maximum(codons, 1), -2.0, 2.0) / 2.0
    out[:, 11] = _signed_log(hexamer_sum) / LOG_SCALE
    if atg.any():
        best = hexamer_sum[atg].max()
        out[:, 12] = np.where(atg, np.clip(_signed_log(hexamer_sum) - _signed_log(best), -LOG_SCALE, 0.0)
                              / LOG_SCALE + 1.0, 0.0)
        out[:, 13] = atg & (hexamer_sum == best) & (best > 0)
        out[:, 14] = _signed_log(best) / LOG_SCALE
    out[:, CODING_CONTEXT] = _coding_context(tokens, log_odds, codons, stop_found, previous_stop, hexamer_sum, atg)
    out[:, TRANSCRIPT_ENDS] = _transcript_ends(np.asarray(tokens), hexamers)
    out[:, NEAR_COGNATE_COLUMN] = np.isin(codes, _NEAR_COGNATE)
    if columns > START_CONTEXT.start:
        out[:, START_CONTEXT] = start_context(np.asarray(tokens)[None], tables.start_context)[0]
    return out[:, :columns]


def start_context(tokens: np.ndarray, log_odds: np.ndarray | None) -> np.ndarray:
    """The ``orf-v6`` columns of ``(rows, length)`` tokens: the start-context log-odds around every position.

    Column j holds ``log_odds[j, token at position + START_CONTEXT_OFFSETS[j]]`` (N past either end), the last
    column their sum, added in offset order so that a transcript gives the same bits alone or in a block.
    """
    rows, n = tokens.shape
    out = np.zeros((rows, n, len(START_CONTEXT_OFFSETS) + 1), dtype=np.float64)
    if log_odds is None or n == 0:
        return out
    table = np.asarray(log_odds, dtype=np.float64).reshape(START_CONTEXT_SHAPE)
    before, after = -min(START_CONTEXT_OFFSETS), max(START_CONTEXT_OFFSETS)
    padded = np.full((rows, before + n + after), 4, dtype=np.int64)
    padded[:, before:before + n] = np.minimum(tokens, 4)
    for j, offset in enumerate(START_CONTEXT_OFFSETS):
        out[..., j] = table[j][padded[:, before + offset:before + offset + n]]
        out[..., -1] += out[..., j]
    return out


def feature_set_of(n_columns: int) -> str:
    """The feature set with ``n_columns`` columns (a network's ``n_features``)."""
    for name, count in FEATURE_SETS.items():
        if count == n_columns:
            return name
    raise ValueError(f"no feature set has {n_columns} columns (known: {FEATURE_SETS})")


def _frame_sums(values: np.ndarray) -> np.ndarray:
    """``(3, n + 1)`` running sums: row g, column i sums ``values[q]`` over q < i with q % 3 == g."""
    n = len(values)
    sums = np.zeros((3, n + 1))
    for frame in range(3):
        in_frame = np.zeros(n)
        in_frame[frame::3] = values[frame::3]
        sums[frame, 1:] = np.cumsum(in_frame)
    return sums


def _best_stretches(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best sum of one frame's values over a stretch starting at or after / ending at or before each index.

    For running sums S of one frame, ``after[a] = max S[j] - S[i]`` over
    ``a <= i <= j`` and ``before[b] = max S[j] - S[i]`` over ``i <= j <= b``
    (0 for an empty stretch): the most coding-like stretch downstream or
    upstream of a point, found in one pass each way.
    """
    highest_after = np.maximum.accumulate(sums[::-1])[::-1]
    after = np.maximum.accumulate((highest_after - sums)[::-1])[::-1]
    before = np.maximum.accumulate(sums - np.minimum.accumulate(sums))
    return after, before


def _coding_context(tokens: np.ndarray, log_odds: np.ndarray, codons: np.ndarray, stop_found: np.ndarray,
                    previous_stop: np.ndarray, hexamer_sum: np.ndarray, atg: np.ndarray) -> np.ndarray:
    """The ``orf-v3`` columns: where the coding signal lies around the ORF starting at each position."""
    n = len(tokens)
    out = np.zeros((n, CODING_CONTEXT.stop - CODING_CONTEXT.start))
    position = np.arange(n)
    frame = position % 3
    sums = _frame_sums(log_odds)
    # the ORF runs from the position to its stop, or to its last whole codon when none is found
    end = position + 3 * codons

    def in_frame(start, stop):
        return sums[frame, stop] - sums[frame, start]

    def mean_score(total, count):
        return np.clip(total / np.maximum(count, 1), -2.0, 2.0) / 2.0

    head_end = np.minimum(end, position + 3 * _END_CODONS)
    tail_start = np.maximum(position, end - 3 * _END_CODONS)
    ends_codons = np.minimum(codons, _END_CODONS)
    out[:, 0] = mean_score(in_frame(position, head_end), ends_codons)
    out[:, 1] = mean_score(in_frame(tail_start, end), ends_codons)
    other = np.maximum(sums[(frame + 1) % 3, end] - sums[(frame + 1) % 3, position],
                       sums[(frame + 2) % 3, end] - sums[(frame + 2) % 3, position])
    out[:, 2] = mean_score(other, codons)
    out[:, 3] = mean_score(hexamer_sum - other, codons)
    upstream_start = np.where(previous_stop >= 0, previous_stop + 3, frame)
    upstream_codons = (position - upstream_start) // 3
    upstream = in_frame(upstream_start, position)
    out[:, 4] = np.log1p(upstream_codons) / LOG_SCALE
    out[:, 5] = previous_stop < 0
    out[:, 6] = mean_score(upstream, upstream_codons)
    out[:, 7] = _signed_log(upstream) / LOG_SCALE
    after_start = np.minimum(end + 3 * stop_found, n)
    after_end = np.minimum(after_start + _AFTER_STOP, n)
    after = np.max([sums[g, after_end] - sums[g, after_start] for g in range(3)], axis=0)
    out[:, 8] = mean_score(after, (after_end - after_start) // 3)
    out[:, 9] = np.log1p(n - after_start) / _POSITION_SCALE
    downstream = np.zeros(n)
    upstream_best = np.zeros(n)
    for g in range(3):
        after_g, before_g = _best_stretches(sums[g])
        downstream = np.maximum(downstream, after_g[after_start])
        upstream_best = np.maximum(upstream_best, before_g[position])
    orf_score = _signed_log(hexamer_sum)
    out[:, 10] = _signed_log(downstream) / LOG_SCALE
    out[:, 11] = _signed_log(upstream_best) / LOG_SCALE
    out[:, 12] = (_signed_log(downstream) - orf_score) / LOG_SCALE
    out[:, 13] = (_signed_log(upstream_best) - orf_score) / LOG_SCALE
    atg_positions = np.flatnonzero(atg)
    out[:, 14] = np.log1p(np.searchsorted(atg_positions, position)) / LOG_SCALE
    out[:, 15] = np.log1p(n) / _POSITION_SCALE
    gc = np.r_[0, np.cumsum((tokens == G) | (tokens == C))]
    out[:, 16] = gc[-1] / n
    out[:, 17] = gc[position] / np.maximum(position, 1)
    out[:, 18] = (gc[end] - gc[position]) / np.maximum(end - position, 1)
    ranked = np.sort(hexamer_sum[atg_positions])
    out[:, 19] = np.log1p(len(ranked) - np.searchsorted(ranked, hexamer_sum, side="right")) / LOG_SCALE
    best = ranked[-1] if len(ranked) else 0.0
    second = ranked[-2] if len(ranked) > 1 else 0.0
    out[:, 20] = _signed_log(best - second) / LOG_SCALE
    out[:, 21] = _signed_log(hexamer_sum - second) / LOG_SCALE
    return out


def _transcript_ends(tokens: np.ndarray, hexamers: np.ndarray) -> np.ndarray:
    """The ``orf-v4`` columns: whether the 5' end reads like a promoter and the 3' end like a cleavage site."""
    n = len(tokens)
    gc = (tokens == G) | (tokens == C)
    cpg = np.zeros(n, dtype=bool)
    cpg[:-1] = (tokens[:-1] == C) & (tokens[1:] == G)
    out = []
    for window in (50, 200, 500):
        out += [gc[:window].mean(), cpg[:window].mean()]
    out += [gc[-200:].mean(), cpg[-200:].mean()]
    out.append(((tokens[:10] == C) | (tokens[:10] == T)).mean())
    for codes in _POLYA_SIGNALS:
        hits = np.flatnonzero(np.isin(hexamers, codes))
        distance = n - hits[-1] if len(hits) else _NO_SIGNAL_DISTANCE
        out += [np.log1p(distance) / _POSITION_SCALE, 10 <= distance <= 40]
    out += [(tokens[-30:] == A).mean(), (tokens[-30:] == T).mean()]
    return np.asarray(out, dtype=np.float64)
