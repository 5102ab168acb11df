"""How each ATG's reading frame compares with the same start in the other transcripts of the input.

Most of the ATGs that look coding but carry no annotated TIS sit in
non-coding isoforms of coding genes: retained introns and fragments whose
ORF starts like the real CDS and then stops early.  One transcript alone
cannot tell such an ORF from a short real one; the gene's other isoforms,
when the input holds them, can: the same start reads on much longer in a
sibling.  ``IsoformIndex`` gathers, over every transcript of an input, the
ORF length behind each start (an ATG and the ``KEY_NT`` nucleotides from
it), and ``IsoformIndex.columns`` turns that into the ``ISOFORM_NAMES``
columns the boosted trees read (``tis_transformer.predictor.trees``).  Once the
first stage of those trees has scored every start (``set_stage_one``), the
index also pools those scores over other transcripts for the second stage
(``STAGE_ONE_NAMES``): the best score of the same start elsewhere, and how
the transcript's best start compares with its siblings' (the transcripts
that share any start with it).

A transcript scored alone (no index) gets all zeros.  One scored beside
others gets ``isoforms_compared`` = 1 at every ATG, so that the trees can
tell a start no other transcript shares from a transcript seen alone;
training zeroes the columns of a share of the transcripts, so that the same
trees serve both ways (``tis_transformer.training.prefit.prefit_feature_head``).  The
columns use no labels, only the input's sequences.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# codon codes and the ORF-length scale of the reading-frame features, so that the columns read alike
from tis_transformer.predictor.codons import ATG as _ATG
from tis_transformer.predictor.features import LOG_SCALE
from tis_transformer.predictor.codons import STOP as _STOP, UNKNOWN_CODON as _UNKNOWN_CODON, codon_codes as _codon_codes
from tis_transformer.predictor.codons import next_in_frame_stop

__all__ = ["ISOFORM_NAMES", "KEY_NT", "STAGE_ONE_NAMES", "IsoformIndex", "sequence_hash", "start_orfs",
           "starts_many"]

ISOFORM_NAMES = ("log_other_starts_alike", "longest_alike_orf_vs_own", "own_orf_vs_shortest_alike",
                 "log_alike_orfs_longer", "start_shared", "isoforms_compared")
# from first-stage trees' scores: second-stage trees read these too (tis_transformer.predictor.trees)
STAGE_ONE_NAMES = ("best_alike_elsewhere", "transcript_best_vs_siblings", "log_most_sharing_a_start")
# nucleotides from the A of an ATG that make its start "the same" in two transcripts: 10 codons. Held-out ATG
# PR AUC of trees with these columns (chr13, one stage): 15 nt 0.832, 21 nt 0.830, 30 nt 0.832, 45 nt 0.826
KEY_NT = 30
_CODONS_CEILING = 2**32 - 1
# a start shared by more transcripts than this is a repeat (e.g. in an Alu): it makes no siblings
_MAX_LINKED = 32
# multipliers of a polynomial hash mod 2**64 over the key's tokens (+1, so that a short key differs from a padded one)
_HASH_POWERS = np.array([pow(0x9E3779B97F4A7C15, KEY_NT - 1 - k, 2**64) for k in range(KEY_NT)], dtype=np.uint64)


def start_orfs(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ATG of one transcript: its position, its start key and its ORF's codons.

    Parameters
    ----------
    tokens : np.ndarray
        ``(length,)`` nucleotide tokens (A 0, T 1, C 2, G 3, N 4).

    Returns
    -------
    tuple of np.ndarray
        Positions (int64), keys (uint64 hashes of the ``KEY_NT`` nucleotides
        from each ATG, fewer near the 3' end) and codons up to the in-frame
        stop or, where none follows, to the end (int64), as the
        ``log_orf_codons`` feature counts them.
    """
    t = np.asarray(tokens, dtype=np.int64)
    n = len(t)
    if n < 3:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0, dtype=np.uint64), empty
    codes = _codon_codes(t)
    positions = np.flatnonzero(codes == _ATG)
    stops = np.flatnonzero(_STOP[codes])
    codons = np.empty(len(positions), dtype=np.int64)
    for frame in range(3):
        at = positions % 3 == frame
        frame_stops = stops[stops % 3 == frame]
        following = np.searchsorted(frame_stops, positions[at])
        end = np.append(frame_stops, n)[following]
        codons[at] = np.where(following < len(frame_stops), end - positions[at], n - positions[at]) // 3
    padded = np.zeros(n + KEY_NT, dtype=np.uint64)
    padded[:n] = t + 1
    windows = np.lib.stride_tricks.sliding_window_view(padded, KEY_NT)[positions]
    keys = (windows * _HASH_POWERS).sum(axis=1, dtype=np.uint64)
    return positions, keys, codons


# same-length transcripts up to this long are read as (count, length) blocks of at most _BLOCK_NT nucleotides
_MANY_MAX_LENGTH = 4096
_BLOCK_NT = 1 << 17


def starts_many(tokens: list) -> tuple[list, np.ndarray]:
    """``start_orfs`` of many transcripts, and their ``sequence_hash``: the same values, computed together.

    Transcripts of one length go through in ``(count, length)`` blocks (integer arithmetic only, so the keys,
    codons and hashes equal those of ``start_orfs`` and ``sequence_hash`` one by one; tests/test_isoforms.py).
    Returns a list of ``(positions, keys, codons)`` per transcript and a uint64 array of hashes.
    """
    starts: list = [None] * len(tokens)
    hashes = np.zeros(len(tokens), dtype=np.uint64)
    by_length: dict = {}
    for i, t in enumerate(tokens):
        by_length.setdefault(len(t), []).append(i)
    for n, members in by_length.items():
        if n < 3 or n > _MANY_MAX_LENGTH or len(members) < 2:
            for i in members:
                starts[i] = start_orfs(tokens[i])
                hashes[i] = sequence_hash(tokens[i])
            continue
        step = max(1, _BLOCK_NT // n)
        powers = np.cumprod(np.full(n, 0x9E3779B97F4A7C15, dtype=np.uint64), dtype=np.uint64)
        for begin in range(0, len(members), step):
            block = members[begin:begin + step]
            t = np.stack([np.asarray(tokens[i]) for i in block]).astype(np.int64)
            hashes[block] = ((t.astype(np.uint64) + np.uint64(1)) * powers).sum(axis=1, dtype=np.uint64) \
                ^ np.uint64(n)
            for i, found in zip(block, _start_orfs_rows(t)):
                starts[i] = found
    return starts, hashes


def _start_orfs_rows(t: np.ndarray) -> list:
    """``start_orfs`` of the rows of ``(count, length)`` int64 tokens, length >= 3."""
    rows, n = t.shape
    first, second, third = t[:, :n - 2], t[:, 1:n - 1], t[:, 2:]
    codes = 16 * first + 4 * second + third
    codes[(first > 3) | (second > 3) | (third > 3)] = _UNKNOWN_CODON
    stop = _STOP[codes]
    # the next in-frame stop at or after each position, n when none (as the reading-frame features find it)
    codons = np.zeros(codes.shape, dtype=np.int64)
    for frame in range(3):
        index = np.arange(frame, n - 2, 3)
        if not len(index):
            continue
        next_stop = next_in_frame_stop(stop[:, index], index, n)
        codons[:, index] = (next_stop - index) // 3
    row, positions = np.nonzero(codes == _ATG)
    padded = np.zeros((rows, n + KEY_NT), dtype=np.uint64)
    padded[:, :n] = t + 1
    windows = np.lib.stride_tricks.sliding_window_view(padded, KEY_NT, axis=1)[row, positions]
    keys = (windows * _HASH_POWERS).sum(axis=1, dtype=np.uint64)
    found = codons[row, positions]
    bounds = np.searchsorted(row, np.arange(rows + 1))
    return [(positions[a:b], keys[a:b], found[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


class IsoformIndex:
    """The starts of every transcript of an input: ORF lengths by start key, and who shares them.

    Build it with ``IsoformIndex.of`` from all the transcripts that will be
    scored, then ask ``columns`` for each of them.  Trees in two stages also
    want the first stage's scores of every start (``set_stage_one``), pooled
    over the transcripts that share a start and over each transcript's
    siblings: the transcripts that share any start with it, most often the
    isoforms of its gene.
    """

    def __init__(self, keys: np.ndarray, codons: np.ndarray, transcripts: np.ndarray, hashes: np.ndarray):
        self.atg_transcripts = transcripts.astype(np.int64)
        order = np.lexsort((-codons, keys))
        self.unique, self.first, counts = np.unique(keys[order], return_index=True, return_counts=True)
        self.ends = self.first + counts
        # each indexed start's key slot, in the order ``of`` read them
        self.atg_slots = np.searchsorted(self.unique, keys)
        # one ascending number per start, by key slot then longest ORF first, ranked within a slot by searchsorted
        slots = np.repeat(np.arange(len(self.unique), dtype=np.int64), counts)
        self.ranked = (slots << 32) + (_CODONS_CEILING - codons[order])
        # transcripts are found again by the hash of their whole sequence (identical ones are one)
        self.hashes, self.ordinal = np.unique(hashes, return_index=True)
        self.transcripts = len(hashes)
        self.stage_one: dict | None = None

    def _codons(self, at: np.ndarray) -> np.ndarray:
        return _CODONS_CEILING - (self.ranked[at] & _CODONS_CEILING)

    @classmethod
    def of(cls, transcripts: Iterable[np.ndarray]) -> "IsoformIndex":
        """Index the starts of ``transcripts`` (token arrays)."""
        keys, codons, owners, hashes = [np.zeros(0, dtype=np.uint64)], [np.zeros(0, dtype=np.int64)], [], []
        seen: dict[int, int] = {}
        for chunk in _chunks(transcripts):
            found, chunk_hashes = starts_many(chunk)
            ids = []
            for whole in chunk_hashes.tolist():
                # identical transcripts are one: neither is the other's sibling
                ids.append(seen.setdefault(whole, len(seen)))
                if ids[-1] == len(hashes):
                    hashes.append(whole)
            # one array per chunk, not per transcript: a library of 10^5 short records holds no 10^5 small arrays
            keys.append(np.concatenate([k for _, k, _ in found] + [np.zeros(0, dtype=np.uint64)]))
            codons.append(np.concatenate([c for _, _, c in found] + [np.zeros(0, dtype=np.int64)]).astype(np.int64))
            owners.append(np.repeat(np.array(ids, dtype=np.int32), [len(k) for _, k, _ in found]))
        return cls(np.concatenate(keys), np.concatenate(codons),
                   np.concatenate(owners) if owners else np.zeros(0, dtype=np.int32), np.array(hashes, dtype=np.uint64))

    def __len__(self) -> int:
        return len(self.ranked)

    @property
    def width(self) -> int:
        """Columns ``columns`` gives: ``ISOFORM_NAMES``, then ``STAGE_ONE_NAMES`` once ``set_stage_one`` ran."""
        return len(ISOFORM_NAMES) + (len(STAGE_ONE_NAMES) if self.stage_one is not None else 0)

    def set_stage_one(self, probabilities: np.ndarray) -> "IsoformIndex":
        """Keep first-stage probabilities of every start, in the order ``of`` read them; returns the index."""
        p = np.asarray(probabilities, dtype=np.float64)
        if len(p) != len(self.atg_slots):
            raise ValueError(f"{len(p)} first-stage scores for {len(self.atg_slots)} indexed starts")
        slot = self.atg_slots
        best_at_key = _top_two(slot, p, self.atg_transcripts, len(self.unique))
        transcript_best = np.zeros(self.transcripts)
        np.maximum.at(transcript_best, self.atg_transcripts, p)
        # each transcript's siblings: those sharing one of its starts, unless a repeat shares it too widely
        pairs = np.unique(np.stack([slot, self.atg_transcripts], axis=1), axis=0)
        degree = np.bincount(pairs[:, 0], minlength=len(self.unique))
        pairs = pairs[degree[pairs[:, 0]] <= _MAX_LINKED]
        best, owner, second = _top_two(pairs[:, 0], transcript_best[pairs[:, 1]], pairs[:, 1], len(self.unique))
        sibling_best = np.zeros(self.transcripts)
        at = pairs[:, 0]
        np.maximum.at(sibling_best, pairs[:, 1], np.where(owner[at] == pairs[:, 1], second[at], best[at]))
        sharing = np.ones(self.transcripts)
        np.maximum.at(sharing, pairs[:, 1], degree[pairs[:, 0]].astype(np.float64))
        self.stage_one = {"key": best_at_key, "transcript": transcript_best, "siblings": sibling_best,
                          "sharing": sharing}
        return self

    def stage_one_rows(self) -> np.ndarray:
        """The ``STAGE_ONE_NAMES`` columns of every indexed start, in the order ``of`` read them."""
        return self._stage_one_columns(self.atg_slots, self.atg_transcripts)

    def _stage_one_columns(self, slot: np.ndarray, transcript: np.ndarray) -> np.ndarray:
        best, best_owner, second = (part[slot] for part in self.stage_one["key"])
        elsewhere = np.where(best_owner == transcript, second, best)
        versus = self.stage_one["transcript"][transcript] - self.stage_one["siblings"][transcript]
        return np.stack([elsewhere, versus, np.log(self.stage_one["sharing"][transcript])], axis=1).astype(np.float32)

    def columns_many(self, tokens: list) -> list:
        """``columns`` of many transcripts (the same arrays), their starts found together (``starts_many``)."""
        found, hashes = starts_many(tokens)
        lengths = np.array([len(t) for t in tokens], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        flat = np.zeros((int(offsets[-1]), self.width), dtype=np.float32)
        counts = np.array([len(p) for p, _, _ in found], dtype=np.int64)
        owner = np.repeat(np.arange(len(tokens)), counts)
        positions = np.concatenate([p for p, _, _ in found] + [np.zeros(0, dtype=np.int64)]).astype(np.int64)
        keys = np.concatenate([k for _, k, _ in found] + [np.zeros(0, dtype=np.uint64)])
        codons = np.concatenate([c for _, _, c in found] + [np.zeros(0, dtype=np.int64)]).astype(np.int64)
        at_flat = offsets[owner] + positions
        flat[at_flat, 5] = 1.0
        if len(positions) and len(self.unique):
            slot = np.minimum(np.searchsorted(self.unique, keys), len(self.unique) - 1)
            known = self.unique[slot] == keys
            if self.stage_one is not None:
                at = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
                indexed = (self.hashes[at] == hashes)[owner] & known
                transcript = self.ordinal[at][owner[indexed]]
                flat[at_flat[indexed], len(ISOFORM_NAMES):] = self._stage_one_columns(slot[indexed], transcript)
            at_flat, codons, slot = at_flat[known], codons[known], slot[known]
            first, end = self.first[slot], self.ends[slot]
            count = end - first
            longest, shortest = self._codons(first), self._codons(end - 1)
            longer = np.searchsorted(self.ranked, (slot.astype(np.int64) << 32) + (_CODONS_CEILING - codons)) - first
            own = np.log1p(codons)
            flat[at_flat, 0] = np.log1p(count - 1)
            flat[at_flat, 1] = (np.log1p(longest) - own) / LOG_SCALE
            flat[at_flat, 2] = (own - np.log1p(shortest)) / LOG_SCALE
            flat[at_flat, 3] = np.log1p(longer)
            flat[at_flat, 4] = count > 1
        return [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:])]

    def columns(self, tokens: np.ndarray) -> np.ndarray:
        """The ``ISOFORM_NAMES`` (and ``STAGE_ONE_NAMES``) columns of one transcript, zero where no ATG starts.

        ``tokens`` should be one of the indexed transcripts: its own starts
        count among the alike ones, so a start found in no other transcript
        gets zeros but for ``isoforms_compared``; so does a start missing
        from the index.

        Returns
        -------
        np.ndarray
            ``(length, width)`` float32: log(1 + other starts alike), the
            longest alike ORF against this one and this one against the
            shortest (log codons / 7), log(1 + alike ORFs longer than this
            one), whether any other start is alike, and 1 (the start was
            compared); then, with first-stage scores, the best of them among
            the other transcripts' alike starts, this transcript's best
            against its siblings' best, and log of the most transcripts that
            share one of its starts.
        """
        out = np.zeros((len(tokens), self.width), dtype=np.float32)
        positions, keys, codons = start_orfs(tokens)
        out[positions, 5] = 1.0
        if not len(positions) or not len(self.unique):
            return out
        slot = np.minimum(np.searchsorted(self.unique, keys), len(self.unique) - 1)
        found = self.unique[slot] == keys
        if self.stage_one is not None:
            whole = sequence_hash(tokens)
            at = min(int(np.searchsorted(self.hashes, whole)), len(self.hashes) - 1)
            if self.hashes[at] == whole:
                transcript = np.full(int(found.sum()), self.ordinal[at])
                out[positions[found], len(ISOFORM_NAMES):] = self._stage_one_columns(slot[found], transcript)
        positions, codons, slot = positions[found], codons[found], slot[found]
        first, end = self.first[slot], self.ends[slot]
        count = end - first
        longest, shortest = self._codons(first), self._codons(end - 1)
        longer = np.searchsorted(self.ranked, (slot.astype(np.int64) << 32) + (_CODONS_CEILING - codons)) - first
        own = np.log1p(codons)
        out[positions, 0] = np.log1p(count - 1)
        out[positions, 1] = (np.log1p(longest) - own) / LOG_SCALE
        out[positions, 2] = (own - np.log1p(shortest)) / LOG_SCALE
        out[positions, 3] = np.log1p(longer)
        out[positions, 4] = count > 1
        return out


def sequence_hash(tokens: np.ndarray) -> np.uint64:
    """A 64-bit hash of a whole transcript's tokens: how the index finds a transcript again."""
    t = np.asarray(tokens, dtype=np.uint64) + np.uint64(1)
    powers = np.cumprod(np.full(len(t), 0x9E3779B97F4A7C15, dtype=np.uint64), dtype=np.uint64)
    return np.uint64((t * powers).sum(dtype=np.uint64) ^ np.uint64(len(t)))


def _top_two(group: np.ndarray, value: np.ndarray, owner: np.ndarray, count: int) -> tuple:
    """Per group: the largest value, the owner holding it, and the largest value any other owner holds."""
    best = np.zeros(count)
    best_owner = np.full(count, -1, dtype=np.int64)
    second = np.zeros(count)
    if not len(group):
        return best, best_owner, second
    order = np.lexsort((-value, group))
    g, v, o = group[order], value[order], owner[order]
    lead = np.r_[True, g[1:] != g[:-1]]
    best[g[lead]], best_owner[g[lead]] = v[lead], o[lead]
    # the first entry of each group held by another owner than its leader
    other = ~lead & (o != best_owner[g])
    first_other = np.flatnonzero(other)
    groups_with_other, at = np.unique(g[first_other], return_index=True)
    second[groups_with_other] = v[first_other[at]]
    return best, best_owner, second


def _chunks(transcripts: Iterable, size: int = 8192, max_nt: int = 1 << 18) -> Iterable[list]:
    """Lists of consecutive token arrays: up to ``size`` of them, or fewer once they hold ``max_nt`` nucleotides.

    The nucleotide budget bounds memory: the first-stage pass holds the features of a whole chunk, 80 float32
    columns a nucleotide, so that a count alone lets a chunk of long transcripts take gigabytes.
    """
    chunk: list = []
    held = 0
    for tokens in transcripts:
        chunk.append(tokens)
        held += len(tokens)
        if len(chunk) == size or held >= max_nt:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk
