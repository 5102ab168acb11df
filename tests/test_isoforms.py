import numpy as np
import pytest

from tis_transformer.predictor.features import FEATURE_NAMES, orf_features
from tis_transformer.predictor.isoforms import ISOFORM_NAMES, KEY_NT, IsoformIndex, start_orfs
from tis_transformer.predictor.tokens import encode

COLUMN = {name: i for i, name in enumerate(ISOFORM_NAMES)}
# an ATG and 9 sense codons: the whole start key of each sibling below
SHARED_START = "ATG" + "GCTGCAAAGCTGGAC" + "CCTGGTAAAGCA"


def _siblings():
    """A 'coding' transcript, a sibling whose same start stops 3 codons past the key, and an unrelated one."""
    assert len(SHARED_START) == KEY_NT
    coding = encode("CCAC" + SHARED_START + "GCT" * 20 + "TAAGC")
    short = encode("GGC" + SHARED_START + "GCTGCT" + "TGA" + "CCCCCGCT" * 4)
    other = encode("CATGCCCGGGTTTAAACC")
    return coding, short, other


def test_start_orfs_match_the_reading_frame_features(chry):
    for i in range(0, len(chry), 40):
        tokens = chry.transcript(i)[0]
        positions, keys, codons = start_orfs(tokens)
        features = orf_features(tokens)
        assert np.array_equal(positions, np.flatnonzero(features[:, FEATURE_NAMES.index("is_atg")] > 0))
        np.testing.assert_allclose(np.log1p(codons) / 7.0, features[positions, FEATURE_NAMES.index("log_orf_codons")],
                                   rtol=1e-6)
        assert keys.dtype == np.uint64 and len(keys) == len(positions)


def test_start_orfs_hand_worked():
    positions, keys, codons = start_orfs(encode("CATGAAATGATAGCATGCC"))
    assert positions.tolist() == [1, 6, 14]
    # ATG AAA TGA: 2 codons to the stop; ATG ATA GCA TGC C: no stop, 4 whole codons to the end; ATG CC: 1
    assert codons.tolist() == [2, 4, 1]
    assert len(set(keys.tolist())) == 3
    assert [len(x) for x in start_orfs(encode("AT"))] == [0, 0, 0]


def test_keys_are_the_key_nucleotides_from_each_atg():
    coding, short, other = _siblings()
    (_, keys_a, _), (_, keys_b, _) = start_orfs(coding), start_orfs(short)
    assert keys_a[0] == keys_b[0]  # the same 45 nt from the ATG, different 5' ends and ORFs
    changed = coding.copy()
    changed[4 + KEY_NT - 1] = (changed[4 + KEY_NT - 1] + 1) % 4  # the key's last nucleotide
    assert start_orfs(changed)[1][0] != keys_a[0]
    changed[4 + KEY_NT] = (changed[4 + KEY_NT] + 1) % 4  # past the key: not read
    assert start_orfs(coding)[1][0] == start_orfs(np.r_[coding[:4 + KEY_NT], changed[4 + KEY_NT:]])[1][0]
    # a start near the 3' end reads fewer nucleotides, and is not the same as one followed by A (token 0)
    assert start_orfs(encode("CATG"))[1][0] != start_orfs(encode("CATGA"))[1][0]


def test_columns_compare_a_start_with_its_siblings_hand_worked():
    coding, short, other = _siblings()
    index = IsoformIndex.of([coding, short, other])
    a, b = index.columns(coding), index.columns(short)
    codons_a, codons_b = KEY_NT // 3 + 20, KEY_NT // 3 + 2
    assert codons_a == start_orfs(coding)[2][0] and codons_b == start_orfs(short)[2][0]
    gap = (np.log1p(codons_a) - np.log1p(codons_b)) / 7.0
    np.testing.assert_allclose(a[4], [np.log1p(1), 0.0, gap, 0.0, 1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(b[3], [np.log1p(1), gap, 0.0, np.log1p(1), 1.0, 1.0], rtol=1e-6)
    # only ATG positions are filled; starts no other transcript shares are zero but for having been compared
    compared = COLUMN["isoforms_compared"]
    for tokens, cols, at in ((coding, a, 4), (short, b, 3), (other, index.columns(other), None)):
        assert cols.shape == (len(tokens), len(ISOFORM_NAMES)) and cols.dtype == np.float32
        positions = start_orfs(tokens)[0]
        assert np.array_equal(np.flatnonzero(cols[:, compared]), positions) and len(positions)
        rest = np.delete(cols, [] if at is None else [at], axis=0)
        assert not np.delete(rest, compared, axis=1).any()


def test_a_start_no_other_transcript_shares_is_only_compared():
    coding, short, other = _siblings()
    compared = COLUMN["isoforms_compared"]
    for index, tokens in ((IsoformIndex.of([coding]), coding), (IsoformIndex.of([short]), other),
                          (IsoformIndex.of([]), coding)):  # starts missing from the index count as unshared
        cols = index.columns(tokens)
        assert np.array_equal(np.flatnonzero(cols[:, compared]), start_orfs(tokens)[0])
        assert not np.delete(cols, compared, axis=1).any()
    assert len(IsoformIndex.of([coding, short])) == len(start_orfs(coding)[0]) + len(start_orfs(short)[0])


def test_longer_counts_ties_once_per_orf():
    coding, short, _ = _siblings()
    index = IsoformIndex.of([coding, short, short.copy(), coding.copy()])
    b = index.columns(short)[3]
    assert b[COLUMN["log_other_starts_alike"]] == pytest.approx(np.log1p(3))
    assert b[COLUMN["log_alike_orfs_longer"]] == pytest.approx(np.log1p(2))  # the two long ones, not its twin
    assert index.columns(coding)[4][COLUMN["log_alike_orfs_longer"]] == 0.0


def test_on_chry_annotated_starts_outlast_their_siblings(chry):
    # real data: among shared starts of ORFs of 50+ codons, a TIS's ORF reads on past a sibling's far more often
    tokens = [chry.transcript(i)[0] for i in range(len(chry))]
    index = IsoformIndex.of(tokens)
    tis, other = [], []
    for i, t in enumerate(tokens):
        labels = chry.transcript(i)[1]
        cols = index.columns(t)
        positions, _, codons = start_orfs(t)
        chosen = positions[(codons >= 50) & (cols[positions, COLUMN["start_shared"]] > 0)]
        outlasts = cols[chosen, COLUMN["own_orf_vs_shortest_alike"]] > 0.1
        tis += outlasts[labels[chosen] > 0].tolist()
        other += outlasts[labels[chosen] == 0].tolist()
    assert len(tis) > 50 and len(other) > 1000
    assert np.mean(tis) > 0.4 and np.mean(tis) > 2 * np.mean(other), (np.mean(tis), np.mean(other))


def test_starts_and_columns_of_many_transcripts_equal_those_of_each(chry):
    from tis_transformer.predictor.isoforms import sequence_hash, starts_many

    rng = np.random.default_rng(3)
    real = [chry.transcript(i)[0] for i in range(0, len(chry), 8)]
    # random short records of shared lengths (Ns, repeats, duplicates), real transcripts and their pieces, siblings
    tokens = [rng.choice(5, n, p=[.24, .24, .24, .24, .04]).astype(np.int8) for n in (0, 1, 2, 3, 5, 30, 30, 31, 50)
              for _ in range(20)]
    tokens += [np.tile([0, 1, 3], 20)[:n].astype(np.int8) for n in (30, 30, 59, 60)]
    tokens += real + [t[:n] for t in real for n in (30, 60, 600) if len(t) >= n] + list(_siblings()) * 2
    tokens.append(tokens[-1].copy())
    found, hashes = starts_many(tokens)
    for t, (positions, keys, codons), whole in zip(tokens, found, hashes):
        expected = start_orfs(t)
        for got, want in zip((positions, keys, codons), expected):
            assert got.dtype == want.dtype or len(want) == 0
            np.testing.assert_array_equal(got, want)
        assert whole == sequence_hash(t)
    index = IsoformIndex.of(tokens)
    for with_stage_one in (False, True):
        if with_stage_one:
            index.set_stage_one(rng.random(len(index)))
        for t, got in zip(tokens, index.columns_many(tokens)):
            np.testing.assert_array_equal(got, index.columns(t))
    # a transcript the index never saw, among others
    stranger = [encode("CCATGGGGTTTATGCCCTAA" * 2), tokens[10]]
    for t, got in zip(stranger, index.columns_many(stranger)):
        np.testing.assert_array_equal(got, index.columns(t))


def test_chunks_hold_a_nucleotide_budget_or_a_count():
    from tis_transformer.predictor.isoforms import _chunks

    arrays = [np.zeros(n, dtype=np.uint8) for n in (400, 700, 100, 2000, 50, 50, 50)]
    assert [[len(a) for a in c] for c in _chunks(arrays, max_nt=1000)] == [[400, 700], [100, 2000], [50, 50, 50]]
    assert [len(c) for c in _chunks(arrays, size=3, max_nt=10**9)] == [3, 3, 1]
    assert list(_chunks([], max_nt=10)) == []
